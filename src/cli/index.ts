#!/usr/bin/env node
// The `berth` command. Every command takes the same --data and --config and works beside a running server.
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { Command } from 'commander';
import type { RequestContext } from '../audit/journal.js';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { csvLine, CSV_COLUMNS, jsonLine, streamAudit } from '../audit/audit-query.js';
import { verifyArchive } from '../audit/audit-service.js';
import { ConfigError, loadConfig, type ResolvedConfig } from '../config/load.js';
import { parseRole, parseSubject } from '../auth/organizations.js';
import { createBerth, createLogger, serve, type Berth } from '../main.js';

/** Changes made on the server's console are on record as the operating system user who made them. */
const CLI: RequestContext = { actor: (() => { try { return userInfo().username; } catch { return 'unknown'; } })(), actorSource: 'cli', address: 'local', userAgent: 'berth-cli', requestId: randomUUID() };

const program = new Command('berth').description('Berth: a private OCI container image registry').showHelpAfterError();

interface Common { data?: string; config?: string }

function config(opts: Common & { listen?: string }): ResolvedConfig {
  try {
    return loadConfig({ file: opts.config, flags: { data: opts.data, listen: opts.listen } });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`berth: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/** Opens the registry's data for one command and closes it after, whatever happens. */
async function withBerth<T>(opts: Common, fn: (berth: Berth) => Promise<T>): Promise<T> {
  const berth = await createBerth(config(opts));
  try {
    return await fn(berth);
  } finally {
    await berth.close();
  }
}

const common = (c: Command) => c.option('--data <dir>', 'data directory (default ./data, or BERTH_DATA)').option('--config <file>', 'YAML configuration file (or BERTH_CONFIG)');

common(program.command('serve').description('run the registry'))
  .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000)')
  .action(async (opts: Common & { listen?: string }) => {
    await serve(config(opts));
  });

common(program.command('gc').description('remove unreferenced blobs and expired uploads'))
  .option('--dry-run', 'report what would be removed without removing it')
  .option('--grace <seconds>', 'spare blobs touched within this many seconds (default gc.grace)')
  .action(async (opts: Common & { dryRun?: boolean; grace?: string }) => {
    const cfg = config(opts);
    const log = createLogger(cfg);
    const berth = await createBerth(cfg);
    try {
      const graceSeconds = opts.grace !== undefined ? Number(opts.grace) : cfg.gc.grace;
      if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new Error('--grace must be a non-negative number of seconds');
      const report = await berth.gc.run({ dryRun: opts.dryRun, graceSeconds, uploadExpirySeconds: cfg.registry.uploadExpiry, progress: (msg, f) => log.info(f, msg) });
      const mib = (n: number) => (n / 1048576).toFixed(1);
      const verb = report.dryRun ? 'would remove' : 'removed';
      process.stdout.write(
        `${verb} ${report.blobsRemoved} blobs (${mib(report.bytesRemoved)} MiB), ${report.unlinked} repository links, ` +
        `${report.uploadsRemoved} expired uploads (${mib(report.uploadBytesRemoved)} MiB), ${report.orphanFilesRemoved} orphaned files (${mib(report.orphanBytesRemoved)} MiB) in ${report.durationMs} ms\n`,
      );
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } finally {
      await berth.close();
    }
  });

const user = program.command('user').description('local user accounts');
common(user.command('add <name>').description('create a local user (works while the server runs)'))
  .option('--admin', 'system administrator')
  .option('--password-stdin', 'read the password from standard input (required: never on the command line)')
  .action(async (name: string, opts: Common & { admin?: boolean; passwordStdin?: boolean }) => {
    if (!opts.passwordStdin) throw new Error('pass the password on standard input with --password-stdin');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    await withBerth(opts, async (berth) => {
      const u = await berth.accounts.create(name, password, { admin: opts.admin }, CLI);
      process.stdout.write(`created user ${u.name}${u.admin ? ' (system administrator)' : ''}\n`);
    });
  });

for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
  common(user.command(`${verb} <name>`).description(disabled ? 'disable a user and revoke their tokens' : 'enable a disabled user'))
    .action(async (name: string, opts: Common) => {
      await withBerth(opts, async (berth) => {
        await berth.accounts.setDisabled(name, disabled, CLI);
        process.stdout.write(`${verb}d user ${name}\n`);
      });
    });
}

common(user.command('totp-reset <name>').description("turn off a user's second factor (a lost device)"))
  .action(async (name: string, opts: Common) => {
    await withBerth(opts, async (b) => {
      const u = await b.accounts.byName(name);
      if (!u) throw new Error(`no user ${name}`);
      await b.services.auth.secondFactor.disable(u.id, CLI);
    });
    process.stdout.write(`second factor of ${name} turned off\n`);
  });

common(user.command('list').description('list users'))
  .action(async (opts: Common) => {
    await withBerth(opts, async (berth) => {
      for (const u of await berth.accounts.list()) {
        process.stdout.write(`${u.name}\t${u.source}${u.admin ? '\tadmin' : ''}${u.disabled ? '\tdisabled' : ''}${u.totp ? '\ttotp' : ''}\n`);
      }
    });
  });

const token = program.command('token').description('personal access tokens (log in with the user name and the token as password)');
common(token.command('create <user>').description('create a token; its secret is shown once'))
  .requiredOption('--name <name>', 'what the token is for')
  .option('--scope <pattern:actions...>', 'limit to repositories matching a pattern (* in a path component, ** across) and actions, e.g. "alice/*:pull,push"')
  .option('--expires <days>', 'days until it expires (default: never)')
  .action(async (userName: string, opts: Common & { name: string; scope?: string[]; expires?: string }) => {
    await withBerth(opts, async (berth) => {
      const u = await berth.accounts.byName(userName);
      if (!u) throw new Error(`no user ${userName}`);
      const scopes = opts.scope?.map((s) => {
        const i = s.lastIndexOf(':');
        const actions = s.slice(i + 1).split(',').filter(Boolean);
        if (i <= 0 || actions.length === 0 || !actions.every((a) => ['pull', 'push', 'delete', '*'].includes(a))) throw new Error(`--scope ${s}: expected PATTERN:pull,push,delete`);
        return { pattern: s.slice(0, i), actions };
      });
      const days = opts.expires === undefined ? undefined : Number(opts.expires);
      if (days !== undefined && !(days > 0)) throw new Error('--expires must be a positive number of days');
      const { token: t, secret } = await berth.services.auth.accessTokens.create(u.id, opts.name, { scopes, expiresAt: days ? Date.now() + days * 86_400_000 : undefined }, CLI);
      process.stdout.write(`created token ${t.id} for ${u.name}; the secret is shown only now:\n${secret}\n`);
    });
  });

common(token.command('list <user>').description("list a user's tokens (never their secrets)"))
  .action(async (userName: string, opts: Common) => {
    await withBerth(opts, async (berth) => {
      const u = await berth.accounts.byName(userName);
      if (!u) throw new Error(`no user ${userName}`);
      const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());
      for (const t of await berth.services.auth.accessTokens.list(u.id)) {
        const state = t.revokedAt ? 'revoked' : t.expiresAt !== null && t.expiresAt <= Date.now() ? 'expired' : 'active';
        process.stdout.write(`${t.id}\t${t.name}\t${state}\texpires ${iso(t.expiresAt)}\tlast used ${iso(t.lastUsedAt)}\t${t.scopes ? t.scopes.map((s) => `${s.pattern}:${s.actions.join(',')}`).join(' ') : 'all'}\n`);
      }
    });
  });

common(token.command('revoke <id>').description('revoke a token'))
  .action(async (id: string, opts: Common) => {
    await withBerth(opts, async (berth) => {
      if (!(await berth.services.auth.accessTokens.revoke(id, CLI))) throw new Error(`no active token ${id}`);
      process.stdout.write(`revoked token ${id}\n`);
    });
  });

common(program.command('rotate-keys').description('sign new tokens with a new key now (old tokens stay valid until they expire)'))
  .action(async (opts: Common) => {
    await withBerth(opts, async (berth) => {
      const kid = await berth.services.auth.tokens.rotate();
      process.stdout.write(`tokens are now signed with key ${kid}\n`);
    });
  });

const org = program.command('org').description('organizations: namespaces shared by teams and users');
common(org.command('create <name>').description('create an organization (private unless --public)'))
  .option('--public', 'anyone, also anonymous, may pull its repositories')
  .action(async (name: string, opts: Common & { public?: boolean }) => {
    await withBerth(opts, async (b) => { await b.organizations.create(name, { public: opts.public }, CLI); });
    process.stdout.write(`created organization ${name}${opts.public ? ' (public)' : ''}\n`);
  });
common(org.command('visibility <name> <public|private>').description('make an organization public or private'))
  .action(async (name: string, v: string, opts: Common) => {
    if (v !== 'public' && v !== 'private') throw new Error('visibility is public or private');
    await withBerth(opts, async (b) => { await b.organizations.setPublic(name, v === 'public', CLI); });
    process.stdout.write(`organization ${name} is ${v}\n`);
  });
common(org.command('role <org> <user|team:TEAM> <role>').description('give a user or team a role on the organization: reader, developer, maintainer, admin, none'))
  .action(async (name: string, subject: string, role: string, opts: Common) => {
    await withBerth(opts, async (b) => { await b.organizations.setOrgRole(name, parseSubject(subject), parseRole(role), CLI); });
    process.stdout.write(`${subject} is ${role} of ${name}\n`);
  });

const team = program.command('team').description('teams of an organization');
common(team.command('create <org> <team>').description('create a team'))
  .action(async (o: string, t: string, opts: Common) => {
    await withBerth(opts, async (b) => { await b.organizations.createTeam(o, t, CLI); });
    process.stdout.write(`created team ${o}/${t}\n`);
  });
for (const [verb, add] of [['add', true], ['remove', false]] as const) {
  common(team.command(`${verb} <org> <team> <user>`).description(`${verb} a team member`))
    .action(async (o: string, t: string, u: string, opts: Common) => {
      await withBerth(opts, async (b) => { await (add ? b.organizations.addTeamMember(o, t, u, CLI) : b.organizations.removeTeamMember(o, t, u, CLI)); });
      process.stdout.write(`${add ? 'added' : 'removed'} ${u} ${add ? 'to' : 'from'} ${o}/${t}\n`);
    });
}

common(team.command('link <org> <team> <group-dn>').description('make a team follow a directory (LDAP/AD) group: its members are added and removed by logins and the sync; "none" unlinks'))
  .action(async (o: string, t: string, dn: string, opts: Common) => {
    await withBerth(opts, async (b) => { await b.organizations.setTeamDirectoryGroup(o, t, dn === 'none' ? null : dn, CLI); });
    process.stdout.write(dn === 'none' ? `${o}/${t} no longer follows a directory group\n` : `${o}/${t} follows ${dn}\n`);
  });

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
        const name = path.basename(opts.archive);
        const cps = await b.meta.db.selectFrom('audit_checkpoints').selectAll().where('archived', 'is not', null).orderBy('seq').execute();
        const i = cps.findIndex((c) => c.archived!.startsWith(`${name} `));
        if (i < 0) throw new Error(`no checkpoint records the archive ${name}`);
        res = await verifyArchive(opts.archive, { startHash: i > 0 ? cps[i - 1].hash : undefined, endHash: cps[i].hash });
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
    await withBerth(opts, async (b) => {
      const out = opts.out ? createWriteStream(opts.out, { mode: 0o600 }) : process.stdout;
      const write = (line: string) => new Promise<void>((resolve) => { if (out.write(line)) resolve(); else out.once('drain', resolve); });
      if (opts.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\r\n`);
      let n = 0;
      for await (const r of streamAudit(b.meta.db, { actor: opts.actor, action: opts.action, repository: opts.repository, since: t(opts.since), until: t(opts.until) })) {
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

const repo = program.command('repo').description('repository settings');
common(repo.command('visibility <name> <public|private|inherit>').description("a repository's visibility (inherit: as its organization)"))
  .action(async (name: string, v: string, opts: Common) => {
    if (!['public', 'private', 'inherit'].includes(v)) throw new Error('visibility is public, private or inherit');
    await withBerth(opts, async (b) => { await b.organizations.setRepositoryVisibility(name, v as 'public' | 'private' | 'inherit', CLI); });
    process.stdout.write(`repository ${name}: ${v}\n`);
  });
common(repo.command('role <name> <user|team:TEAM> <role>').description('a role on one repository: reader, developer, maintainer, admin, none'))
  .action(async (name: string, subject: string, role: string, opts: Common) => {
    await withBerth(opts, async (b) => { await b.organizations.setRepositoryRole(name, parseSubject(subject), parseRole(role), CLI); });
    process.stdout.write(`${subject} is ${role} of ${name}\n`);
  });

// Deleting a repository or a tag (the same service as DELETE /api/v1/repositories/...).
common(repo.command('delete <name>').description('delete a repository: tags, manifests, blob links, visibility and roles (then `berth gc` frees its blobs)'))
  .option('--yes', 'do not ask for confirmation')
  .action(async (name: string, opts: Common & { yes?: boolean }) => {
    if (!opts.yes) {
      if (!process.stdin.isTTY) throw new Error(`refusing to delete repository ${name} without confirmation: pass --yes`);
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`Delete repository ${name} with all its tags and manifests? Type its name to confirm: `).finally(() => rl.close());
      if (answer.trim() !== name) throw new Error('not confirmed; nothing deleted');
    }
    const r = await withBerth(opts, (b) => b.services.deletion.deleteRepository(name, CLI));
    process.stdout.write(`deleted repository ${name}: ${r.tags} tags, ${r.manifests} manifests, ${r.blobLinks} blob links (run berth gc to free unused blobs)\n`);
  });
const tagCmd = program.command('tag').description('tags of a repository');
common(tagCmd.command('delete <name> <tag>').description('delete a tag; its manifest stays, pullable by digest'))
  .action(async (name: string, t: string, opts: Common) => {
    await withBerth(opts, (b) => b.services.deletion.deleteTag(name, t, CLI));
    process.stdout.write(`deleted tag ${name}:${t}\n`);
  });

const robot = program.command('robot').description('robot accounts of an organization, for CI systems');
common(robot.command('create <org> <name>').description('create a robot limited to repositories of the organization; its secret is shown once'))
  .requiredOption('--scope <pattern:actions...>', 'repositories (patterns within the organization) and actions, e.g. "acme/app-*:pull,push"')
  .option('--expires <days>', 'days until its secret expires (default: never)')
  .action(async (orgName: string, name: string, opts: Common & { scope: string[]; expires?: string }) => {
    const scopes = opts.scope.map((s) => {
      const i = s.lastIndexOf(':');
      const actions = s.slice(i + 1).split(',').filter(Boolean);
      const pattern = s.slice(0, i);
      if (i <= 0 || actions.length === 0 || !actions.every((a) => ['pull', 'push', 'delete'].includes(a))) throw new Error(`--scope ${s}: expected PATTERN:pull,push,delete`);
      if (!pattern.startsWith(`${orgName}/`)) throw new Error(`--scope ${s}: a robot of ${orgName} reaches only ${orgName}/... repositories`);
      return { pattern, actions };
    });
    const days = opts.expires === undefined ? undefined : Number(opts.expires);
    if (days !== undefined && !(days > 0)) throw new Error('--expires must be a positive number of days');
    await withBerth(opts, async (b) => {
      const u = await b.accounts.createRobot(orgName, name, CLI);
      const { secret } = await b.services.auth.accessTokens.create(u.id, 'robot', { scopes, expiresAt: days ? Date.now() + days * 86_400_000 : undefined }, CLI);
      process.stdout.write(`created robot ${u.name}; log in with user ${u.name} and this secret, shown only now:\n${secret}\n`);
    });
  });
common(robot.command('list <org>').description("list an organization's robots"))
  .action(async (orgName: string, opts: Common) => {
    await withBerth(opts, async (b) => {
      for (const r of await b.accounts.robots(orgName)) {
        const [t] = await b.services.auth.accessTokens.list(r.id);
        const iso = (x: number | null | undefined) => (x ? new Date(x).toISOString() : '-');
        process.stdout.write(`${r.name}\t${t?.scopes?.map((s) => `${s.pattern}:${s.actions.join(',')}`).join(' ') ?? ''}\texpires ${iso(t?.expiresAt)}\tlast used ${iso(t?.lastUsedAt)}\n`);
      }
    });
  });
common(robot.command('delete <org> <name>').description('delete a robot; its secret stops working at once'))
  .action(async (orgName: string, name: string, opts: Common) => {
    await withBerth(opts, async (b) => { await b.accounts.remove(`${orgName}+${name}`, CLI); });
    process.stdout.write(`deleted robot ${orgName}+${name}\n`);
  });

const tls = program.command('tls').description('TLS helpers');
tls.command('self-signed')
  .description('write a private CA and a server certificate it signs (for evaluation; bring your own in production)')
  .requiredOption('--out <dir>', 'folder for ca.crt, ca.key, server.crt, server.key')
  .option('--hosts <list>', 'comma-separated DNS names and IP addresses the certificate is for', 'localhost,127.0.0.1,::1')
  .option('--days <n>', 'server certificate validity in days', '397')
  .action(async (opts: { out: string; hosts: string; days: string }) => {
    const { createCa, issueCertificate } = await import('../tls/certificates.js');
    const { mkdir, writeFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const hosts = opts.hosts.split(',').map((h) => h.trim()).filter(Boolean);
    const days = Number(opts.days);
    if (!Number.isInteger(days) || days < 1) throw new Error('--days must be a positive integer');
    await mkdir(opts.out, { recursive: true, mode: 0o700 });
    const ca = await createCa();
    const server = await issueCertificate(ca, hosts, { days });
    const file = (name: string) => path.join(opts.out, name);
    await writeFile(file('ca.crt'), ca.cert);
    await writeFile(file('ca.key'), ca.key, { mode: 0o600 });
    await writeFile(file('server.crt'), server.cert);
    await writeFile(file('server.key'), server.key, { mode: 0o600 });
    process.stdout.write(
      `wrote ${file('ca.crt')}, ${file('server.crt')} and their keys for ${hosts.join(', ')}\n` +
      `serve with:  tls: { cert: ${file('server.crt')}, key: ${file('server.key')} }\n` +
      `clients trust ${file('ca.crt')} (e.g. copy it to /etc/containers/certs.d/HOST:PORT/ca.crt)\n`,
    );
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`berth: ${(e as Error).message}\n`);
  process.exit(1);
});
