// Docker token authentication and the authorization decision, over the real HTTP API.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { openTestDb } from '../helpers/db.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const ALICE_PW = 'correct-horse-battery-42';

async function token(b: BerthProcess, scopes: string[], auth?: string, extra = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const q = new URLSearchParams({ service: 'berth' });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${b.url}/token?${q}${extra}`, { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function pushImage(b: BerthProcess, name: string, tag: string, headers: Record<string, string>): Promise<number> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(2000);
  await pushBlob(b.url, name, config, headers);
  await pushBlob(b.url, name, layer, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }] };
  return (await pushManifest(b.url, name, tag, m, MT.ociManifest, headers)).res.status;
}

function challengeOf(res: Response): Record<string, string> {
  const h = res.headers.get('www-authenticate') ?? '';
  assert.match(h, /^Bearer /);
  return Object.fromEntries([...h.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

describe('token authentication', () => {
  let b: BerthProcess;
  before(async () => {
    b = await startBerth({ auth: true });
    const add = await runCli(['user', 'add', 'alice', '--data', b.dataDir, '--password-stdin'], {}, `${ALICE_PW}\n`);
    assert.equal(add.code, 0, add.stderr);
    // Every namespace has an owner: the administrators' `team` is an organization.
    const org = await runCli(['org', 'create', 'team', '--data', b.dataDir]);
    assert.equal(org.code, 0, org.stderr);
  });
  after(async () => { await b.stop(); });

  test('/v2/ without credentials answers 401 with a Bearer challenge naming realm and service', async () => {
    const res = await fetch(`${b.url}/v2/`);
    assert.equal(res.status, 401);
    const c = challengeOf(res);
    assert.equal(c.realm, `${b.url}/token`);
    assert.equal(c.service, 'berth');
    assert.equal((await res.json() as { errors: { code: string }[] }).errors[0].code, 'UNAUTHORIZED');
  });

  test('a protected route names the scope it needs', async () => {
    const res = await fetch(`${b.url}/v2/alice/app/manifests/v1`);
    assert.equal(res.status, 401);
    assert.equal(challengeOf(res).scope, 'repository:alice/app:pull');
    const push = await fetch(`${b.url}/v2/alice/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(challengeOf(push).scope, 'repository:alice/app:pull,push');
  });

  test('admin gets a token, pushes and pulls with it; the token response has the spec fields', async () => {
    const t = await token(b, ['repository:team/app:pull,push'], basic('admin', ADMIN_PASSWORD));
    assert.equal(t.status, 200);
    assert.equal(t.body.token, t.body.access_token);
    assert.equal(t.body.expires_in, 300);
    assert.ok(!Number.isNaN(Date.parse(String(t.body.issued_at))));
    const auth = { authorization: `Bearer ${t.body.token}` };
    assert.equal(await pushImage(b, 'team/app', 'v1', auth), 201);
    assert.equal((await fetch(`${b.url}/v2/team/app/manifests/v1`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${b.url}/v2/`, { headers: auth })).status, 200);
  });

  test('wrong passwords get no token', async () => {
    assert.equal((await token(b, [], basic('admin', 'nope-nope-nope-nope'))).status, 401);
    assert.equal((await token(b, [], basic('nobody', 'whatever-whatever'))).status, 401);
  });

  test('the grant is the intersection of what was asked and what is allowed', async () => {
    const t = await token(b, ['repository:alice/app:pull,push', 'repository:team/app:pull,push,delete'], basic('alice', ALICE_PW));
    assert.equal(t.status, 200, 'asking for more is trimmed, not an error');
    const claims = JSON.parse(Buffer.from(String(t.body.token).split('.')[1], 'base64url').toString());
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    const auth = { authorization: `Bearer ${t.body.token}` };
    assert.equal(await pushImage(b, 'alice/app', 'v1', auth), 201);
    const denied = await fetch(`${b.url}/v2/team/app/manifests/v1`, { headers: auth });
    assert.equal(denied.status, 401);
    assert.equal(challengeOf(denied).error, 'insufficient_scope');
  });

  test('anonymous tokens grant nothing', async () => {
    const t = await token(b, ['repository:alice/app:pull']);
    assert.equal(t.status, 200);
    const res = await fetch(`${b.url}/v2/alice/app/manifests/v1`, { headers: { authorization: `Bearer ${t.body.token}` } });
    assert.equal(res.status, 401);
  });

  test('Basic credentials work directly on /v2; a user lacking rights gets 403 DENIED', async () => {
    const alice = { authorization: basic('alice', ALICE_PW) };
    assert.equal((await fetch(`${b.url}/v2/alice/app/manifests/v1`, { headers: alice })).status, 200);
    const res = await fetch(`${b.url}/v2/team/app/manifests/v1`, { headers: alice });
    assert.equal(res.status, 403);
    assert.equal((await res.json() as { errors: { code: string }[] }).errors[0].code, 'DENIED');
    assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basic('alice', 'wrong-password-here') } })).status, 401);
  });

  test('the catalog shows only what the caller may pull', async () => {
    const asAlice = await token(b, ['registry:catalog:*'], basic('alice', ALICE_PW));
    const cat = await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: `Bearer ${asAlice.body.token}` } });
    assert.deepEqual((await cat.json() as { repositories: string[] }).repositories, ['alice/app']);
    const asAdmin = await token(b, ['registry:catalog:*'], basic('admin', ADMIN_PASSWORD));
    const all = await fetch(`${b.url}/v2/_catalog`, { headers: { authorization: `Bearer ${asAdmin.body.token}` } });
    assert.deepEqual((await all.json() as { repositories: string[] }).repositories, ['alice/app', 'team/app']);
  });

  test('a mount from a repository the caller may not pull falls back to an upload session', async () => {
    const layer = randomBytes(1000);
    const admin = { authorization: basic('admin', ADMIN_PASSWORD) };
    await pushBlob(b.url, 'team/secret', layer, admin);
    const res = await fetch(`${b.url}/v2/alice/app/blobs/uploads/?mount=${sha256(layer)}&from=team/secret`, { method: 'POST', headers: { authorization: basic('alice', ALICE_PW) } });
    assert.equal(res.status, 202);
    assert.equal((await fetch(`${b.url}/v2/alice/app/blobs/${sha256(layer)}`, { method: 'HEAD', headers: { authorization: basic('alice', ALICE_PW) } })).status, 404);
  });

  test('offline tokens, OAuth2 password and refresh_token grants; a refresh token is no access token', async () => {
    const t = await token(b, ['repository:alice/app:pull'], basic('alice', ALICE_PW), '&offline_token=true&client_id=test');
    const refresh = String(t.body.refresh_token);
    assert.ok(refresh.length > 20);
    const form = (f: Record<string, string>) => fetch(`${b.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(f).toString() });
    const r1 = await form({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth', scope: 'repository:alice/app:pull', client_id: 'test' });
    assert.equal(r1.status, 200);
    const b1 = await r1.json() as { access_token: string; scope: string };
    assert.equal(b1.scope, 'repository:alice/app:pull');
    assert.equal((await fetch(`${b.url}/v2/alice/app/manifests/v1`, { headers: { authorization: `Bearer ${b1.access_token}` } })).status, 200);
    const r2 = await form({ grant_type: 'password', username: 'alice', password: ALICE_PW, service: 'berth', scope: 'repository:alice/app:pull', client_id: 'test' });
    assert.equal(r2.status, 200);
    assert.equal((await form({ grant_type: 'password', username: 'alice', password: 'bad-bad-bad-bad', service: 'berth', client_id: 'test' })).status, 401);
    assert.equal((await form({ grant_type: 'refresh_token', refresh_token: 'garbage', service: 'berth', client_id: 'test' })).status, 401);
    assert.equal((await fetch(`${b.url}/v2/alice/app/manifests/v1`, { headers: { authorization: `Bearer ${refresh}` } })).status, 401);
  });

  test('a token from another Berth, or a tampered one, is refused', async () => {
    const other = await startBerth({ auth: true });
    try {
      const foreign = await token(other, ['repository:alice/app:pull'], basic('admin', ADMIN_PASSWORD));
      const res = await fetch(`${b.url}/v2/alice/app/manifests/v1`, { headers: { authorization: `Bearer ${foreign.body.token}` } });
      assert.equal(res.status, 401);
      assert.equal(challengeOf(res).error, 'invalid_token');
    } finally {
      await other.stop();
    }
    const mine = String((await token(b, ['repository:alice/app:pull'], basic('alice', ALICE_PW))).body.token);
    const [h, p, s] = mine.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const edited = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    assert.equal((await fetch(`${b.url}/v2/team/app/manifests/v1`, { headers: { authorization: `Bearer ${edited}` } })).status, 401);
  });

  test('no password or token appears in any log line', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const all = b.logs.join('\n');
    assert.ok(!all.includes(ADMIN_PASSWORD), 'admin password logged');
    assert.ok(!all.includes(ALICE_PW), 'user password logged');
    assert.ok(!/eyJ[A-Za-z0-9_-]{20,}\./.test(all), 'a JWT was logged');
    assert.ok(!/Basic [A-Za-z0-9+/=]{10,}/.test(all), 'Basic credentials were logged');
  });
});

describe('first start', () => {
  test('creates admin with a random password printed once, outside the JSON log', async () => {
    const dir = await tempDir();
    const b = await startBerth({ auth: true, dataDir: dir, env: { BERTH_ADMIN_PASSWORD: '' } });
    let password: string;
    try {
      const line = b.logs.find((l) => l.includes('password:'));
      assert.ok(line, `no password printed:\n${b.logs.join('\n')}`);
      password = line.split('password:')[1].trim();
      assert.ok(password.length >= 20);
      assert.equal((await fetch(`${b.url}/v2/`, { headers: { authorization: basic('admin', password) } })).status, 200);
      const jsonLines = b.logs.filter((l) => l.startsWith('{'));
      assert.ok(!jsonLines.some((l) => l.includes(password)), 'the password is not in the JSON log');
    } finally {
      await b.stop();
    }
    const again = await startBerth({ auth: true, dataDir: dir, env: { BERTH_ADMIN_PASSWORD: '' } });
    try {
      assert.ok(!again.logs.some((l) => l.includes('password:')), 'printed only on the first start');
    } finally {
      await again.stop();
    }
  });
});

describe('accounts and lockouts', () => {
  const PW = 'quiet-meadow-lantern-77';
  test('repeated failures lock the account (429 with Retry-After), every failure is recorded, and it unlocks', async () => {
    const b = await startBerth({ auth: true, config: { auth: { throttle: { accountFailures: 3, addressFailures: 1000, window: 60, lockout: 3 } } } });
    try {
      assert.equal((await runCli(['user', 'add', 'carol', '--data', b.dataDir, '--password-stdin'], {}, PW)).code, 0);
      for (let i = 0; i < 3; i++) assert.equal((await token(b, [], basic('carol', `wrong-password-${i}-xx`))).status, 401);
      const locked = await fetch(`${b.url}/token?service=berth`, { headers: { authorization: basic('carol', PW) } });
      assert.equal(locked.status, 429, 'even the right password is refused while locked');
      assert.ok(Number(locked.headers.get('retry-after')) >= 1);
      assert.equal((await locked.json() as { errors: { code: string }[] }).errors[0].code, 'TOOMANYREQUESTS');
      const onV2 = await fetch(`${b.url}/v2/`, { headers: { authorization: basic('carol', PW) } });
      assert.equal(onV2.status, 429, 'Basic on /v2 is locked too');
      // Another account is not affected.
      assert.equal((await token(b, [], basic('admin', ADMIN_PASSWORD))).status, 200);
      await new Promise((r) => setTimeout(r, 3200));
      assert.equal((await token(b, [], basic('carol', PW))).status, 200, 'unlocked after the lockout');
      const db = openTestDb(b.dataDir, { readonly: true });
      const rows = await db.all<{ address: string; source: string }>("select user_name, address, source from auth_failures where user_name = 'carol'");
      await db.close();
      assert.equal(rows.length, 3, 'each failure recorded');
      assert.equal(rows[0].address, '127.0.0.1');
      assert.equal(rows[0].source, 'local');
    } finally {
      await b.stop();
    }
  });

  test('concurrent failures are all counted', async () => {
    const b = await startBerth({ auth: true, config: { auth: { throttle: { accountFailures: 100, addressFailures: 100, window: 60, lockout: 60 } } } });
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => token(b, [], basic('admin', `parallel-guess-${i}-xxx`)).then((r) => r.status)));
      assert.ok(statuses.every((s) => s === 401));
      const db = openTestDb(b.dataDir, { readonly: true });
      const row = (await db.get<{ failures: number }>("select failures from login_throttle where key = 'user:admin'"))!;
      await db.close();
      assert.equal(row.failures, 20);
    } finally {
      await b.stop();
    }
  });

  test('a guessing loop from one address is locked out across account names', async () => {
    const b = await startBerth({ auth: true, config: { auth: { throttle: { accountFailures: 1000, addressFailures: 5, window: 60, lockout: 60 } } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await token(b, [], basic(`user${i}`, 'guess-guess-guess'))).status);
      assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
      assert.deepEqual(statuses.slice(5), [429, 429, 429]);
    } finally {
      await b.stop();
    }
  });

  test('disabling a user revokes their tokens at once; user list shows it', async () => {
    const b = await startBerth({ auth: true });
    try {
      assert.equal((await runCli(['user', 'add', 'carol', '--data', b.dataDir, '--password-stdin'], {}, PW)).code, 0);
      const t = await token(b, ['repository:carol/app:pull,push'], basic('carol', PW));
      const auth = { authorization: `Bearer ${t.body.token}` };
      assert.equal(await pushImage(b, 'carol/app', 'v1', auth), 201);
      assert.equal((await runCli(['user', 'disable', 'carol', '--data', b.dataDir])).code, 0);
      const res = await fetch(`${b.url}/v2/carol/app/manifests/v1`, { headers: auth });
      assert.equal(res.status, 401, 'the unexpired token is refused');
      assert.equal((await token(b, [], basic('carol', PW))).status, 401, 'and no new one is issued');
      const list = await runCli(['user', 'list', '--data', b.dataDir]);
      assert.match(list.stdout, /^NAME\tSOURCE\tADMIN\tSTATUS\tTOTP$/m);
      assert.match(list.stdout, /^carol\tlocal\tno\tdisabled\toff$/m);
      assert.match(list.stdout, /^admin\tlocal\tyes\tactive\toff$/m);
    } finally {
      await b.stop();
    }
  });
});

