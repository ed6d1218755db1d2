// berth-test: both-dialects
// The pull policy on findings, below HTTP: which policy applies (the repository's own, else its
// organization's), images not scanned yet, allow-list entries and their expiry, exempt principals and
// pushers, and that a re-scan in progress never refuses (the last result stands).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/db/database.js';
import { Journal, SYSTEM_CONTEXT } from '../../src/audit/journal.js';
import { saveCatalog, enqueueScans } from '../../src/db/scans.js';
import { saveFindings } from '../../src/db/vulns.js';
import { ScanPolicies } from '../../src/scan/scan-policy.js';
import { decidePull } from '../../src/auth/policy.js';
import type { Principal } from '../../src/auth/principal.js';
import { newTestDatabase, openStoreAt } from '../helpers/db.js';

let db: { location: string; drop(): Promise<void> };
let meta: MetadataStore;
let policies: ScanPolicies;

const user = (name: string): Principal => ({ kind: 'user', id: 1, name, admin: true, source: 'local', via: 'basic' });

before(async () => {
  db = await newTestDatabase('berth-scan-policy-');
  meta = await openStoreAt(db.location);
  policies = new ScanPolicies(meta, new Journal(meta));
  await meta.transaction(async (tx) => {
    await saveCatalog(tx, { digest: 'sha256:vuln', mediaType: 'm', status: 'done', catalog: '{"platforms":[]}', packages: 1, error: null, scanner: 't', scannedAt: 1, durationMs: 0, bytesRead: 0 });
    await saveFindings(tx, {
      digest: 'sha256:vuln', dbVersion: 1, matchedAt: 1, counts: { critical: 0, high: 1, medium: 1, low: 0, unknown: 1 },
      findings: JSON.stringify([
        { id: 'CVE-1', ids: ['CVE-1', 'GHSA-x'], severity: 'high', platform: 'p', package: { name: 'a', version: '1' }, confidence: 'exact', sources: [] },
        { id: 'CVE-2', ids: ['CVE-2'], severity: 'medium', platform: 'p', package: { name: 'b', version: '1' }, confidence: 'exact', sources: [] },
        { id: 'CVE-3', ids: ['CVE-3'], severity: 'unknown', platform: 'p', package: { name: 'c', version: '1' }, confidence: 'exact', sources: [] },
      ]),
    });
  });
});

after(async () => {
  await meta?.close();
  await db?.drop();
});

async function decide(p: Principal, name: string, digest: string, callerMayPush = false) {
  const facts = { scan: await policies.facts(name, digest) };
  return decidePull(p, { type: 'repository', name, digest, facts, callerMayPush }, [policies.rule()]);
}

test('no policy: everything is pulled, and nothing is read', async () => {
  assert.deepEqual(await decide(user('alice'), 'acme/app', 'sha256:vuln'), { allow: true });
});

test("the organization's policy applies unless the repository has its own; findings below the severity and of unknown severity pass", async () => {
  await policies.set('acme', { severity: 'high', unscanned: 'allow', exempt: [], exemptPushers: false }, SYSTEM_CONTEXT);
  const d = await decide(user('alice'), 'acme/app', 'sha256:vuln');
  assert.equal(d.allow, false);
  assert.ok(!d.allow && d.rule === 'vulnerability-policy' && (d.detail?.vulnerabilities as string[]).join() === 'CVE-1', JSON.stringify(d));
  await policies.set('acme/app', { severity: 'critical', unscanned: 'allow', exempt: [], exemptPushers: false }, SYSTEM_CONTEXT);
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln')).allow, true, "the repository's own wins");
  assert.equal((await decide(user('alice'), 'acme/other', 'sha256:vuln')).allow, false, "the organization's for the others");
  await policies.set('acme/app', { severity: 'medium', unscanned: 'allow', exempt: [], exemptPushers: false }, SYSTEM_CONTEXT);
  const m = await decide(user('alice'), 'acme/app', 'sha256:vuln');
  assert.ok(!m.allow && (m.detail?.vulnerabilities as string[]).join() === 'CVE-1,CVE-2');
});

test('allow-list entries waive by any of a finding\'s ids until they expire', async () => {
  await policies.allow('acme', 'GHSA-x', Date.now() + 60_000, 'accepted', SYSTEM_CONTEXT);
  await policies.allow('acme/app', 'CVE-2', Date.now() - 1, 'expired already', SYSTEM_CONTEXT);
  const d = await decide(user('alice'), 'acme/app', 'sha256:vuln');
  assert.ok(!d.allow && (d.detail?.vulnerabilities as string[]).join() === 'CVE-2', 'CVE-1 waived by its alias; the expired entry waives nothing');
  await policies.allow('acme/app', 'CVE-2', Date.now() + 60_000, 'renewed', SYSTEM_CONTEXT);
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln')).allow, true);
  assert.equal(await policies.disallow('acme/app', 'CVE-2', SYSTEM_CONTEXT), true);
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln')).allow, false);
});

test('exempt principals, and pushers when the policy says so; administrators are not exempt by being administrators', async () => {
  await policies.set('acme/app', { severity: 'medium', unscanned: 'allow', exempt: ['ci-robot'], exemptPushers: true }, SYSTEM_CONTEXT);
  assert.equal((await decide(user('ci-robot'), 'acme/app', 'sha256:vuln')).allow, true);
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln', true)).allow, true, 'a pusher');
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln', false)).allow, false, 'an administrator that is no pusher here');
  assert.equal((await decide({ kind: 'anonymous' }, 'acme/app', 'sha256:vuln')).allow, false);
  assert.equal(policies.factSource().asksCallerPush?.({ scan: await policies.facts('acme/app', 'sha256:vuln') }), true);
});

test('images not scanned yet: refused only when the policy says block; a re-scan in progress keeps the last result', async () => {
  await policies.set('acme/app', { severity: 'high', unscanned: 'allow', exempt: [], exemptPushers: false }, SYSTEM_CONTEXT);
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:new')).allow, true);
  await policies.set('acme/app', { severity: 'high', unscanned: 'block', exempt: [], exemptPushers: false }, SYSTEM_CONTEXT);
  const d = await decide(user('alice'), 'acme/app', 'sha256:new');
  assert.ok(!d.allow && /not scanned yet/.test(d.reason));
  // Queued again (a re-scan): the stored findings decide, not the pending state.
  await policies.allow('acme', 'CVE-1', Date.now() + 60_000, 'accepted', SYSTEM_CONTEXT);
  await meta.transaction((tx) => enqueueScans(tx, [{ digest: 'sha256:vuln', repository: 'acme/app', reason: 'request' }], Date.now(), true));
  assert.equal((await decide(user('alice'), 'acme/app', 'sha256:vuln')).allow, true);
});
