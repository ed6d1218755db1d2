// `berth audit ...` and `berth ldap ...`.
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { common, withBerth, type Common } from '../common.js';

export function register(program: Command): void {
  const ldap = program.command('ldap').description('LDAP / Active Directory (auth.ldap in the configuration)');
  common(ldap.command('check [user]').description('bind with the service account; with a user name, show what the directory says of that user'))
    .action(async (name: string | undefined, opts: Common) => {
      await withBerth(opts, async (b) => {
        if (!b.ldap) throw new Error('auth.ldap.enabled is false in this configuration');
        await b.ldap.check();
        process.stdout.write('directory reachable; service account accepted\n');
        if (name) {
          const du = await b.ldap.lookup(name);
          if (!du) process.stdout.write(`no directory user ${name}\n`);
          else process.stdout.write(`${JSON.stringify({ dn: du.dn, username: du.username, email: du.email, displayName: du.displayName, disabled: du.disabled, groups: du.groups }, null, 2)}\n`);
        }
      });
    });
  common(ldap.command('sync').description('sync directory users now: disable departed ones (revoking their tokens), refresh groups and teams'))
    .action(async (opts: Common) => {
      await withBerth(opts, async (b) => {
        if (!b.directory) throw new Error('auth.ldap.enabled is false in this configuration');
        const r = await b.directory.sync();
        process.stdout.write(`checked ${r.checked} directory users: ${r.updated} updated, ${r.disabled} disabled, ${r.skipped} skipped${r.aborted ? `; stopped early: ${r.aborted}` : ''}\n`);
        if (r.aborted) process.exitCode = 1;
      });
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  common(audit.command('verify').description('check the hash chain and the signed checkpoints; exit code 1 and the first bad record when they do not hold'))
    .option('--archive <file>', 'check an archive file (JSON Lines) instead, against its checkpoint in the database')
    .action(async (opts: Common & { archive?: string }) => {
      await withBerth(opts, async (b) => {
        let res;
        if (opts.archive) {
          res = await b.services.audit.verifyArchived(opts.archive);
        } else {
          const tty = process.stderr.isTTY;
          res = await b.services.audit.verify((seq) => { if (tty) process.stderr.write(`\rverified up to record ${seq}`); });
          if (tty) process.stderr.write('\n');
        }
        if (res.ok) process.stdout.write(`audit log intact: ${res.records} records${res.head ? ` up to ${res.head.seq}` : ''}, ${res.checkpoints} signed checkpoints${res.from ? ` (records up to ${res.from} archived)` : ''}\n`);
        else {
          process.stdout.write(`audit log NOT intact: ${res.firstBad!.reason} (first bad record: ${res.firstBad!.seq})\n`);
          process.exitCode = 1;
        }
      });
    });
  common(audit.command('checkpoint').description('sign a checkpoint of the chain head now'))
    .action(async (opts: Common) => {
      await withBerth(opts, async (b) => {
        const c = await b.services.audit.checkpoint();
        process.stdout.write(c ? `signed checkpoint at record ${c.seq} (${c.hash})\n` : 'no new records since the last checkpoint\n');
      });
    });
  common(audit.command('export').description('write audit records (oldest first) as JSON Lines or CSV'))
    .option('--format <jsonl|csv>', 'output format', 'jsonl')
    .option('--out <file>', 'write to a file instead of standard output')
    .option('--actor <name>').option('--action <action>', 'an action, or a prefix ending in "."').option('--repository <name>')
    .option('--since <time>', 'ISO 8601').option('--until <time>', 'ISO 8601')
    .action(async (opts: Common & { format: string; out?: string; actor?: string; action?: string; repository?: string; since?: string; until?: string }) => {
      if (!['jsonl', 'csv'].includes(opts.format)) throw new Error('--format must be jsonl or csv');
      const t = (v?: string) => (v === undefined ? undefined : Date.parse(v));
      const { csvLine, CSV_COLUMNS, jsonLine } = await import('../../audit/audit-query.js');
      await withBerth(opts, async (b) => {
        const out = opts.out ? createWriteStream(opts.out, { mode: 0o600 }) : process.stdout;
        const write = (line: string) => new Promise<void>((resolve) => { if (out.write(line)) resolve(); else out.once('drain', resolve); });
        if (opts.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
        let n = 0;
        for await (const r of b.services.audit.stream({ actor: opts.actor, action: opts.action, repository: opts.repository, since: t(opts.since), until: t(opts.until) })) {
          await write(opts.format === 'csv' ? csvLine(r) : jsonLine(r));
          if (++n % 10000 === 0) process.stderr.write(`exported ${n} records\n`);
        }
        if (opts.out) await new Promise<void>((resolve) => (out as ReturnType<typeof createWriteStream>).end(resolve));
        process.stderr.write(`exported ${n} records\n`);
      });
    });
  common(audit.command('archive').description('archive (JSON Lines + signed checkpoint) and purge records older than some days'))
    .requiredOption('--older-than <days>', 'days')
    .action(async (opts: Common & { olderThan: string }) => {
      const days = Number(opts.olderThan);
      if (!(days >= 0)) throw new Error('--older-than must be a number of days');
      await withBerth(opts, async (b) => {
        const r = await b.services.audit.archive(Date.now() - days * 86_400_000);
        process.stdout.write(r.file ? `archived ${r.records} records up to ${r.upTo} to ${r.file} (sha256 ${r.sha256}) and purged them\n` : 'nothing to archive\n');
      });
    });
}