describe('personal access tokens', () => {
  const PW = 'silver-orchard-window-91';
  test('limited to their patterns and actions, usable for docker-style login, revocable, expiring, stored hashed', async () => {
    const b = await startBerth({ auth: true });
    try {
      assert.equal((await runCli(['user', 'add', 'dave', '--data', b.dataDir, '--password-stdin'], {}, PW)).code, 0);
      const created = await runCli(['token', 'create', 'dave', '--name', 'ci', '--scope', 'dave/ci-*:pull,push', '--data', b.dataDir]);
      assert.equal(created.code, 0, created.stderr);
      const secret = created.stdout.trim().split('\n').pop()!;
      assert.match(secret, /^berth_pat_[0-9a-f]{12}_/);
      const id = /created token ([0-9a-f]{12})/.exec(created.stdout)![1];

      const t = await token(b, ['repository:dave/ci-app:pull,push', 'repository:dave/other:pull,push'], basic('dave', secret), '&offline_token=true');
      assert.equal(t.status, 200);
      assert.equal(t.body.refresh_token, undefined, 'no refresh token for an access-token login');
      const claims = JSON.parse(Buffer.from(String(t.body.token).split('.')[1], 'base64url').toString());
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'dave/ci-app', actions: ['pull', 'push'] }]);
      assert.equal(claims.auth_source, 'token');
      assert.equal(await pushImage(b, 'dave/ci-app', 'v1', { authorization: `Bearer ${t.body.token}` }), 201);

      const direct = { authorization: basic('dave', secret) };
      assert.equal((await fetch(`${b.url}/v2/dave/ci-app/manifests/v1`, { headers: direct })).status, 200);
      assert.equal((await fetch(`${b.url}/v2/dave/other/blobs/uploads/`, { method: 'POST', headers: direct })).status, 403, 'outside the pattern');
      assert.equal((await fetch(`${b.url}/v2/dave/ci-app/manifests/v1`, { method: 'DELETE', headers: direct })).status, 403, 'action not granted');
      assert.equal((await token(b, [], basic('admin', secret))).status, 401, 'only with its own user name');

      const list = await runCli(['token', 'list', 'dave', '--data', b.dataDir]);
      assert.match(list.stdout, new RegExp(`^${id}\\tci\\tactive\\texpires -\\tlast used \\d{4}-`, 'm'));
      assert.ok(!list.stdout.includes(secret.slice(23)), 'list never shows the secret');
      const stored = openTestDb(b.dataDir, { readonly: true });
      const contents = await stored.contents().finally(() => stored.close());
      assert.ok(contents.includes(Buffer.from('ci-app')), 'the database was read');
      assert.ok(!contents.includes(Buffer.from(secret)), 'the database does not hold the secret');

      assert.equal((await runCli(['token', 'revoke', id, '--data', b.dataDir])).code, 0);
      assert.equal((await fetch(`${b.url}/v2/dave/ci-app/manifests/v1`, { headers: direct })).status, 401, 'revoked');

      const short = await runCli(['token', 'create', 'dave', '--name', 'brief', '--expires', '0.00002', '--data', b.dataDir]);
      const brief = short.stdout.trim().split('\n').pop()!;
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await token(b, [], basic('dave', brief))).status, 401, 'expired');
    } finally {
      await b.stop();
    }
  });
});

