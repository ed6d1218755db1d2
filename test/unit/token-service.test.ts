// Bearer tokens: what is issued verifies, and every way of forging or misusing one is refused.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { MemoryKeyStore, TokenService } from '../../src/auth/token-service.js';
import { TokenError } from '../../src/errors/token-error.js';

const opts = { issuer: 'berth-test', service: 'registry.test' };
const access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function refused(p: Promise<unknown>, reason: RegExp) {
  await assert.rejects(p, (e: unknown) => e instanceof TokenError && reason.test(e.reason), `expected refusal matching ${reason}`);
}

describe('token service', () => {
  test('an issued access token verifies with its claims, kid and lifetime', async () => {
    const svc = new TokenService(new MemoryKeyStore(), opts);
    const t = await svc.issueAccess('alice', access, 'local');
    assert.equal(t.expiresIn, 300);
    const header = decodeProtectedHeader(t.token);
    assert.equal(header.alg, 'ES256');
    assert.ok(header.kid);
    const c = await svc.verifyAccess(t.token);
    assert.equal(c.subject, 'alice');
    assert.deepEqual(c.access, access);
    assert.equal(c.authSource, 'local');
    assert.equal(c.expiresAt - c.issuedAt, 300_000);
  });

  test('lifetimes below the spec floor of 60 s are raised to it', async () => {
    const svc = new TokenService(new MemoryKeyStore(), { ...opts, lifetime: 5 });
    assert.equal((await svc.issueAccess('a', [])).expiresIn, 60);
  });

  test('alg none is refused', async () => {
    const svc = new TokenService(new MemoryKeyStore(), opts);
    const real = await svc.issueAccess('alice', access);
    const [, payload] = real.token.split('.');
    const forged = `${b64({ alg: 'none', typ: 'JWT', kid: decodeProtectedHeader(real.token).kid })}.${payload}.`;
    await refused(svc.verifyAccess(forged), /./);
  });

  test('HS256 signed with the public key as the secret is refused', async () => {
    const store = new MemoryKeyStore();
    const svc = new TokenService(store, opts);
    await svc.issueAccess('alice', access);
    const [key] = await store.list();
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const forged = await new SignJWT({ access, token_use: 'access' }).setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .setIssuer(opts.issuer).setAudience(opts.service).setSubject('mallory').setIssuedAt().setExpirationTime('5m').setJti('x').sign(secret);
    await refused(svc.verifyAccess(forged), /algorithm|ALG/i);
  });

  test('an unknown kid, and a token from another Berth with other keys, are refused', async () => {
    const svc = new TokenService(new MemoryKeyStore(), opts);
    await svc.issueAccess('alice', access);
    const other = new TokenService(new MemoryKeyStore(), opts);
    await refused(svc.verifyAccess((await other.issueAccess('alice', access)).token), /unknown/);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stray = await new SignJWT({ access, token_use: 'access' }).setProtectedHeader({ alg: 'ES256', kid: 'not-a-berth-key' })
      .setIssuer(opts.issuer).setAudience(opts.service).setSubject('alice').setIssuedAt().setExpirationTime('5m').setJti('x').sign(privateKey);
    await refused(svc.verifyAccess(stray), /unknown/);
  });

  test('expired tokens are refused (after the clock tolerance)', async () => {
    let now = Date.now();
    const svc = new TokenService(new MemoryKeyStore(), { ...opts, now: () => now });
    const t = await svc.issueAccess('alice', access);
    now += 300_000 + 20_000;
    await svc.verifyAccess(t.token);
    now += 15_000;
    await refused(svc.verifyAccess(t.token), /expired/);
  });

  test('a token verified before stays refused once its key stops verifying, and never passes as a refresh token', async () => {
    let now = Date.now();
    const store = new MemoryKeyStore();
    const svc = new TokenService(store, { ...opts, now: () => now });
    const t = await svc.issueAccess('alice', access);
    await svc.verifyAccess(t.token);
    await svc.verifyAccess(t.token);
    await refused(svc.verifyRefresh(t.token), /aud/);
    const kid = decodeProtectedHeader(t.token).kid!;
    await store.retire(kid, now, now);
    // Another process retired it; this one sees that once its key cache (60 s) refreshes.
    now += 61_000;
    await refused(svc.verifyAccess(t.token), /unknown or retired/);
  });

  test('a wrong issuer or audience is refused', async () => {
    const store = new MemoryKeyStore();
    const svc = new TokenService(store, opts);
    const otherIssuer = new TokenService(store, { ...opts, issuer: 'someone-else' });
    const otherAudience = new TokenService(store, { ...opts, service: 'other.registry' });
    await refused(svc.verifyAccess((await otherIssuer.issueAccess('alice', access)).token), /iss/);
    await refused(svc.verifyAccess((await otherAudience.issueAccess('alice', access)).token), /aud/);
  });

  test('an edited scope breaks the signature', async () => {
    const svc = new TokenService(new MemoryKeyStore(), opts);
    const t = await svc.issueAccess('alice', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const [h, p, sig] = t.token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.access = [{ type: 'repository', name: '*', actions: ['*'] }];
    await refused(svc.verifyAccess(`${h}.${b64(claims)}.${sig}`), /signature|ERR_JWS/i);
  });

  test('refresh tokens are not access tokens, and access tokens are not refresh tokens', async () => {
    const svc = new TokenService(new MemoryKeyStore(), opts);
    const refresh = await svc.issueRefresh('alice', 'local');
    assert.equal((await svc.verifyRefresh(refresh)).subject, 'alice');
    await refused(svc.verifyAccess(refresh), /aud|access/);
    await refused(svc.verifyRefresh((await svc.issueAccess('alice', access)).token), /aud|refresh/);
  });

  test('rotation: old tokens verify until they expire, new ones use the new key', async () => {
    let now = Date.now();
    const svc = new TokenService(new MemoryKeyStore(), { ...opts, now: () => now });
    const old = await svc.issueAccess('alice', access);
    const newKid = await svc.rotate();
    const fresh = await svc.issueAccess('alice', access);
    assert.equal(decodeProtectedHeader(fresh.token).kid, newKid);
    assert.notEqual(decodeProtectedHeader(old.token).kid, newKid);
    await svc.verifyAccess(old.token);
    assert.equal((await svc.jwks()).keys.length, 2);
    now += 460_000;
    await refused(svc.verifyAccess(old.token), /unknown|retired|expired/);
    assert.equal((await svc.jwks()).keys.length, 1);
  });

  test('processes sharing a key store accept each other’s tokens, also right after a rotation', async () => {
    const store = new MemoryKeyStore();
    const a = new TokenService(store, opts);
    const b = new TokenService(store, opts);
    await b.verifyAccess((await a.issueAccess('alice', access)).token);
    await a.rotate();
    const t = await a.issueAccess('alice', access);
    assert.equal((await b.verifyAccess(t.token)).subject, 'alice');
  });
});

describe('automatic key rotation', () => {
  test('a key older than the rotation period is replaced at the next issuance', async () => {
    let now = Date.now();
    const store = new MemoryKeyStore();
    const svc = new TokenService(store, { ...opts, rotateAfter: 3600, now: () => now });
    const first = decodeProtectedHeader((await svc.issueAccess('a', [])).token).kid;
    now += 1800_000;
    assert.equal(decodeProtectedHeader((await svc.issueAccess('a', [])).token).kid, first, 'not yet');
    const old = await svc.issueAccess('a', []);
    now += 1801_000;
    const next = decodeProtectedHeader((await svc.issueAccess('a', [])).token).kid;
    assert.notEqual(next, first);
    assert.equal((await store.list()).filter((k) => k.signUntil === null).length, 1, 'one signing key at a time');
    await assert.rejects(svc.verifyAccess(old.token), 'the old key outlived its tokens only by their lifetime');
  });
});
