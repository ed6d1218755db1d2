// Regression tests for holes found by attacking Berth as an ordinary user: namespace takeover, pattern
// ReDoS, credential changes not seen by another process, tokens outliving what minted them, limited tokens
// listing the whole catalog, unthrottled secret checks, lockouts as a weapon, and two conformance answers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import { ADMIN_PASSWORD, runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

const PW = 'correct-horse-battery-42';
const admin = basicAuth('admin', ADMIN_PASSWORD);

async function token(b: BerthProcess, scopes: string[], auth?: string, extra = ''): Promise<{ status: number; body: Record<string, any>; headers: Headers }> {
  const q = new URLSearchParams({ service: 'berth' });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${b.url}/token?${q}${extra}`, { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, body: await res.json() as Record<string, any>, headers: res.headers };
}
const bearer = async (b: BerthProcess, scopes: string[], auth: string) => {
  const t = await token(b, scopes, auth);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return `Bearer ${t.body.token}`;
};

async function pushImage(b: BerthProcess, name: string, tag: string, authorization: string): Promise<Response> {
  const headers = { authorization };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(500);
  await pushBlob(b.url, name, config, headers);
  await pushBlob(b.url, name, layer, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }] };
  return (await pushManifest(b.url, name, tag, m, MT.ociManifest, headers)).res;
}

function challengeOf(res: Response): Record<string, string> {
  const h = res.headers.get('www-authenticate') ?? '';
  assert.match(h, /^Bearer /);
  return Object.fromEntries([...h.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

async function addUser(b: BerthProcess, name: string, extra: string[] = []): Promise<void> {
  const r = await runCli(['user', 'add', name, ...extra, '--data', b.dataDir, '--password-stdin'], {}, `${PW}\n`);
  assert.equal(r.code, 0, r.stderr);
}

async function auditActions(b: BerthProcess, action: string): Promise<any[]> {
  const r = await new ApiClient(b.url, admin).get(`/audit?action=${encodeURIComponent(action)}&n=100`);
  assert.equal(r.status, 200);
  return r.body.items;
}

describe('namespace ownership', () => {
  let b: BerthProcess;
  before(async () => {
    // Pushed while authentication was off: namespaces nobody owns, as older versions could leave behind.
    b = await startBerth({ auth: false });
    assert.equal((await pushImage(b, 'library/alpine', '3', '')).status, 201);
    await b.stop();
    b = await startBerth({ auth: true, dataDir: b.dataDir });
    await addUser(b, 'mallory');
    await addUser(b, 'dave');
    await addUser(b, 'heir');
  });
  after(async () => { await b.stop(); });

  test('a namespace found without an owner at start becomes an organization of the administrators, with a warning', async () => {
    const a = new ApiClient(b.url, admin);
    const org = await a.get('/organizations/library');
    assert.equal(org.status, 200);
    assert.equal(org.body.role, 'admin');
    const members = await a.get('/organizations/library/members');
    assert.deepEqual(members.body.items.map((m: { name: string; role: string }) => `${m.name}:${m.role}`), ['admin:admin']);
    assert.ok(b.logs.some((l) => l.includes('"namespace":"library"') && l.includes('without an owner')), 'a warning names the namespace');
    assert.ok((await auditActions(b, 'org.create')).some((r) => r.resource === 'organization:library'));
  });

  test('nobody can take over the adopted namespace by creating its organization', async () => {
    const m = new ApiClient(b.url, basicAuth('mallory', PW));
    const r = await m.post('/organizations', { name: 'library' });
    assert.equal(r.status, 409);
    assert.equal((await fetch(`${b.url}/v2/library/alpine/manifests/3`, { headers: { authorization: basicAuth('mallory', PW) } })).status, 403);
  });

  test('a push into a namespace nobody owns is refused, for administrators too, and says why', async () => {
    const res = await fetch(`${b.url}/v2/ghost/app/blobs/uploads/`, { method: 'POST', headers: { authorization: admin } });
    assert.equal(res.status, 403);
    const body = await res.json() as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0].code, 'DENIED');
    assert.match(body.errors[0].message, /namespace ghost has no owner/);
    // With a token: the grant leaves push out, and the challenge says why.
    const auth = await bearer(b, ['repository:ghost/app:pull,push'], admin);
    const viaToken = await fetch(`${b.url}/v2/ghost/app/blobs/uploads/`, { method: 'POST', headers: { authorization: auth } });
    assert.equal(viaToken.status, 401);
    assert.match((await viaToken.json() as { errors: { message: string }[] }).errors[0].message, /no owner/);
    assert.equal((await new ApiClient(b.url, admin).get('/organizations/ghost')).status, 404, 'nothing was created');
  });

  test("an organization's creator owns it from its first moment", async () => {
    const m = new ApiClient(b.url, basicAuth('mallory', PW));
    assert.equal((await m.post('/organizations', { name: 'mallory-org' })).status, 201);
    assert.equal((await m.get('/organizations/mallory-org/members')).body.items[0].name, 'mallory', 'the creator owns it from the start');
  });

  test('deleting a user who owns repositories is refused; transfer keeps them under a new owner', async () => {
    const dave = basicAuth('dave', PW);
    assert.equal((await pushImage(b, 'dave/x', 'v1', dave)).status, 201);
    const a = new ApiClient(b.url, admin);
    const refused = await a.delete('/users/dave');
    assert.equal(refused.status, 409);
    assert.match(refused.body.error.message, /dave\/x/);
    assert.equal((await a.get('/users/dave')).status, 200, 'the user is still there');
    // The namespace is never free in between: nobody can create it.
    assert.equal((await new ApiClient(b.url, basicAuth('mallory', PW)).post('/organizations', { name: 'dave' })).status, 409);
    const bad = await a.call('DELETE', '/users/dave?repositories=transfer&transferTo=dave');
    assert.equal(bad.status, 400);
    const cliRefused = await runCli(['user', 'delete', 'dave', '--data', b.dataDir]);
    assert.equal(cliRefused.code, 1);
    assert.match(cliRefused.stderr, /still owns repositories/);
    const moved = await runCli(['user', 'delete', 'dave', '--transfer-to', 'heir', '--data', b.dataDir]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, /dave is now an organization owned by heir/);
    assert.equal((await a.get('/users/dave')).status, 404);
    const org = await a.get('/organizations/dave/members');
    assert.deepEqual(org.body.items.map((x: { name: string; role: string }) => `${x.name}:${x.role}`), ['heir:admin']);
    assert.equal((await fetch(`${b.url}/v2/dave/x/manifests/v1`, { headers: { authorization: basicAuth('heir', PW) } })).status, 200);
    assert.equal((await fetch(`${b.url}/v2/dave/x/manifests/v1`, { headers: { authorization: basicAuth('mallory', PW) } })).status, 403);
    assert.equal((await new ApiClient(b.url, basicAuth('mallory', PW)).post('/organizations', { name: 'dave' })).status, 409);
  });

  test('a user deleted with their repositories leaves nothing in their namespace', async () => {
    await addUser(b, 'leaver');
    assert.equal((await pushImage(b, 'leaver/app', 'v1', basicAuth('leaver', PW))).status, 201);
    const r = await runCli(['user', 'delete', 'leaver', '--delete-repositories', '--data', b.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deleted 1 repositories/);
    const cat = await (await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: admin } })).json() as { repositories: string[] };
    assert.ok(!cat.repositories.some((n) => n.startsWith('leaver/')));
    assert.ok((await auditActions(b, 'repository.delete')).some((x) => x.resource === 'repository:leaver/app'));
  });

  test('deleting an organization that holds repositories is refused', async () => {
    const r = await new ApiClient(b.url, admin).delete('/organizations/library');
    assert.equal(r.status, 409);
    assert.match(r.body.error.message, /library\/alpine/);
  });
});

describe('auth.pushCreatesOrganization', () => {
  let b: BerthProcess;
  before(async () => {
    b = await startBerth({ auth: true, config: { auth: { pushCreatesOrganization: true } } });
    await addUser(b, 'bob');
    await addUser(b, 'carol');
  });
  after(async () => { await b.stop(); });

  test('a push into a free namespace creates the organization owned by the pusher; others may not follow', async () => {
    const auth = await bearer(b, ['repository:newteam/app:pull,push'], basicAuth('bob', PW));
    assert.equal((await pushImage(b, 'newteam/app', 'v1', auth)).status, 201);
    const members = await new ApiClient(b.url, admin).get('/organizations/newteam/members');
    assert.deepEqual(members.body.items.map((x: { name: string; role: string }) => `${x.name}:${x.role}`), ['bob:admin']);
    const carol = await fetch(`${b.url}/v2/newteam/other/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth('carol', PW) } });
    assert.equal(carol.status, 403);
  });

  test('a personal access token does not claim namespaces', async () => {
    const c = new ApiClient(b.url, basicAuth('carol', PW));
    const t = await c.post('/user/tokens', { name: 'ci' });
    assert.equal(t.status, 201);
    const res = await fetch(`${b.url}/v2/carolsorg/app/blobs/uploads/`, { method: 'POST', headers: { authorization: basicAuth('carol', t.body.secret) } });
    assert.equal(res.status, 403);
  });
});