describe('signing keys', () => {
  test('JWKS lists the verifying keys; rotate-keys beside a running server keeps old tokens valid', async () => {
    const b = await startBerth({ auth: true });
    try {
      const first = await token(b, ['repository:admin/x:pull'], basic('admin', ADMIN_PASSWORD));
      const jwks1 = await (await fetch(`${b.url}/token/jwks`)).json() as { keys: { kid: string; alg: string; kty: string; d?: string }[] };
      assert.equal(jwks1.keys.length, 1);
      assert.equal(jwks1.keys[0].alg, 'ES256');
      assert.equal(jwks1.keys[0].d, undefined, 'no private part is published');
      const rotated = await runCli(['rotate-keys', '--data', b.dataDir]);
      assert.equal(rotated.code, 0, rotated.stderr);
      const jwks2 = await (await fetch(`${b.url}/token/jwks`)).json() as { keys: { kid: string }[] };
      assert.equal(jwks2.keys.length, 2, 'old and new keys both verify for now');
      const r = await fetch(`${b.url}/v2/`, { headers: { authorization: `Bearer ${first.body.token}` } });
      assert.equal(r.status, 200, 'a token signed before the rotation still works');
      // Private keys are in the database only sealed by the master key, which lives in its own file.
      const db = openTestDb(b.dataDir, { readonly: true });
      const sealed = await db.all<{ private_key_sealed: string }>('select private_key_sealed from signing_keys where private_key_sealed is not null');
      const contents = await db.contents();
      await db.close();
      assert.equal(sealed.length, 1, 'only the current key keeps a private half');
      assert.match(sealed[0].private_key_sealed, /^v1\./);
      const { statSync } = await import('node:fs');
      assert.ok(contents.includes(Buffer.from(sealed[0].private_key_sealed)), 'the database was read');
      assert.ok(!contents.includes(Buffer.from('PRIVATE KEY')), 'no plaintext private key in the database');
      assert.equal(statSync(`${b.dataDir}/secrets/master.key`).mode & 0o777, 0o600);
    } finally {
      await b.stop();
    }
  });
});

