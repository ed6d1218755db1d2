#!/usr/bin/env -S node --max-semi-space-size=8
// The `berth` command. Every command takes the same --data and --config and works beside a running server.
// Commands load what they need when they run (see cli/common.ts): start-up reads only commander and these
// small modules.
import { Command } from 'commander';
import { register as registerAudit } from './commands/audit.js';
import { register as registerKeys } from './commands/keys.js';
import { register as registerScan } from './commands/scan.js';
import { register as registerVulndb } from './commands/vulndb.js';
import { register as registerOrgs } from './commands/orgs.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerTls } from './commands/tls.js';
import { register as registerUsers } from './commands/users.js';

const program = new Command('berth').description('Berth: a private OCI container image registry').showHelpAfterError()
  // Commander's own usage errors (unknown command, missing argument) read like ours; subcommands inherit this.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) });

registerServe(program);
registerUsers(program);
registerOrgs(program);
registerAudit(program);
registerTls(program);
registerKeys(program);
registerScan(program);
registerVulndb(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`berth: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
