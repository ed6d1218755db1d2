// The management API /api/v1 over a real socket: sessions and CSRF, the error shape, users, organizations,
// teams, robots, access tokens, repository settings, the second factor, and the OpenAPI document.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTestDb } from '../helpers/db.js';
import * as OTPAuth from 'otpauth';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, tryPushImage } from '../helpers/oci.js';

const PW = { alice: 'wonderland-rabbit-41', bob: 'builder-can-fix-it-7', carol: 'christmas-song-1843' };

async function pushImage(b: BerthProcess, name: string, tag: string, auth: string): Promise<number> {
  return (await tryPushImage(b.url, name, tag, { authorization: auth })).status;
}

function totpCode(secret: string, offsetSteps = 0): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSteps * 30_000 });
}

describe('management API', () => {
  let b: BerthProcess;
  let admin: ApiClient;
  const secrets: string[] = [ADMIN_PASSWORD, ...Object.values(PW)];

  before(async () => {
    b = await startBerth({ auth: true });
    admin = new ApiClient(b.url);
    assert.equal((await admin.login('admin', ADMIN_PASSWORD)).status, 200);
    for (const [name, password] of Object.entries(PW)) assert.equal((await admin.post('/users', { name, password })).status, 201);
  });
  after(async () => { await b.stop(); });

  test('errors have one shape: unknown route, no credentials, malformed JSON, wrong content type, unknown fields, oversized body', async () => {
    const anon = new ApiClient(b.url);
    const cases: [Promise<{ status: number; body: any }>, number, string][] = [
      [anon.get('/nope'), 404, 'NOT_FOUND'],
      [anon.get('/user'), 401, 'UNAUTHORIZED'],
      [admin.call('POST', '/organizations', '{"name": "x",', {}), 400, 'INVALID_REQUEST'],
      [admin.call('POST', '/organizations', '{"name":"x"}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [admin.post('/organizations', { name: 'x1', owner: 'me' }), 400, 'INVALID_REQUEST'],
      [admin.post('/organizations', { name: 'Bad Name' }), 400, 'INVALID_REQUEST'],
      [admin.post('/organizations', { name: 'x2', pad: 'a'.repeat(70_000) }), 413, 'PAYLOAD_TOO_LARGE'],
      [admin.get('/users/nobody'), 404, 'NOT_FOUND'],
      [admin.get('/repositories/..%2Fetc'), 400, 'INVALID_REQUEST'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error.code, code);
      assert.equal(typeof r.body.error.message, 'string');
      assert.match(r.body.error.requestId, /\S/);
    }
    // No partial state: the refused creations did not happen.
    assert.equal((await admin.get('/organizations/x1')).status, 404);
    assert.equal((await admin.get('/organizations/x2')).status, 404);
  });

  test('sessions: HttpOnly SameSite cookie, CSRF token required for changes, logout ends the session', async () => {
    const c = new ApiClient(b.url);
    const bad = await c.login('alice', 'wrong-password-here');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'UNAUTHORIZED');
    const ok = await c.login('alice', PW.alice);
    assert.equal(ok.status, 200);
    const set = ok.headers.get('set-cookie')!;
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.equal(ok.body.user.name, 'alice');
    assert.deepEqual(ok.body.capabilities, { createOrganizations: true });
    assert.equal((await c.get('/session')).body.csrfToken, ok.body.csrfToken);
    // Without (or with a wrong) CSRF header a cookie request changes nothing.
    const csrf = c.csrf;
    c.csrf = undefined;
    assert.equal((await c.post('/user/tokens', { name: 't' })).body.error.code, 'CSRF_FAILED');
    c.csrf = 'A'.repeat(43);
    assert.equal((await c.post('/user/tokens', { name: 't' })).status, 403);
    c.csrf = csrf;
    assert.equal((await c.get('/user/tokens')).body.items.length, 0);
    const kept = c.cookie;
    assert.equal((await c.delete('/session')).status, 204);
    c.cookie = kept; // a replayed cookie after logout is worthless
    assert.equal((await c.get('/user')).status, 401);
  });

  test('a session idle too long or past its lifetime is over', async () => {
    const c = new ApiClient(b.url);
    await c.login('carol', PW.carol);
    assert.equal((await c.get('/user')).status, 200);
    const db = openTestDb(b.dataDir);
    try {
      await db.run("update sessions set last_seen_at = last_seen_at - 2 * 3600 * 1000 where user_id = (select id from users where name = 'carol')");
    } finally { await db.close(); }
    assert.equal((await c.get('/user')).status, 401);
  });

  test('user administration is for system administrators; the last administrator stays', async () => {
    const alice = new ApiClient(b.url);
    await alice.login('alice', PW.alice);
    assert.equal((await alice.get('/users')).status, 403);
    assert.equal((await alice.post('/users', { name: 'mallory', password: 'sneaky-attack-pass-1' })).status, 403);
    assert.equal((await alice.patch('/users/alice', { admin: true })).status, 403);
    const weak = await admin.post('/users', { name: 'dave', password: 'short' });
    assert.equal(weak.status, 400);
    assert.match(weak.body.error.message, /password/);
    assert.equal((await admin.post('/users', { name: 'alice', password: 'another-long-pass-9' })).status, 409);
    const list = await admin.get('/users?n=2');
    assert.deepEqual(list.body.items.map((u: { name: string }) => u.name), ['admin', 'alice']);
    assert.equal(list.body.next, 'alice');
    assert.deepEqual((await admin.get('/users?last=alice&n=10')).body.items.map((u: { name: string }) => u.name), ['bob', 'carol']);
    assert.equal((await admin.patch('/users/admin', { admin: false })).body.error.code, 'CONFLICT');
    assert.equal((await admin.delete('/users/admin')).status, 409);
  });

  test('disabling a user ends their sessions and Basic logins at once', async () => {
    assert.equal((await admin.post('/users', { name: 'erin', password: 'quiet-heron-river-5' })).status, 201);
    const erin = new ApiClient(b.url);
    await erin.login('erin', 'quiet-heron-river-5');
    const erinBasic = new ApiClient(b.url, basicAuth('erin', 'quiet-heron-river-5'));
    assert.equal((await erinBasic.get('/user')).status, 200);
    const r = await admin.patch('/users/erin', { disabled: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.disabled, true);
    assert.equal((await erin.get('/user')).status, 401);
    assert.equal((await erinBasic.get('/user')).status, 401);
    assert.equal((await admin.delete('/users/erin')).status, 204);
    assert.equal((await admin.get('/users/erin')).status, 404);
  });

  test('organizations: the creator is admin, private ones are hidden, roles grant reading and administering', async () => {
    const alice = new ApiClient(b.url);
    await alice.login('alice', PW.alice);
    const bob = new ApiClient(b.url);
    await bob.login('bob', PW.bob);
    const created = await alice.post('/organizations', { name: 'acme' });
    assert.equal(created.status, 201);
    assert.equal(created.body.role, 'admin');
    assert.equal((await alice.post('/organizations', { name: 'acme' })).status, 409);
    assert.equal((await alice.post('/organizations', { name: 'bob' })).status, 409, "a user's namespace");
    assert.deepEqual((await bob.get('/organizations')).body.items, []);
    assert.equal((await bob.get('/organizations/acme')).status, 403);
    assert.equal((await bob.get('/organizations/no-such-org')).status, 403, 'private and missing look alike');
    assert.equal((await alice.put('/organizations/acme/members/bob', { role: 'reader' })).status, 204);
    assert.equal((await bob.get('/organizations/acme')).body.role, 'reader');
    assert.deepEqual((await bob.get('/organizations')).body.items.map((o: { name: string }) => o.name), ['acme']);
    assert.equal((await bob.patch('/organizations/acme', { public: true })).status, 403);
    assert.equal((await bob.put('/organizations/acme/members/carol', { role: 'admin' })).status, 403);
    assert.equal((await alice.put('/organizations/acme/members/nobody', { role: 'reader' })).status, 404);
    assert.equal((await alice.put('/organizations/acme/members/bob', { role: 'owner' })).status, 400);
    // Teams: a team role on the organization reaches its members.
    assert.equal((await alice.post('/organizations/acme/teams', { name: 'build' })).status, 201);
    assert.equal((await alice.put('/organizations/acme/teams/build/members/carol')).status, 204);
    assert.equal((await alice.put('/organizations/acme/members/team:build', { role: 'developer' })).status, 204);
    const members = (await alice.get('/organizations/acme/members')).body.items;
    assert.deepEqual(members, [{ kind: 'team', name: 'build', role: 'developer' }, { kind: 'user', name: 'alice', role: 'admin' }, { kind: 'user', name: 'bob', role: 'reader' }]);
    const team = await bob.get('/organizations/acme/teams/build');
    assert.deepEqual(team.body.memberList, [{ name: 'carol', source: 'manual' }]);
    const carolBasic = basicAuth('carol', PW.carol);
    assert.equal(await pushImage(b, 'acme/app', 'v1', carolBasic), 201);
    assert.equal(await pushImage(b, 'acme/app', 'v2', basicAuth('bob', PW.bob)), 403);
    // Public organizations are visible to everyone, also anonymously.
    assert.equal((await alice.patch('/organizations/acme', { public: true })).body.public, true);
    const anon = new ApiClient(b.url);
    assert.deepEqual((await anon.get('/organizations')).body.items.map((o: { name: string }) => o.name), ['acme']);
    assert.deepEqual((await anon.get('/repositories')).body.items, [{ name: 'acme/app', public: true }]);
    assert.equal((await alice.patch('/organizations/acme', { public: false })).status, 200);
    assert.deepEqual((await anon.get('/repositories')).body.items, []);
    // An organization with repositories is not removed; a team is.
    assert.equal((await alice.delete('/organizations/acme')).status, 409);
    assert.equal((await alice.delete('/organizations/acme/teams/build')).status, 204);
    assert.deepEqual((await alice.get('/organizations/acme/members')).body.items.map((m: { name: string }) => m.name), ['alice', 'bob']);
  });

  test('repository settings: visibility by maintainers, roles by admins, a repository role beside the organization role', async () => {
    const alice = new ApiClient(b.url);
    await alice.login('alice', PW.alice);
    const bob = new ApiClient(b.url);
    await bob.login('bob', PW.bob);
    const repo = '/repositories/acme%2Fapp';
    const mine = await bob.get(repo);
    assert.equal(mine.status, 200);
    assert.deepEqual(mine.body.permissions, { pull: true, push: false, delete: false, settings: false, members: false });
    assert.equal((await bob.patch(repo, { visibility: 'public' })).status, 403);
    assert.equal((await bob.put(`${repo}/members/bob`, { role: 'admin' })).status, 403);
    assert.equal((await alice.put(`${repo}/members/bob`, { role: 'maintainer' })).status, 204);
    assert.deepEqual((await bob.get(repo)).body.permissions, { pull: true, push: true, delete: true, settings: true, members: false });
    assert.equal((await bob.patch(repo, { visibility: 'public' })).status, 204);
    const anon = new ApiClient(b.url);
    assert.equal((await anon.get(repo)).body.public, true);
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { accept: MT.ociManifest } })).status, 200, 'anonymous pulls of public content');
    assert.deepEqual((await bob.get(`${repo}/members`)).body.items, [{ kind: 'user', name: 'bob', role: 'maintainer' }]);
    assert.equal((await bob.patch(repo, { visibility: 'inherit' })).status, 204);
    assert.equal((await anon.get(repo)).status, 401);
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { accept: MT.ociManifest } })).status, 401);
    assert.deepEqual((await alice.get('/repositories?q=app')).body.items.map((r: { name: string }) => r.name), ['acme/app']);
    assert.deepEqual((await alice.get('/repositories?q=zzz')).body.items, []);
  });

  test('robots: created with a secret shown once, push within their scope, secret replaced, removed', async () => {
    const alice = new ApiClient(b.url);
    await alice.login('alice', PW.alice);
    const bob = new ApiClient(b.url);
    await bob.login('bob', PW.bob);
    assert.equal((await bob.get('/organizations/acme/robots')).status, 403, 'robots are for organization admins');
    assert.equal((await alice.post('/organizations/acme/robots', { name: 'ci', scopes: [{ pattern: 'other/*', actions: ['push'] }] })).status, 400);
    const made = await alice.post('/organizations/acme/robots', { name: 'ci', scopes: [{ pattern: 'acme/ci-*', actions: ['pull', 'push'] }], expiresInDays: 30 });
    assert.equal(made.status, 201);
    assert.equal(made.body.robot.name, 'acme+ci');
    secrets.push(made.body.secret);
    const robotAuth = basicAuth('acme+ci', made.body.secret);
    assert.equal(await pushImage(b, 'acme/ci-tool', 'v1', robotAuth), 201);
    assert.equal(await pushImage(b, 'acme/app', 'v9', robotAuth), 403);
    assert.equal((await new ApiClient(b.url, robotAuth).get('/organizations')).status, 200);
    assert.equal((await new ApiClient(b.url, robotAuth).get('/organizations/acme/robots')).status, 403, 'a robot has no management rights');
    const listed = (await alice.get('/organizations/acme/robots')).body.items;
    assert.equal(listed.length, 1);
    assert.ok(listed[0].lastUsedAt > 0);
    assert.ok(!JSON.stringify(listed).includes(made.body.secret));
    const renewed = await alice.post('/organizations/acme/robots/ci/secret');
    assert.equal(renewed.status, 201);
    secrets.push(renewed.body.secret);
    assert.equal(await pushImage(b, 'acme/ci-tool', 'v2', robotAuth), 401, 'the old secret stops working');
    assert.equal(await pushImage(b, 'acme/ci-tool', 'v2', basicAuth('acme+ci', renewed.body.secret)), 201);
    assert.equal((await alice.delete('/organizations/acme/robots/ci')).status, 204);
    assert.equal(await pushImage(b, 'acme/ci-tool', 'v3', basicAuth('acme+ci', renewed.body.secret)), 401);
  });

  test('access tokens: bearer on the API, limited tokens reach no management, tokens cannot mint tokens, revocation', async () => {
    const created = await admin.post('/user/tokens', { name: 'ci', scopes: [{ pattern: 'acme/**', actions: ['pull'] }] });
    assert.equal(created.status, 201);
    secrets.push(created.body.secret);
    const limited = new ApiClient(b.url, `Bearer ${created.body.secret}`);
    assert.equal((await limited.get('/user')).body.name, 'admin');
    assert.equal((await limited.get('/users')).status, 403, "an admin's limited token is no admin");
    const full = await admin.post('/user/tokens', { name: 'full' });
    secrets.push(full.body.secret);
    const fullClient = new ApiClient(b.url, `Bearer ${full.body.secret}`);
    assert.equal((await fullClient.get('/users')).status, 200);
    assert.equal((await fullClient.post('/user/tokens', { name: 'more' })).status, 403, 'a token cannot mint tokens');
    assert.equal((await new ApiClient(b.url, basicAuth('admin', full.body.secret)).post('/user/tokens', { name: 'more' })).status, 403);
    assert.equal((await new ApiClient(b.url, 'Bearer berth_pat_000000000000_forgedforgedforgedforgedforged12').get('/user')).status, 401);
    assert.equal((await new ApiClient(b.url, 'Bearer eyJhbGciOiJub25lIn0.e30.').get('/user')).status, 401);
    const tokens = (await admin.get('/user/tokens')).body.items;
    assert.deepEqual(tokens.map((t: { name: string }) => t.name), ['ci', 'full']);
    assert.equal((await admin.delete(`/user/tokens/${created.body.token.id}`)).status, 204);
    assert.equal((await limited.get('/user')).status, 401);
    const alice = new ApiClient(b.url);
    await alice.login('alice', PW.alice);
    assert.equal((await alice.delete(`/user/tokens/${full.body.token.id}`)).status, 404, "another user's token");
  });

  test('TOTP: enrol, then logins need a code, each code works once, passwords stop working for registry clients', async () => {
    const carol = new ApiClient(b.url);
    await carol.login('carol', PW.carol);
    const enrol = await carol.post('/user/totp');
    assert.equal(enrol.status, 201);
    assert.match(enrol.body.uri, /^otpauth:\/\/totp\//);
    secrets.push(enrol.body.secret);
    assert.equal((await carol.post('/user/totp/confirm', { code: totpCode(enrol.body.secret, 5) })).status, 400, 'a code far from now');
    // Until confirmed, nothing changes.
    assert.equal((await new ApiClient(b.url, basicAuth('carol', PW.carol)).get('/user')).status, 200);
    assert.equal((await carol.post('/user/totp/confirm', { code: totpCode(enrol.body.secret) })).status, 204);
    assert.equal((await carol.get('/user')).body.totp, true);

    const fresh = new ApiClient(b.url);
    const need = await fresh.login('carol', PW.carol);
    assert.equal(need.status, 401);
    assert.equal(need.body.error.code, 'SECOND_FACTOR_REQUIRED');
    assert.equal((await fresh.login('carol', PW.carol, '000000')).status, 401);
    // The enrolment code was used at this time step; the next step's code is fresh (one step of drift allowed).
    const code = totpCode(enrol.body.secret, 1);
    assert.equal((await fresh.login('carol', PW.carol, code)).status, 200);
    assert.equal((await new ApiClient(b.url).login('carol', PW.carol, code)).status, 401, 'a replayed code is refused');
    // Password-only clients (docker login) must use access tokens now.
    assert.equal((await new ApiClient(b.url, basicAuth('carol', PW.carol)).get('/user')).status, 401);
    const q = new URLSearchParams({ service: 'berth', scope: 'repository:acme/app:pull' });
    assert.equal((await fetch(`${b.url}/token?${q}`, { headers: { authorization: basicAuth('carol', PW.carol) } })).status, 401);
    const pat = await fresh.post('/user/tokens', { name: 'docker' });
    secrets.push(pat.body.secret);
    const t = await fetch(`${b.url}/token?${q}`, { headers: { authorization: basicAuth('carol', pat.body.secret) } });
    assert.equal(t.status, 200);
    // An administrator resets a lost device.
    assert.equal((await admin.delete('/users/carol/totp')).status, 204);
    assert.equal((await new ApiClient(b.url).login('carol', PW.carol)).status, 200);
  });

  test('the OpenAPI document lists every route, its authorization, and only references schemas it defines', async () => {
    const r = await new ApiClient(b.url).get('/openapi.json');
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.equal(doc.openapi, '3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
    for (const want of ['POST /api/v1/session', 'GET /api/v1/users', 'PATCH /api/v1/repositories/{name}', 'POST /api/v1/organizations/{org}/robots', 'PUT /api/v1/organizations/{org}/teams/{team}/members/{user}']) {
      assert.ok(ops.includes(want), `${want} documented`);
    }
    assert.ok(ops.length >= 35, `${ops.length} operations`);
    assert.equal(doc.paths['/api/v1/users'].get['x-berth-authorization'], 'read on system users');
    assert.equal(doc.paths['/api/v1/organizations/{org}/teams'].post['x-berth-authorization'], 'admin on organization {org}');
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    for (const ref of refs) assert.ok(doc.components.schemas[ref], `schema ${ref} defined`);
  });

  test('no password, secret, session or CSRF token reaches the log', async () => {
    const all = b.logs.join('\n');
    for (const s of [...secrets, admin.csrf!, admin.cookie!.split('=')[1]]) assert.ok(!all.includes(s), `a secret (${s.slice(0, 6)}...) was logged`);
  });
});
