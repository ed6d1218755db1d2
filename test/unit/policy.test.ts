// policy.ts as a pure function: which questions it answers without facts, the bases it is asked on
// (a registry request, a token being issued, what a caller may do now), and the pull rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide, decidePull, NEEDS_FACTS, pullsEverything, type PolicySettings, type RepositoryContext } from '../../src/auth/policy.js';
import type { Principal } from '../../src/auth/principal.js';
import { allow, PullRules, refuse, type ManifestResource, type PullRule } from '../../src/auth/pull-rules.js';
import { listMatch, underPath, underPathRange } from '../../src/lib/glob.js';

const settings: PolicySettings = { anonymousPull: true, usersCreateOrganizations: true, pushCreatesOrganization: false };
const admin: Principal = { kind: 'user', id: 1, name: 'admin', admin: true, source: 'local', via: 'basic' };
const alice: Principal = { kind: 'user', id: 2, name: 'alice', admin: false, source: 'local', via: 'basic' };
const anonymous: Principal = { kind: 'anonymous' };
const repo = (name: string) => ({ type: 'repository' as const, name });
const reader: RepositoryContext = { namespace: 'org', owner: false, role: 'reader', public: false };
const none: RepositoryContext = { namespace: 'none', owner: false, role: null, public: false };

describe('decide', () => {
  test('asks for facts only when they can change the answer', () => {
    assert.equal(decide(alice, repo('acme/app'), 'pull', settings), NEEDS_FACTS);
    assert.equal(decide(alice, { type: 'organization', name: 'acme' }, 'read', settings), NEEDS_FACTS);
    // Administrators: everything at once, but a push (the namespace may have no owner) and others' credentials.
    assert.equal(decide(admin, repo('acme/app'), 'pull', settings), true);
    assert.equal(decide(admin, repo('acme/app'), 'push', settings), NEEDS_FACTS);
    assert.equal(decide(admin, { type: 'account', name: 'alice' }, 'manage', settings), false);
    // Without anonymous access, anonymous callers are refused before anything is loaded.
    assert.equal(decide(anonymous, repo('acme/app'), 'pull', { ...settings, anonymousPull: false }), false);
    assert.equal(decide(alice, { type: 'system', name: 'organizations' }, 'create', settings), true);
    assert.equal(decide(alice, { type: 'system', name: 'organizations' }, 'create', { ...settings, usersCreateOrganizations: false }), false);
  });

  test('decides from the facts once they are loaded', () => {
    assert.equal(decide(alice, repo('acme/app'), 'pull', settings, reader), true);
    assert.equal(decide(alice, repo('acme/app'), 'push', settings, reader), false);
    // Nobody pushes into a namespace without owner, administrators neither, unless the push claims it.
    assert.equal(decide(admin, repo('ghost/app'), 'push', settings, none), false);
    assert.equal(decide(alice, repo('ghost/app'), 'push', { ...settings, pushCreatesOrganization: true }, none), true);
    assert.equal(decide(alice, repo('ghost/app'), 'push', { ...settings, pushCreatesOrganization: true, usersCreateOrganizations: false }, none), false);
  });

  test('only administrators adopt a namespace that holds repositories nobody owns', () => {
    assert.equal(decide(admin, { type: 'system', name: 'organizations' }, 'adopt', settings), true);
    assert.equal(decide(alice, { type: 'system', name: 'organizations' }, 'adopt', settings), false);
    assert.equal(decide({ ...admin, source: 'token', limit: [{ pattern: '**', actions: ['*'] }] }, { type: 'system', name: 'organizations' }, 'adopt', settings), false);
  });

  test("a registry request with a bearer token is decided by the token's grant, other questions by roles", () => {
    const bearer: Principal = { ...alice, via: 'token', grant: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }] };
    assert.equal(decide(bearer, repo('acme/app'), 'pull', settings, undefined, 'request'), true);
    assert.equal(decide(bearer, repo('acme/app'), 'push', settings, undefined, 'request'), false);
    assert.equal(decide(bearer, repo('acme/other'), 'pull', settings, undefined, 'request'), false);
    // An administrator's token is no wider than its grant.
    assert.equal(decide({ ...admin, via: 'token', grant: [] }, repo('acme/app'), 'pull', settings, undefined, 'request'), false);
    // Lists (the catalog) decide on roles, not on the grant.
    assert.equal(decide(bearer, repo('acme/other'), 'pull', settings, reader, 'now'), true);
  });

  test('a stale grant (roles changed since it was issued) only bounds a decision taken on the roles of now', () => {
    const stale: Principal = { ...alice, via: 'token', grantStale: true, grant: [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }] };
    assert.equal(decide(stale, repo('acme/app'), 'push', settings, undefined, 'request'), NEEDS_FACTS);
    assert.equal(decide(stale, repo('acme/app'), 'push', settings, { ...reader, role: 'developer' }, 'request'), true);
    assert.equal(decide(stale, repo('acme/app'), 'push', settings, reader, 'request'), false, 'the role went down to reader');
    assert.equal(decide(stale, repo('acme/app'), 'pull', settings, reader, 'request'), true);
    // Roles that grew since do not widen the grant.
    assert.equal(decide(stale, repo('acme/app'), 'delete', settings, { ...reader, role: 'admin' }, 'request'), false);
    assert.equal(decide({ ...stale, admin: true }, repo('acme/other'), 'pull', settings, undefined, 'request'), false);
  });

  test('a registry token being issued carries registry actions only', () => {
    assert.equal(decide(admin, repo('acme/app'), 'pull', settings, undefined, 'issue'), true);
    assert.equal(decide(admin, repo('acme/app'), 'settings', settings, undefined, 'issue'), false);
    assert.equal(decide(admin, { type: 'organization', name: 'acme' }, 'admin', settings, undefined, 'issue'), false);
    assert.equal(decide(alice, { type: 'registry', name: 'catalog' }, '*', settings, undefined, 'issue'), true);
    assert.equal(decide(admin, repo('acme/app'), 'settings', settings, undefined, 'now'), true);
  });

  test('access token limits and robots', () => {
    const limited: Principal = { ...alice, source: 'token', limit: [{ pattern: 'acme/*', actions: ['pull'] }] };
    assert.equal(decide(limited, repo('acme/app'), 'pull', settings, reader), true);
    assert.equal(decide(limited, repo('acme/team/app'), 'pull', settings, reader), false);
    assert.equal(decide(limited, { type: 'account', name: 'alice' }, 'manage', settings), false);
    const robot: Principal = { kind: 'user', id: 9, name: 'acme+ci', admin: false, source: 'robot', via: 'basic', limit: [{ pattern: '**', actions: ['*'] }] };
    assert.equal(decide(robot, repo('acme/app'), 'push', settings, reader), true);
    assert.equal(decide(robot, repo('acmecorp/app'), 'pull', settings, reader), false);
  });

  test('refresh tokens only for password logins', () => {
    assert.equal(decide(alice, { type: 'account', name: 'alice' }, 'refresh', settings), true);
    assert.equal(decide({ ...alice, source: 'token', tokenId: 't1', limit: [] }, { type: 'account', name: 'alice' }, 'refresh', settings), false);
    assert.equal(decide({ ...alice, tokenId: 't1' }, { type: 'account', name: 'alice' }, 'refresh', settings), false);
    assert.equal(decide(alice, { type: 'account', name: 'bob' }, 'refresh', settings), false);
  });

  test('only full administrators see every repository without a decision per name', () => {
    assert.equal(pullsEverything(admin), true);
    assert.equal(pullsEverything({ ...admin, limit: [{ pattern: 'acme/**', actions: ['pull'] }] }), false);
    assert.equal(pullsEverything(alice), false);
    assert.equal(pullsEverything(anonymous), false);
  });
});