describe('deployment options', () => {
  test('anonymous pulls of public content can be turned off', async () => {
    const b = await startBerth({ auth: true, config: { auth: { anonymousPull: false } } });
    try {
      assert.equal((await runCli(['org', 'create', 'pub', '--public', '--data', b.dataDir])).code, 0);
      const admin = { authorization: basic('admin', ADMIN_PASSWORD) };
      assert.equal(await pushImage(b, 'pub/app', 'v1', admin), 201);
      assert.equal((await fetch(`${b.url}/v2/pub/app/manifests/v1`)).status, 401, 'anonymous refused');
      const t = await token(b, ['repository:pub/app:pull']);
      assert.equal((await fetch(`${b.url}/v2/pub/app/manifests/v1`, { headers: { authorization: `Bearer ${t.body.token}` } })).status, 401);
      assert.equal((await runCli(['user', 'add', 'erin', '--data', b.dataDir, '--password-stdin'], {}, 'amber-river-stone-5050')).code, 0);
      assert.equal((await fetch(`${b.url}/v2/pub/app/manifests/v1`, { headers: { authorization: basic('erin', 'amber-river-stone-5050') } })).status, 200, 'any account may pull public content');
    } finally {
      await b.stop();
    }
  });

  test('two Berth processes on one database accept each other’s tokens', async () => {
    const a = await startBerth({ auth: true });
    const b = await startBerth({ auth: true, dataDir: a.dataDir });
    try {
      const t = await token(a, ['repository:admin/x:pull,push'], basic('admin', ADMIN_PASSWORD));
      const auth = { authorization: `Bearer ${t.body.token}` };
      assert.equal(await pushImage(b, 'admin/x', 'v1', auth), 201, 'a token from A works on B');
      assert.equal((await fetch(`${a.url}/v2/admin/x/manifests/v1`, { headers: auth })).status, 200, 'and what B stored is on A');
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
