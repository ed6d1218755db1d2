// `berth org ...`, `berth team ...`, `berth repo ...` and `berth robot ...`.
import type { Command } from 'commander';
import { CLI, common, iso, printTable, withBerth, type Common } from '../common.js';

const roles = () => import('../../auth/organizations.js');

function parseScopes(orgName: string, scope: string[]) {
  return scope.map((s) => {
    const i = s.lastIndexOf(':');
    const actions = s.slice(i + 1).split(',').filter(Boolean);
    const pattern = s.slice(0, i);
    if (i <= 0 || actions.length === 0 || !actions.every((a) => ['pull', 'push', 'delete'].includes(a))) throw new Error(`--scope ${s}: expected PATTERN:pull,push,delete`);
    if (!pattern.startsWith(`${orgName}/`)) throw new Error(`--scope ${s}: a robot of ${orgName} reaches only ${orgName}/... repositories`);
    return { pattern, actions };
  });
}

export function register(program: Command): void {
  const org = program.command('org').description('organizations: namespaces shared by teams and users');
  common(org.command('create <name>').description('create an organization (private unless --public)'))
    .option('--public', 'anyone, also anonymous, may pull its repositories')
    .action(async (name: string, opts: Common & { public?: boolean }) => {
      // On the server's console: an administrator's decision, which may adopt repositories nobody owned.
      await withBerth(opts, async (b) => { await b.organizations.create(name, { public: opts.public, adopt: true }, CLI); });
      process.stdout.write(`created organization ${name}${opts.public ? ' (public)' : ''}\n`);
    });
  common(org.command('list').description('list organizations (NAME VISIBILITY CREATED)'))
    .action(async (opts: Common) => {
      const orgs = await withBerth(opts, (b) => b.organizations.list());
      printTable(['NAME', 'VISIBILITY', 'CREATED'], orgs.map((o) => [o.name, o.public ? 'public' : 'private', iso(o.createdAt)]));
    });
  common(org.command('delete <name>').description('delete an organization that holds no repositories (its teams, roles and robots go with it)'))
    .action(async (name: string, opts: Common) => {
      await withBerth(opts, async (b) => { await b.organizations.remove(name, CLI); });
      process.stdout.write(`deleted organization ${name}\n`);
    });
  common(org.command('visibility <name> <public|private>').description('make an organization public or private'))
    .action(async (name: string, v: string, opts: Common) => {
      if (v !== 'public' && v !== 'private') throw new Error('visibility is public or private');
      await withBerth(opts, async (b) => { await b.organizations.setPublic(name, v === 'public', CLI); });
      process.stdout.write(`organization ${name} is ${v}\n`);
    });
  common(org.command('role <org> <user|team:TEAM> <role>').description('give a user or team a role on the organization: reader, developer, maintainer, admin, none'))
    .action(async (name: string, subject: string, role: string, opts: Common) => {
      const { parseRole, parseSubject } = await roles();
      await withBerth(opts, async (b) => { await b.organizations.setOrgRole(name, parseSubject(subject), parseRole(role), CLI); });
      process.stdout.write(`${subject} is ${role} of ${name}\n`);
    });

  const team = program.command('team').description('teams of an organization');
  common(team.command('create <org> <team>').description('create a team'))
    .action(async (o: string, t: string, opts: Common) => {
      await withBerth(opts, async (b) => { await b.organizations.createTeam(o, t, CLI); });
      process.stdout.write(`created team ${o}/${t}\n`);
    });
  common(team.command('list <org>').description("list an organization's teams (NAME MEMBERS DIRECTORY-GROUP)"))
    .action(async (o: string, opts: Common) => {
      const teams = await withBerth(opts, (b) => b.organizations.teams(o));
      printTable(['NAME', 'MEMBERS', 'DIRECTORY-GROUP'], teams.map((t) => [t.name, String(t.members), t.directoryGroup ?? '-']));
    });
  common(team.command('delete <org> <team>').description('delete a team (its members keep their accounts; the roles given to the team go)'))
    .action(async (o: string, t: string, opts: Common) => {
      await withBerth(opts, async (b) => { await b.organizations.removeTeam(o, t, CLI); });
      process.stdout.write(`deleted team ${o}/${t}\n`);
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

  const repo = program.command('repo').description('repositories and their settings');
  common(repo.command('list').description('list repositories holding images (NAME TAGS MANIFESTS)'))
    .option('--json', 'one JSON array of the repositories')
    .action(async (opts: Common & { json?: boolean }) => {
      const { repositorySummaries } = await import('../../registry/repositories.js');
      const repos = await withBerth(opts, (b) => repositorySummaries(b.meta.db));
      if (opts.json) process.stdout.write(`${JSON.stringify(repos.map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })))}\n`);
      else printTable(['NAME', 'TAGS', 'MANIFESTS'], repos.map((r) => [r.name, String(r.tags), String(r.manifests)]));
    });
  common(repo.command('visibility <name> <public|private|inherit>').description("a repository's visibility (inherit: as its organization)"))
    .action(async (name: string, v: string, opts: Common) => {
      if (!['public', 'private', 'inherit'].includes(v)) throw new Error('visibility is public, private or inherit');
      await withBerth(opts, async (b) => { await b.organizations.setRepositoryVisibility(name, v as 'public' | 'private' | 'inherit', CLI); });
      process.stdout.write(`repository ${name}: ${v}\n`);
    });
  common(repo.command('role <name> <user|team:TEAM> <role>').description('a role on one repository: reader, developer, maintainer, admin, none'))
    .action(async (name: string, subject: string, role: string, opts: Common) => {
      const { parseRole, parseSubject } = await roles();
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
      const scopes = parseScopes(orgName, opts.scope);
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
          process.stdout.write(`${r.name}\t${t?.scopes?.map((s) => `${s.pattern}:${s.actions.join(',')}`).join(' ') ?? ''}\texpires ${iso(t?.expiresAt)}\tlast used ${iso(t?.lastUsedAt)}\n`);
        }
      });
    });
  common(robot.command('delete <org> <name>').description('delete a robot; its secret stops working at once'))
    .action(async (orgName: string, name: string, opts: Common) => {
      await withBerth(opts, async (b) => { await b.accounts.remove(`${orgName}+${name}`, CLI); });
      process.stdout.write(`deleted robot ${orgName}+${name}\n`);
    });
}