describe('credentials, tokens and lockouts', () => {
  let b: BerthProcess;
  let b2: BerthProcess;
  before(async () => {
    b = await startBerth({ auth: true, config: { http: { trustProxy: '127.0.0.1' }, auth: { throttle: { accountFailures: 3, accountWideFailures: 6, addressFailures: 50 } } } });
    // A second process on the same database, as with http.workers: 2 or a second machine.
    b2 = await startBerth({ auth: true, dataDir: b.dataDir, config: { http: { trustProxy: '127.0.0.1' }, auth: { throttle: { accountFailures: 3, accountWideFailures: 6, addressFailures: 50 } } } });
    for (const u of ['alice', 'erin', 'frank', 'gina', 'totpuser']) await addUser(b, u);
    const a = new ApiClient(b.url, admin);
    assert.equal((await a.post('/organizations', { name: 'acme' })).status, 201);
    assert.equal((await a.put('/organizations/acme/members/alice', { role: 'developer' })).status, 204);
    assert.equal((await pushImage(b, 'acme/app', 'v1', admin)).status, 201);
    assert.equal((await pushImage(b, 'alice/own', 'v1', basicAuth('alice', PW))).status, 201);
  });
  after(async () => { await b2.stop(); await b.stop(); });

  test('a password changed in one process stops working in the other at once, and tokens minted before die', async () => {
    const old = basicAuth('erin', PW);
    // Both processes have verified the old password recently (and remember it).
    assert.equal((await fetch(`${b2.url}/v2/`, { headers: { authorization: old } })).status, 200);
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: old } })).status, 200);
    const refresh = (await token(b2, [], old, '&offline_token=true')).body.refresh_token as string;
    const access = await bearer(b2, ['repository:erin/app:pull'], old);
    const NEW = 'another-horse-battery-77';
    const e = new ApiClient(b.url);
    assert.equal((await e.login('erin', PW)).status, 200);
    assert.equal((await e.put('/user/password', { currentPassword: PW, newPassword: NEW })).status, 204);
    assert.equal((await fetch(`${b2.url}/v2/`, { headers: { authorization: old } })).status, 401, 'the other process refuses the old password');
    assert.equal((await token(b2, [], old, '&offline_token=true')).status, 401, 'no refresh token can be minted with it');
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth' });
    assert.equal((await fetch(`${b2.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })).status, 401);
    assert.equal((await fetch(`${b2.url}/v2/`, { headers: { authorization: access } })).status, 401);
    // The new password works at once, also in the same second as the change.
    const fresh = await bearer(b2, [], basicAuth('erin', NEW));
    assert.equal((await fetch(`${b2.url}/v2/`, { headers: { authorization: fresh } })).status, 200);
  });

  test('a token obtained with a personal access token dies when that token is revoked', async () => {
    const a = new ApiClient(b.url, basicAuth('alice', PW));
    const t = await a.post('/user/tokens', { name: 'ci' });
    const auth = await bearer(b, ['repository:alice/own:pull'], basicAuth('alice', t.body.secret));
    assert.equal((await fetch(`${b2.url}/v2/alice/own/manifests/v1`, { headers: { authorization: auth } })).status, 200);
    assert.equal((await a.delete(`/user/tokens/${t.body.token.id}`)).status, 204);
    const res = await fetch(`${b2.url}/v2/alice/own/manifests/v1`, { headers: { authorization: auth } });
    assert.equal(res.status, 401);
    assert.match(challengeOf(res).error ?? '', /invalid_token/);
  });

  test("a token obtained with a robot's secret dies when the secret is replaced", async () => {
    const a = new ApiClient(b.url, admin);
    const r = await a.post('/organizations/acme/robots', { name: 'ci', scopes: [{ pattern: 'acme/*', actions: ['pull'] }] });
    assert.equal(r.status, 201);
    const auth = await bearer(b, ['repository:acme/app:pull'], basicAuth('acme+ci', r.body.secret));
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { authorization: auth } })).status, 200);
    assert.equal((await a.post('/organizations/acme/robots/ci/secret')).status, 201);
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { authorization: auth } })).status, 401);
  });

  test('a limited access token lists only the repositories within its limits', async () => {
    const a = new ApiClient(b.url, basicAuth('alice', PW));
    const full = await bearer(b, ['registry:catalog:*'], basicAuth('alice', PW));
    const all = await (await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: full } })).json() as { repositories: string[] };
    assert.deepEqual(all.repositories, ['acme/app', 'alice/own']);
    const t = await a.post('/user/tokens', { name: 'mine', scopes: [{ pattern: 'alice/**', actions: ['pull'] }] });
    const limited = await bearer(b, ['registry:catalog:*'], basicAuth('alice', t.body.secret));
    const some = await (await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: limited } })).json() as { repositories: string[] };
    assert.deepEqual(some.repositories, ['alice/own']);
  });

  test('hostile patterns are refused when stored, and an allowed one answers', async () => {
    const a = new ApiClient(b.url, basicAuth('alice', PW));
    const bad = await a.post('/user/tokens', { name: 'x', scopes: [{ pattern: `alice/${'*a'.repeat(17)}*b`, actions: ['pull'] }] });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /wildcards/);
    const ok = await a.post('/user/tokens', { name: 'y', scopes: [{ pattern: `alice/${'*a'.repeat(15)}*b`, actions: ['pull'] }] });
    assert.equal(ok.status, 201);
    const auth = await bearer(b, [`repository:alice/${'a'.repeat(200)}:pull`], basicAuth('alice', ok.body.secret));
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: auth } })).status, 200);
  });

  test('wrong current passwords on a stolen session are throttled like logins', async () => {
    const s = new ApiClient(b.url);
    assert.equal((await s.login('frank', PW)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await s.put('/user/password', { currentPassword: `wrong-guess-${i}-xxxx`, newPassword: 'whatever-new-pass-1' })).status, 403);
    const locked = await s.put('/user/password', { currentPassword: PW, newPassword: 'whatever-new-pass-1' });
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    assert.ok((await auditActions(b, 'auth.login')).some((r) => r.actor === 'frank' && r.outcome === 'failure' && /current password/.test(r.detail?.reason ?? '')));
    const unlocked = await runCli(['user', 'unlock', 'frank', '--data', b.dataDir]);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.match(unlocked.stdout, /unlocked frank/);
    assert.equal((await s.put('/user/password', { currentPassword: PW, newPassword: 'whatever-new-pass-1' })).status, 204, 'unlocked, the right password works');
  });

  test('wrong one-time codes to turn the second factor off are throttled', async () => {
    const s = new ApiClient(b.url);
    assert.equal((await s.login('totpuser', PW)).status, 200);
    const enrol = await s.post('/user/totp');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.body.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    assert.equal((await s.post('/user/totp/confirm', { code: totp.generate() })).status, 204);
    const wrong = (totp.generate({ timestamp: Date.now() + 300_000 }));
    for (let i = 0; i < 3; i++) assert.equal((await s.post('/user/totp/disable', { code: wrong })).status, 403);
    assert.equal((await s.post('/user/totp/disable', { code: totp.generate() })).status, 429);
    assert.equal((await new ApiClient(b.url, admin).post('/users/totpuser/unlock')).status, 204);
  });

  test('a registry client of an account with a second factor is told to use an access token', async () => {
    const res = await token(b, [], basicAuth('totpuser', PW));
    assert.equal(res.status, 401);
    assert.match(JSON.stringify(res.body), /second factor: log in with a personal access token/);
    const direct = await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('totpuser', PW) } });
    assert.equal(direct.status, 401);
    assert.match(await direct.text(), /personal access token/);
    assert.ok((await auditActions(b, 'auth.login')).some((r) => r.actor === 'totpuser' && /access token is required/.test(r.detail?.reason ?? '')));
  });

  test('failures from one address do not lock the account elsewhere; an administrator unlocks', async () => {
    const from = (addr: string) => ({ authorization: basicAuth('gina', 'not-the-password-x'), 'x-forwarded-for': addr });
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/v2/`, { headers: from('203.0.113.9') })).status, 401);
    const locked = await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', PW), 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    assert.match(await locked.text(), /try again in \d+ s/);
    // Gina herself, elsewhere, is not locked out.
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', PW), 'x-forwarded-for': '198.51.100.7' } })).status, 200);
    assert.equal((await new ApiClient(b.url, basicAuth('gina', PW)).post('/users/gina/unlock')).status, 403, 'only administrators unlock');
    assert.equal((await new ApiClient(b.url, admin).post('/users/gina/unlock')).status, 204);
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', PW), 'x-forwarded-for': '203.0.113.9' } })).status, 200);
    assert.ok((await auditActions(b, 'user.unlock')).some((r) => r.resource === 'user:gina'));
  });

  test('guessing from many addresses locks the account everywhere (a slower, account-wide limit)', async () => {
    for (let i = 0; i < 6; i++) {
      assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', 'not-the-password-x'), 'x-forwarded-for': `192.0.2.${i + 1}` } })).status, 401);
    }
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', PW), 'x-forwarded-for': '198.51.100.8' } })).status, 429);
    assert.equal((await new ApiClient(b.url, admin).post('/users/gina/unlock')).status, 204);
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basicAuth('gina', PW), 'x-forwarded-for': '198.51.100.8' } })).status, 200);
  });
});

