// The generated authorization matrix: every role x action x public/private x way of authenticating, over
// the real HTTP API, each expected answer asserted. Authorization runs before the registry acts, so an
// allowed DELETE of a tag that does not exist answers 404, and an allowed upload start answers 202.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

const PW = 'matrix-password-4711-zz';
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
type Action = 'pull' | 'push' | 'delete';
const ACTIONS: Action[] = ['pull', 'push', 'delete'];
const RANK = { reader: 0, developer: 1, maintainer: 2, admin: 3 } as const;
const NEED: Record<Action, number> = { pull: 0, push: 1, delete: 2 };

interface Repo { name: string; public: boolean }
const REPOS: Repo[] = [{ name: 'acme/app', public: false }, { name: 'acme/other', public: false }, { name: 'open/app', public: true }];

// user -> role per repository (what the setup below grants); sysadmin may do everything.
const USERS: Record<string, (repo: string) => number | null> = {
  reader1: (r) => (r.startsWith('acme/') || r.startsWith('open/') ? RANK.reader : null),
  dev1: () => RANK.developer,
  maint1: () => RANK.maintainer,
  orgadmin1: () => RANK.admin,
  teamdev: () => RANK.developer, // by team membership
  repoonly: (r) => (r === 'acme/app' ? RANK.developer : null), // a role on one repository only
  outsider: () => null,
};

