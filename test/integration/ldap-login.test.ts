// Directory accounts end to end: a real slapd over LDAPS, Berth provisioning users at login, mapping
// (nested) directory groups to teams and to system admin, and the background sync disabling users who
// left — revoking their tokens — while an outage of the directory disables nobody.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { tryPushImage } from '../helpers/oci.js';
import { FIXTURE, startSlapd, type Slapd } from '../helpers/slapd.js';

const U = FIXTURE.users;
const G = FIXTURE.groups;

async function pushImage(b: BerthProcess, name: string, tag: string, auth: string): Promise<number> {
  return (await tryPushImage(b.url, name, tag, { authorization: auth })).status;
}

async function token(b: BerthProcess, user: string, password: string, scope = 'repository:acme/app:pull,push'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${b.url}/token?${new URLSearchParams({ service: 'berth', scope, offline_token: 'true' })}`, { headers: { authorization: basicAuth(user, password) } });
  return { status: res.status, body: await res.json() };
}

describe('LDAP / Active Directory accounts', () => {
  let slapd: Slapd;
  let b: BerthProcess;
  let admin: ApiClient;
  let configFile: string;

  before(async () => {
    slapd = await startSlapd({ tls: true });
    // The CA stays readable after slapd stops (its directory goes with it): an outage, not a missing file.
    const caFile = path.join(await tempDir('berth-ldap-ca-'), 'ca.pem');
    await copyFile(slapd.caFile, caFile);
    b = await startBerth({
      auth: true,
      config: {
        auth: {
          ldap: {
            enabled: true, url: slapd.ldapsUrl, caFile,
            bindDn: FIXTURE.service.dn, bindPassword: FIXTURE.service.password,
            userBaseDn: FIXTURE.peopleDn, disabledFilter: FIXTURE.disabledFilter,
            groups: { mode: 'memberOf', nested: 'recursive', groupBaseDn: FIXTURE.groupsDn },
            adminGroups: [G.registryAdmins.toUpperCase()],
            syncInterval: 2,
          },
        },
      },
    });
    configFile = b.proc.spawnargs[b.proc.spawnargs.indexOf('--config') + 1];
    admin = new ApiClient(b.url);
    assert.equal((await admin.login('admin', ADMIN_PASSWORD)).status, 200);
    assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);
    assert.equal((await admin.post('/organizations/acme/teams', { name: 'devs', directoryGroup: G.developers })).status, 201);
    // ops contains platform, which contains developers: alice reaches it two levels up.
    assert.equal((await admin.post('/organizations/acme/teams', { name: 'ops', directoryGroup: G.ops })).status, 201);
    assert.equal((await admin.put('/organizations/acme/members/team:devs', { role: 'developer' })).status, 204);
    // A local account owns its name: the directory's carol cannot take it over.
    assert.equal((await admin.post('/users', { name: 'carol', password: 'meadow-lark-pass-77' })).status, 201);
  });
  after(async () => {
    await b?.stop();
    await slapd?.stop();
  });

  test('a directory user logs in like docker login does, and is provisioned with mail, name and teams from nested groups', async () => {
    const t = await token(b, 'alice', U.alice.password);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.deepEqual(t.body.token && (JSON.parse(Buffer.from(t.body.token.split('.')[1], 'base64url').toString()).access), [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }]);
    const alice = (await admin.get('/users/alice')).body;
    assert.equal(alice.source, 'ldap');
    assert.equal(alice.email, U.alice.mail);
    assert.equal(alice.displayName, U.alice.cn);
    assert.equal(alice.admin, false);
    assert.deepEqual((await admin.get('/organizations/acme/teams/devs')).body.memberList, [{ name: 'alice', source: 'directory' }]);
    assert.deepEqual((await admin.get('/organizations/acme/teams/ops')).body.memberList, [{ name: 'alice', source: 'directory' }]);
    assert.equal(await pushImage(b, 'acme/app', 'v1', basicAuth('alice', U.alice.password)), 201);
    // The web/API login works the same way.
    const c = new ApiClient(b.url);
    assert.equal((await c.login('Alice', U.alice.password)).body.user.name, 'alice');
  });

  test("a directory user's name cannot be taken as an organization before their first login", async () => {
    // bob has not logged in yet: without the directory check, whoever made the organization would own bob/*.
    assert.equal((await admin.get('/users/bob')).status, 404);
    const mallory = new ApiClient(b.url, basicAuth('alice', U.alice.password));
    for (const c of [mallory, admin]) {
      const r = await c.post('/organizations', { name: 'bob' });
      assert.equal(r.status, 409);
      assert.match(r.body.error.message, /directory user/);
    }
    assert.equal((await admin.post('/organizations', { name: 'not-in-the-directory' })).status, 201);
  });

  test('members of the admin group are system administrators', async () => {
    const bob = new ApiClient(b.url, basicAuth('bob', U.bob.password));
    const me = await bob.get('/user');
    assert.equal(me.status, 200);
    assert.equal(me.body.admin, true);
    assert.equal((await bob.get('/users')).status, 200);
  });

  test('wrong passwords, unknown and disabled directory users, and a directory user shadowing a local one are refused', async () => {
    assert.equal((await token(b, 'alice', 'not-her-password')).status, 401);
    assert.equal((await token(b, 'nobody', 'whatever-pass-1')).status, 401);
    assert.equal((await token(b, 'dave', U.dave.password)).status, 401, 'disabled by the disabled filter');
    assert.equal((await token(b, 'erin', U.erin.password)).status, 401, 'disabled by userAccountControl');
    assert.equal((await token(b, 'alice', '')).status, 401, 'an empty password is no unauthenticated bind');
    assert.equal((await token(b, 'carol', U.carol.password)).status, 401);
    assert.equal((await token(b, 'carol', 'meadow-lark-pass-77')).status, 200);
    assert.equal((await admin.get('/users/carol')).body.source, 'local');
    for (const name of ['dave', 'erin']) assert.equal((await admin.get(`/users/${name}`)).status, 404, `${name} was not provisioned`);
  });

  test('a group change in the directory reaches teams at the next sync, not only at the next login', async () => {
    // groupOfNames needs a member: the service account takes alice's place.
    await slapd.modify(`dn: ${G.developers}\nchangetype: modify\nreplace: member\nmember: ${FIXTURE.service.dn}\n`);
    const sync = await runCli(['ldap', 'sync', '--data', b.dataDir, '--config', configFile]);
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(sync.stdout, /checked \d+ directory users: \d+ updated, 0 disabled/);
    assert.deepEqual((await admin.get('/organizations/acme/teams/devs')).body.memberList, []);
    assert.deepEqual((await admin.get('/organizations/acme/teams/ops')).body.memberList, [], 'the nested membership went with it');
    assert.equal(await pushImage(b, 'acme/app', 'v2', basicAuth('alice', U.alice.password)), 403);
  });

  test('a user who left the directory is disabled by the background sync: tokens, refresh tokens and sessions stop working', async () => {
    const session = new ApiClient(b.url);
    assert.equal((await session.login('alice', U.alice.password)).status, 200);
    const pat = await session.post('/user/tokens', { name: 'ci' });
    assert.equal(pat.status, 201);
    const offline = await token(b, 'alice', U.alice.password);
    assert.ok(offline.body.refresh_token);
    assert.equal((await token(b, 'alice', pat.body.secret)).status, 200);

    await slapd.modify(`dn: ${U.alice.dn}\nchangetype: delete\n`);
    const deadline = Date.now() + 15_000;
    while (!(await admin.get('/users/alice')).body.disabled) {
      assert.ok(Date.now() < deadline, 'the background sync did not disable alice');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(b.logs.some((l) => l.includes('directory user disabled') && l.includes('no longer in the directory')));
    assert.equal((await token(b, 'alice', pat.body.secret)).status, 401);
    assert.equal((await session.get('/user')).status, 401);
    const refresh = await fetch(`${b.url}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: offline.body.refresh_token, service: 'berth', client_id: 'test' }).toString(),
    });
    assert.equal(refresh.status, 401);
  });

  test('while the directory is down, directory logins answer 503, the sync disables nobody, local accounts keep working', async () => {
    await slapd.stop();
    const t = await token(b, 'bob', U.bob.password);
    assert.equal(t.status, 503);
    assert.equal(t.body.errors[0].code, 'UNAVAILABLE');
    const api = await new ApiClient(b.url).login('bob', U.bob.password);
    assert.equal(api.status, 503);
    assert.equal(api.body.error.code, 'UNAVAILABLE');
    const sync = await runCli(['ldap', 'sync', '--data', b.dataDir, '--config', configFile]);
    assert.equal(sync.code, 1);
    assert.match(sync.stdout, /stopped early/);
    assert.equal((await admin.get('/users/bob')).body.disabled, false);
    assert.equal((await token(b, 'admin', ADMIN_PASSWORD)).status, 200);
    // An outage is no password failure: nothing was counted against bob.
    assert.ok(!b.logs.some((l) => l.includes(U.bob.password)));
  });

  test('no directory password reaches the log', async () => {
    const all = b.logs.join('\n');
    for (const s of [FIXTURE.service.password, U.alice.password, U.bob.password, U.carol.password]) assert.ok(!all.includes(s));
  });
});