describe('conformance answers', () => {
  let b: BerthProcess;
  before(async () => {
    b = await startBerth({ auth: true });
    await runCli(['org', 'create', 'conf', '--data', b.dataDir]);
  });
  after(async () => { await b.stop(); });

  test('GET and HEAD of a manifest whose reference cannot be a tag answer 404 MANIFEST_UNKNOWN; a PUT with it stays 400', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${b.url}/v2/conf/a/manifests/.INVALID_MANIFEST_NAME`, { method, headers: { authorization: admin } });
      assert.equal(res.status, 404, method);
      if (method === 'GET') assert.equal((await res.json() as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_UNKNOWN');
    }
    const put = await fetch(`${b.url}/v2/conf/a/manifests/.INVALID_MANIFEST_NAME`, { method: 'PUT', headers: { authorization: admin, 'content-type': MT.ociManifest }, body: '{}' });
    assert.equal(put.status, 400);
    assert.equal((await put.json() as { errors: { code: string }[] }).errors[0].code, 'TAG_INVALID');
  });

  test('a cross-repository mount is challenged for the source too, and a client that follows the challenge mounts', async () => {
    const layer = randomBytes(300);
    await pushBlob(b.url, 'conf/a', layer, { authorization: admin });
    const path = `/v2/conf/b/blobs/uploads/?mount=${sha256(layer)}&from=conf/a`;
    const first = await fetch(`${b.url}${path}`, { method: 'POST' });
    assert.equal(first.status, 401);
    const scope = challengeOf(first).scope;
    assert.equal(scope, 'repository:conf/b:pull,push repository:conf/a:pull');
    // A token for the target alone is told that the mount needs the source as well.
    const narrow = await bearer(b, ['repository:conf/b:pull,push'], admin);
    const second = await fetch(`${b.url}${path}`, { method: 'POST', headers: { authorization: narrow } });
    assert.equal(second.status, 401);
    assert.equal(challengeOf(second).scope, scope);
    const wide = await bearer(b, scope.split(' '), admin);
    const mounted = await fetch(`${b.url}${path}`, { method: 'POST', headers: { authorization: wide } });
    assert.equal(mounted.status, 201);
    assert.equal(mounted.headers.get('docker-content-digest'), sha256(layer));
  });
});
