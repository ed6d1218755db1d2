// `berth user ...`, `berth token ...` and `berth rotate-keys`.
import type { Command } from 'commander';
import { CLI, common, iso, passwordFromStdin, printTable, withBerth, type Common } from '../common.js';

export function register(program: Command): void {
  const user = program.command('user').description('local user accounts');
  common(user.command('add <name>').description('create a local user (works while the server runs)'))
    .option('--admin', 'system administrator')
    .option('--password-stdin', 'read the password from standard input (required: never on the command line)')
    .action(async (name: string, opts: Common & { admin?: boolean; passwordStdin?: boolean }) => {
      const password = await passwordFromStdin(opts.passwordStdin);
      await withBerth(opts, async (berth) => {
        const u = await berth.accounts.create(name, password, { admin: opts.admin }, CLI);
        process.stdout.write(`created user ${u.name}${u.admin ? ' (system administrator)' : ''}\n`);
      });
    });

  common(user.command('passwd <name>').description("set a local user's password (also how to recover the admin account); ends their sessions and tokens"))
    .option('--password-stdin', 'read the password from standard input (required: never on the command line)')
    .action(async (name: string, opts: Common & { passwordStdin?: boolean }) => {
      const password = await passwordFromStdin(opts.passwordStdin);
      await withBerth(opts, async (berth) => { await berth.accounts.setPassword(name, password, CLI); });
      process.stdout.write(`password of ${name} changed\n`);
    });

  common(user.command('admin <name>').description('make a user a system administrator, or with --revoke no longer one'))
    .option('--revoke', 'revoke instead of grant (refused for the last active administrator)')
    .action(async (name: string, opts: Common & { revoke?: boolean }) => {
      await withBerth(opts, async (berth) => { await berth.accounts.setAdmin(name, !opts.revoke, CLI); });
      process.stdout.write(opts.revoke ? `${name} is no longer a system administrator\n` : `${name} is a system administrator\n`);
    });

  common(user.command('delete <name>').description('delete a user account (refused while they own repositories, unless told what becomes of them)'))
    .option('--transfer-to <user>', 'the namespace becomes an organization owned by this user; the repositories keep their names')
    .option('--delete-repositories', "delete the user's repositories with them (their blobs are left to gc)")
    .action(async (name: string, opts: Common & { transferTo?: string; deleteRepositories?: boolean }) => {
      if (opts.transferTo && opts.deleteRepositories) throw new Error('--transfer-to and --delete-repositories exclude each other');
      const repositories = opts.transferTo ? 'transfer' : opts.deleteRepositories ? 'delete' : 'refuse';
      const res = await withBerth(opts, (berth) => berth.accounts.remove(name, CLI, { repositories, transferTo: opts.transferTo }));
      process.stdout.write(`deleted user ${name}${res.transferredTo ? `; ${name} is now an organization owned by ${res.transferredTo} (${res.repositories} repositories)` : res.repositories ? `; deleted ${res.repositories} repositories` : ''}\n`);
    });

  common(user.command('unlock <name>').description('lift the login lockout of a user, from every address'))
    .action(async (name: string, opts: Common) => {
      const lifted = await withBerth(opts, async (berth) => {
        if (!(await berth.accounts.byName(name))) throw new Error(`no user ${name}`);
        return berth.services.auth.throttle.unlock(name, CLI);
      });
      process.stdout.write(lifted ? `unlocked ${name} (${lifted} lock${lifted === 1 ? '' : 's'} lifted)\n` : `${name} was not locked out\n`);
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

  common(user.command('list').description('list users (NAME SOURCE ADMIN STATUS TOTP)'))
    .option('--json', 'one JSON array of the users')
    .action(async (opts: Common & { json?: boolean }) => {
      const users = await withBerth(opts, (berth) => berth.accounts.list());
      if (opts.json) {
        const out = users.map((u) => ({ name: u.name, source: u.source, admin: u.admin, disabled: u.disabled, totp: u.totp, email: u.email, displayName: u.displayName, createdAt: new Date(u.createdAt).toISOString() }));
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      printTable(['NAME', 'SOURCE', 'ADMIN', 'STATUS', 'TOTP'],
        users.map((u) => [u.name, u.source, u.admin ? 'yes' : 'no', u.disabled ? 'disabled' : 'active', u.totp ? 'on' : 'off']));
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
}