async function cli(b: BerthProcess, args: string[], input?: string) {
  const r = await runCli([...args, '--data', b.dataDir], {}, input);
  assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('authorization matrix', () => {
  let b: BerthProcess;
  const secrets: Record<string, string> = {};
  let cells = 0;

  before(async () => {
    b = await startBerth({ auth: true });
    for (const u of Object.keys(USERS)) await cli(b, ['user', 'add', u, '--password-stdin'], PW);
    await cli(b, ['org', 'create', 'acme']);
    await cli(b, ['org', 'create', 'open', '--public']);
    for (const o of ['acme', 'open']) {
      await cli(b, ['org', 'role', o, 'reader1', 'reader']);
      await cli(b, ['org', 'role', o, 'dev1', 'developer']);
      await cli(b, ['org', 'role', o, 'maint1', 'maintainer']);
      await cli(b, ['org', 'role', o, 'orgadmin1', 'admin']);
      await cli(b, ['team', 'create', o, 'build']);
      await cli(b, ['team', 'add', o, 'build', 'teamdev']);
      await cli(b, ['org', 'role', o, 'team:build', 'developer']);
    }
    await cli(b, ['repo', 'role', 'acme/app', 'repoonly', 'developer']);
    // Tokens limited to pull for maint1 (fewer rights than the user), and unlimited for dev1.
    secrets.maint1PullOnly = (await cli(b, ['token', 'create', 'maint1', '--name', 'ro', '--scope', '**:pull'])).trim().split('\n').pop()!;
    secrets.dev1All = (await cli(b, ['token', 'create', 'dev1', '--name', 'ci'])).trim().split('\n').pop()!;
    const admin = { authorization: basic('admin', ADMIN_PASSWORD) };
    for (const r of REPOS) {
      const config = Buffer.from(`{"architecture":"amd64","os":"linux","r":"${r.name}"}`);
      const layer = randomBytes(100);
      await pushBlob(b.url, r.name, config, admin);
      await pushBlob(b.url, r.name, layer, admin);
      const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }] };
      assert.equal((await pushManifest(b.url, r.name, 'v1', m, MT.ociManifest, admin)).res.status, 201);
    }
  });
  after(async () => {
    await b.stop();
    console.log(`# authorization matrix: ${cells} cells asserted`);
  });

  async function attempt(repo: string, action: Action, authorization?: string): Promise<number> {
    const headers: Record<string, string> = authorization ? { authorization } : {};
    if (action === 'pull') return (await fetch(`${b.url}/v2/${repo}/manifests/v1`, { headers })).status;
    if (action === 'push') return (await fetch(`${b.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers })).status;
    return (await fetch(`${b.url}/v2/${repo}/manifests/no-such-tag`, { method: 'DELETE', headers })).status;
  }
  const ALLOWED: Record<Action, number> = { pull: 200, push: 202, delete: 404 };

  async function bearer(user: string, password: string, repo: string): Promise<string> {
    const q = new URLSearchParams({ service: 'berth', scope: `repository:${repo}:pull,push,delete` });
    const res = await fetch(`${b.url}/token?${q}`, { headers: { authorization: basic(user, password) } });
    assert.equal(res.status, 200);
    return `Bearer ${(await res.json() as { token: string }).token}`;
  }

  function check(who: string, repo: Repo, action: Action, status: number, allowed: boolean, deniedStatus: number) {
    cells++;
    assert.equal(status, allowed ? ALLOWED[action] : deniedStatus, `${who} ${action} ${repo.name}${repo.public ? ' (public)' : ''}: expected ${allowed ? 'allowed' : 'denied'}, got ${status}`);
  }

  test('anonymous: public pull only', async () => {
    for (const r of REPOS) for (const a of ACTIONS) check('anonymous', r, a, await attempt(r.name, a), a === 'pull' && r.public, 401);
  });

  test('anonymous tokens: public pull only', async () => {
    for (const r of REPOS) {
      const q = new URLSearchParams({ service: 'berth', scope: `repository:${r.name}:pull,push,delete` });
      const t = `Bearer ${(await (await fetch(`${b.url}/token?${q}`)).json() as { token: string }).token}`;
      for (const a of ACTIONS) check('anonymous token', r, a, await attempt(r.name, a, t), a === 'pull' && r.public, 401);
    }
  });

  for (const [user, roleOf] of Object.entries(USERS)) {
    const expected = (r: Repo, a: Action) => { const role = roleOf(r.name); return (role !== null && role >= NEED[a]) || (a === 'pull' && r.public); };
    test(`${user} with Basic credentials`, async () => {
      for (const r of REPOS) for (const a of ACTIONS) check(`${user} (basic)`, r, a, await attempt(r.name, a, basic(user, PW)), expected(r, a), 403);
    });
    test(`${user} with a bearer token`, async () => {
      for (const r of REPOS) {
        const t = await bearer(user, PW, r.name);
        for (const a of ACTIONS) check(`${user} (token)`, r, a, await attempt(r.name, a, t), expected(r, a), 401);
      }
    });
  }

  test('the system administrator may do everything', async () => {
    for (const r of REPOS) {
      for (const a of ACTIONS) check('admin (basic)', r, a, await attempt(r.name, a, basic('admin', ADMIN_PASSWORD)), true, 403);
      const t = await bearer('admin', ADMIN_PASSWORD, r.name);
      for (const a of ACTIONS) check('admin (token)', r, a, await attempt(r.name, a, t), true, 401);
    }
  });

  test('access tokens: never more than their limits, nor than their user', async () => {
    for (const r of REPOS) {
      for (const a of ACTIONS) {
        check('maint1 pull-only token', r, a, await attempt(r.name, a, basic('maint1', secrets.maint1PullOnly)), a === 'pull', 403);
        check('dev1 unlimited token', r, a, await attempt(r.name, a, basic('dev1', secrets.dev1All)), a !== 'delete' || false, 403);
      }
    }
  });

  // The management API asks the same policy: repository settings (maintainer) and members (admin),
  // organization read (member or public) and admin. Every request here changes nothing when allowed.
  type ApiAction = 'repo-settings' | 'repo-members' | 'org-read' | 'org-admin';
  const API_ACTIONS: ApiAction[] = ['repo-settings', 'repo-members', 'org-read', 'org-admin'];
  const ORG_ROLE: Record<string, number | null> = { reader1: 0, dev1: 1, maint1: 2, orgadmin1: 3, teamdev: 1, repoonly: null, outsider: null };
  async function apiAttempt(repo: Repo, action: ApiAction, authorization?: string): Promise<number> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) };
    const org = repo.name.split('/')[0];
    const enc = encodeURIComponent(repo.name);
    const api = `${b.url}/api/v1`;
    if (action === 'repo-settings') return (await fetch(`${api}/repositories/${enc}`, { method: 'PATCH', headers, body: '{"visibility":"inherit"}' })).status;
    if (action === 'repo-members') return (await fetch(`${api}/repositories/${enc}/members/outsider`, { method: 'DELETE', headers: authorization ? { authorization } : {} })).status;
    if (action === 'org-read') return (await fetch(`${api}/organizations/${org}`, { headers })).status;
    return (await fetch(`${api}/organizations/${org}/members/outsider`, { method: 'DELETE', headers: authorization ? { authorization } : {} })).status;
  }
  const API_ALLOWED: Record<ApiAction, number> = { 'repo-settings': 204, 'repo-members': 204, 'org-read': 200, 'org-admin': 204 };
  function apiCheck(who: string, repo: Repo, action: ApiAction, status: number, allowed: boolean, deniedStatus: number) {
    cells++;
    assert.equal(status, allowed ? API_ALLOWED[action] : deniedStatus, `${who} ${action} ${repo.name}${repo.public ? ' (public)' : ''}: expected ${allowed ? 'allowed' : 'denied'}, got ${status}`);
  }
  const apiExpected = (user: string, r: Repo, a: ApiAction): boolean => {
    const repoRole = USERS[user](r.name);
    const orgRole = ORG_ROLE[user];
    if (a === 'repo-settings') return repoRole !== null && repoRole >= RANK.maintainer;
    if (a === 'repo-members') return repoRole !== null && repoRole >= RANK.admin;
    if (a === 'org-read') return r.public || orgRole !== null;
    return orgRole === RANK.admin;
  };

  test('management API: anonymous callers read public organizations only', async () => {
    for (const r of REPOS) for (const a of API_ACTIONS) apiCheck('anonymous', r, a, await apiAttempt(r, a), a === 'org-read' && r.public, 401);
  });

  for (const user of Object.keys(USERS)) {
    test(`management API: ${user}`, async () => {
      for (const r of REPOS) for (const a of API_ACTIONS) apiCheck(user, r, a, await apiAttempt(r, a, basic(user, PW)), apiExpected(user, r, a), 403);
    });
  }

  test('management API: administrators may do everything; a limited token nothing; an unlimited token what its user may', async () => {
    for (const r of REPOS) {
      for (const a of API_ACTIONS) {
        apiCheck('admin', r, a, await apiAttempt(r, a, basic('admin', ADMIN_PASSWORD)), true, 403);
        apiCheck('maint1 pull-only token', r, a, await apiAttempt(r, a, basic('maint1', secrets.maint1PullOnly)), false, 403);
        apiCheck('dev1 unlimited token', r, a, await apiAttempt(r, a, `Bearer ${secrets.dev1All}`), apiExpected('dev1', r, a), 403);
      }
    }
  });

  test('a bearer token obtained before a role, a membership, visibility or administration is taken away is refused on its next request', async () => {
    const open = REPOS[2];
    const teamTok = await bearer('teamdev', PW, open.name);
    const devTok = await bearer('dev1', PW, open.name);
    const anonTok = `Bearer ${(await (await fetch(`${b.url}/token?${new URLSearchParams({ service: 'berth', scope: `repository:${open.name}:pull` })}`)).json() as { token: string }).token}`;
    await cli(b, ['user', 'add', 'tmpadmin', '--password-stdin'], PW);
    await cli(b, ['user', 'admin', 'tmpadmin']);
    const adminTok = await bearer('tmpadmin', PW, 'acme/other');
    check('teamdev token before', open, 'push', await attempt(open.name, 'push', teamTok), true, 401);
    check('dev1 token before', open, 'push', await attempt(open.name, 'push', devTok), true, 401);
    check('tmpadmin token before', REPOS[1], 'delete', await attempt('acme/other', 'delete', adminTok), true, 401);

    await cli(b, ['team', 'remove', 'open', 'build', 'teamdev']);
    check('teamdev token after leaving the team', open, 'push', await attempt(open.name, 'push', teamTok), false, 401);
    check('teamdev token pulls what is public', open, 'pull', await attempt(open.name, 'pull', teamTok), true, 401);
    check('dev1 token after an unrelated change', open, 'push', await attempt(open.name, 'push', devTok), true, 401);
    await cli(b, ['org', 'role', 'open', 'dev1', 'none']);
    check('dev1 token after losing the role', open, 'push', await attempt(open.name, 'push', devTok), false, 401);
    await cli(b, ['repo', 'visibility', open.name, 'private']);
    check('anonymous token after the repository went private', open, 'pull', await attempt(open.name, 'pull', anonTok), false, 401);
    check('dev1 token after the repository went private', open, 'pull', await attempt(open.name, 'pull', devTok), false, 401);
    await cli(b, ['user', 'admin', 'tmpadmin', '--revoke']);
    check('tmpadmin token after losing administration', REPOS[1], 'delete', await attempt('acme/other', 'delete', adminTok), false, 401);
    check('tmpadmin token pull after losing administration', REPOS[1], 'pull', await attempt('acme/other', 'pull', adminTok), false, 401);

    // Put back what later tests rely on; a token obtained now works again.
    await cli(b, ['repo', 'visibility', open.name, 'inherit']);
    await cli(b, ['org', 'role', 'open', 'dev1', 'developer']);
    await cli(b, ['team', 'add', 'open', 'build', 'teamdev']);
    check('dev1 token after the role is given back', open, 'push', await attempt(open.name, 'push', devTok), true, 401);
    check('teamdev token after rejoining', open, 'push', await attempt(open.name, 'push', teamTok), true, 401);
    check('teamdev fresh token', open, 'push', await attempt(open.name, 'push', await bearer('teamdev', PW, open.name)), true, 401);
  });

  test('removing a role or a team membership takes effect at once', async () => {
    await cli(b, ['team', 'remove', 'acme', 'build', 'teamdev']);
    check('teamdev after leaving the team', REPOS[0], 'push', await attempt('acme/app', 'push', basic('teamdev', PW)), false, 403);
    await cli(b, ['org', 'role', 'acme', 'dev1', 'none']);
    check('dev1 after losing the role', REPOS[0], 'pull', await attempt('acme/app', 'pull', basic('dev1', PW)), false, 403);
    await cli(b, ['repo', 'visibility', 'acme/app', 'public']);
    check('anonymous on a repository made public', REPOS[0], 'pull', await attempt('acme/app', 'pull'), true, 401);
    check('anonymous push to a public repository', REPOS[0], 'push', await attempt('acme/app', 'push'), false, 401);
  });

  test('nobody, an administrator neither, creates a repository in a namespace no user or organization owns', async () => {
    const ghost: Repo = { name: 'nobody/app', public: false };
    check('dev1 in an unknown namespace', ghost, 'push', await attempt(ghost.name, 'push', basic('dev1', PW)), false, 403);
    check('orgadmin1 in an unknown namespace', ghost, 'push', await attempt(ghost.name, 'push', basic('orgadmin1', PW)), false, 403);
    check('admin in an unknown namespace', ghost, 'push', await attempt(ghost.name, 'push', basic('admin', ADMIN_PASSWORD)), false, 403);
    check('a user in their own namespace', { name: 'dev1/tools', public: false }, 'push', await attempt('dev1/tools', 'push', basic('dev1', PW)), true, 403);
  });

  test('catalogs list only what the caller may pull', async () => {
    const list = async (auth: string) => {
      const q = new URLSearchParams({ service: 'berth', scope: 'registry:catalog:*' });
      const [user, pw] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      const t = (await (await fetch(`${b.url}/token?${q}`, { headers: { authorization: basic(user, pw) } })).json() as { token: string }).token;
      return (await (await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: `Bearer ${t}` } })).json() as { repositories: string[] }).repositories;
    };
    assert.deepEqual(await list(basic('outsider', PW)), ['acme/app', 'open/app'], 'public ones only (acme/app was made public above)');
    assert.deepEqual(await list(basic('repoonly', PW)), ['acme/app', 'open/app']);
    assert.deepEqual(await list(basic('maint1', PW)), ['acme/app', 'acme/other', 'open/app']);
  });
});

describe('robot accounts', () => {
  test('a robot does what its scopes list inside its organization, nothing else; deletion ends it', async () => {
    const b = await startBerth({ auth: true });
    try {
      await cli(b, ['org', 'create', 'acme']);
      await cli(b, ['org', 'create', 'beta']);
      const refused = await runCli(['robot', 'create', 'acme', 'ci', '--scope', 'beta/app:push', '--data', b.dataDir]);
      assert.notEqual(refused.code, 0, 'a robot cannot reach another organization');
      const out = await cli(b, ['robot', 'create', 'acme', 'ci', '--scope', 'acme/app-*:pull,push']);
      const secret = out.trim().split('\n').pop()!;
      const robot = basic('acme+ci', secret);
      assert.equal(await statusOf(b, 'acme/app-web', 'push', robot), 202);
      assert.equal(await statusOf(b, 'acme/app-web', 'delete', robot), 403, 'delete is not in its scopes');
      assert.equal(await statusOf(b, 'acme/other', 'push', robot), 403, 'outside its patterns');
      assert.equal(await statusOf(b, 'beta/app-web', 'push', robot), 403, 'another organization');
      const q = new URLSearchParams({ service: 'berth' });
      q.append('scope', 'repository:acme/app-web:pull,push,delete');
      q.append('scope', 'repository:beta/app-web:pull,push');
      const t = await (await fetch(`${b.url}/token?${q}`, { headers: { authorization: robot } })).json() as { token: string };
      const claims = JSON.parse(Buffer.from(t.token.split('.')[1], 'base64url').toString());
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'acme/app-web', actions: ['pull', 'push'] }]);
      assert.equal(claims.auth_source, 'robot');
      assert.equal((await fetch(`${b.url}/token?service=berth`, { headers: { authorization: basic('acme+ci', 'not-the-secret-at-all') } })).status, 401);
      assert.match(await cli(b, ['robot', 'list', 'acme']), /^acme\+ci\tacme\/app-\*:pull,push\texpires -\tlast used \d{4}-/m);
      await cli(b, ['robot', 'delete', 'acme', 'ci']);
      assert.equal(await statusOf(b, 'acme/app-web', 'pull', robot), 401, 'deleted robots cannot log in');
    } finally {
      await b.stop();
    }
  });
});

async function statusOf(b: BerthProcess, repo: string, action: Action, authorization: string): Promise<number> {
  const headers = { authorization };
  if (action === 'pull') return (await fetch(`${b.url}/v2/${repo}/manifests/v1`, { headers })).status;
  if (action === 'push') return (await fetch(`${b.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers })).status;
  return (await fetch(`${b.url}/v2/${repo}/manifests/no-such-tag`, { method: 'DELETE', headers })).status;
}