describe('decidePull', () => {
  const resource: ManifestResource = { type: 'repository', name: 'acme/app', digest: 'sha256:aa', facts: { trust: { signed: false } }, callerMayPush: false };
  const unsigned: PullRule = { name: 'trust', evaluate: (_p, r) => ((r.facts.trust as { signed: boolean }).signed ? allow() : refuse('not signed by a trusted key')) };

  test('without rules everything passes, and nothing is active', () => {
    assert.deepEqual(decidePull(alice, resource, []), { allow: true });
    assert.equal(new PullRules().active, false);
    assert.equal(new PullRules({ rules: [unsigned] }).active, true);
  });

  test('the first refusal wins and names its rule and reason; administrators are not exempt', () => {
    const later: PullRule = { name: 'later', evaluate: () => refuse('later') };
    assert.deepEqual(decidePull(alice, resource, [unsigned, later]), { allow: false, rule: 'trust', reason: 'not signed by a trusted key' });
    assert.deepEqual(decidePull(admin, resource, [unsigned]), { allow: false, rule: 'trust', reason: 'not signed by a trusted key' });
    assert.deepEqual(decidePull(admin, { ...resource, facts: { trust: { signed: true } } }, [unsigned, { name: 'ok', evaluate: () => allow() }]), { allow: true });
  });

  test('fails closed: a rule that throws, or facts that could not be gathered, refuse', () => {
    const broken: PullRule = { name: 'broken', evaluate: () => { throw new Error('boom'); } };
    assert.deepEqual(decidePull(alice, resource, [broken]), { allow: false, rule: 'broken', reason: 'the pull rule broken failed' });
    const d = decidePull(alice, { ...resource, facts: {} }, [unsigned], ['scanner']);
    assert.equal(d.allow, false);
    assert.match((d as { reason: string }).reason, /facts about the manifest are unavailable \(scanner\)/);
  });
});

describe('path and list matching (lib/glob.ts)', () => {
  test('listMatch: the item or the wildcard', () => {
    assert.equal(listMatch(['pull', 'push'], 'push'), true);
    assert.equal(listMatch(['pull'], 'push'), false);
    assert.equal(listMatch(['*'], 'delete'), true);
    assert.equal(listMatch([], 'pull'), false);
  });

  test('underPath: below the path, component-wise', () => {
    assert.equal(underPath('acme', 'acme/app'), true);
    assert.equal(underPath('acme', 'acme/team/app'), true);
    assert.equal(underPath('acme', 'acmecorp/app'), false);
    assert.equal(underPath('acme', 'acme'), false);
  });

  test('underPathRange: exactly the names below the path, in byte order', () => {
    const { from, to } = underPathRange('acme');
    const names = ['acme', 'acme-x/app', 'acme.x/app', 'acme/a', 'acme/z/z', 'acme0', 'acmecorp/app'].sort();
    assert.deepEqual(names.filter((n) => n >= from && n < to), ['acme/a', 'acme/z/z']);
  });
});
