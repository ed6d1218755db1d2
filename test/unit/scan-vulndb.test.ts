// berth-test: both-dialects
// The vulnerability database end to end below HTTP: real OSV records (golang/vulndb and
// github/advisory-database, CC-BY-4.0, from ../shared/data/osv) imported in one transaction, matched against
// catalogues, re-imported (a withdrawn record stops matching), and an import that fails half-way leaves
// nothing behind. Runs on the run's dialect (SQLite, then PostgreSQL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetadataStore } from '../../src/db/database.js';
import { Journal, SYSTEM_CONTEXT } from '../../src/audit/journal.js';
import { Outbox } from '../../src/events/outbox.js';
import { vulnCounts, vulnDbVersion, vulnSources } from '../../src/db/vulns.js';
import { saveCatalog } from '../../src/db/scans.js';
import { VulnDbImporter, severityOf, type ImportItem } from '../../src/scan/vulndb-import.js';
import { FindingsService } from '../../src/scan/findings.js';
import type { ImageCatalog, ImagePackage } from '../../src/scan/image.js';
import type { OsvRecord } from '../../src/scan/versions/osv.js';
import { newTestDatabase, openStoreAt } from '../helpers/db.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OSV = path.join(repoRoot, '..', 'shared', 'data', 'osv');

function osvFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? osvFiles(p) : f.endsWith('.json') ? [p] : [];
  });
}

async function* items(records: OsvRecord[], source = 'osv:test'): AsyncGenerator<ImportItem> {
  for (const record of records) yield { source, record };
}

let db: { location: string; drop(): Promise<void> };
let meta: MetadataStore;
let importer: VulnDbImporter;
let findings: FindingsService;
let real: OsvRecord[];

before(async () => {
  assert.ok(existsSync(OSV), `OSV records expected at ${OSV} (shared/data/osv beside the repository)`);
  real = osvFiles(OSV).map((f) => JSON.parse(readFileSync(f, 'utf8')) as OsvRecord);
  assert.ok(real.length >= 50, `the shared OSV records (${real.length})`);
  db = await newTestDatabase('berth-vulndb-');
  meta = await openStoreAt(db.location);
  const journal = new Journal(meta);
  importer = new VulnDbImporter(meta, journal);
  findings = new FindingsService(meta, journal, new Outbox({ dialect: meta.dialect }));
});

after(async () => {
  await meta?.close();
  await db?.drop();
});

const pkg = (p: Partial<ImagePackage> & Pick<ImagePackage, 'type' | 'name' | 'version' | 'ecosystem'>): ImagePackage => ({
  confidence: 'exact', cataloger: 'test', path: `x/${p.name}`, layerIndex: 0, layer: 'sha256:layer', purl: `pkg:${p.type}/${p.name}@${p.version}`, ...p,
});

const catalog = (packages: ImagePackage[]): ImageCatalog => ({
  digest: 'sha256:image', mediaType: 'application/vnd.oci.image.manifest.v1+json',
  platforms: [{ digest: 'sha256:image', packages, issues: [], layers: [] }],
});

test('before any import nothing is matched or saved', async () => {
  assert.equal(await vulnDbVersion(meta.db), 0);
  const r = await findings.match('sha256:early', catalog([pkg({ type: 'npm', name: 'lodash', version: '4.17.20', ecosystem: 'npm' })]));
  assert.deepEqual(r.findings, []);
  assert.equal(await findings.findings('sha256:early'), undefined);
});

test('the real records import in one transaction and match what they say', async () => {
  const report = await importer.import(items(real), { file: OSV, verified: 'none', ctx: SYSTEM_CONTEXT });
  assert.equal(report.records, real.length);
  assert.equal(report.dbVersion, 1);
  const counts = await vulnCounts(meta.db);
  assert.equal(counts.records, real.length);
  assert.ok(counts.packages >= real.length);
  assert.deepEqual((await vulnSources(meta.db)).map((s) => [s.name, s.records]), [['osv:test', real.length]]);

  const c = catalog([
    pkg({ type: 'golang', name: 'stdlib', version: 'v1.19.8', ecosystem: 'Go', confidence: 'version-based' }),
    pkg({ type: 'npm', name: 'lodash', version: '4.17.20', ecosystem: 'npm' }),
    pkg({ type: 'npm', name: 'lodash', version: '4.17.21', ecosystem: 'npm', path: 'y/lodash', purl: 'pkg:npm/lodash@4.17.21' }),
    pkg({ type: 'pypi', name: 'PyYAML', version: '5.3.1', ecosystem: 'PyPI' }),
    pkg({ type: 'maven', namespace: 'org.apache.commons', name: 'commons-text', version: '1.9', ecosystem: 'Maven' }),
    pkg({ type: 'maven', namespace: 'org.apache.commons', name: 'commons-text', version: '1.10.0', ecosystem: 'Maven', path: 'y/ct', purl: 'pkg:maven/org.apache.commons/commons-text@1.10.0' }),
  ]);
  const r = await findings.match('sha256:image', c);
  assert.equal(r.changed, true);
  const by = (name: string, version: string) => r.findings.filter((f) => f.package.name === name && f.package.version === version);
  // golang/vulndb: the 20 stdlib records whose ranges include go1.19.8 (GO-2026-5942 covers only 1.26/1.27).
  const stdlib = by('stdlib', 'v1.19.8');
  const stdlibIds = new Set(stdlib.flatMap((f) => f.ids));
  assert.ok(!stdlibIds.has('GO-2026-5942'), 'prerelease ordering keeps 1.19.8 out of GO-2026-5942');
  const goRecords = osvFiles(path.join(OSV, 'go', 'stdlib')).map((f) => path.basename(f, '.json'));
  for (const id of goRecords) assert.ok(stdlibIds.has(id), `${id} matches go1.19.8`);
  assert.ok(stdlib.every((f) => f.confidence === 'version-based'), 'a distribution may patch its Go: version-based');
  // github/advisory-database: lodash < 4.17.21 (GHSA-35jh-r3h4-6jhm), PyYAML < 5.4, commons-text 1.5 to < 1.10.0.
  const lodash = by('lodash', '4.17.20');
  assert.ok(lodash.some((f) => f.ids.includes('GHSA-35jh-r3h4-6jhm') && f.fixedVersion === '4.17.21'), JSON.stringify(lodash));
  assert.deepEqual(by('lodash', '4.17.21'), []);
  assert.ok(by('PyYAML', '5.3.1').some((f) => f.ids.includes('GHSA-8q59-q68h-6hv4')));
  assert.ok(by('commons-text', '1.9').some((f) => f.ids.includes('GHSA-599f-7c49-w659') && f.id === 'CVE-2022-42889' && f.severity === 'critical'));
  assert.deepEqual(by('commons-text', '1.10.0'), []);
  const saved = await findings.findings('sha256:image');
  assert.equal(saved?.dbVersion, 1);
  assert.equal(saved?.findings.length, r.findings.length);
  assert.equal(Object.values(saved!.counts).reduce((a, b) => a + b, 0), r.findings.length);
  // Matching again with nothing new changes nothing.
  assert.equal((await findings.match('sha256:image', c)).changed, false);
});

test('records naming one CVE are one finding per package; a Debian package matches by its source', async () => {
  const debian = (id: string, fixed: string, severity?: string): OsvRecord => ({
    id, modified: '2024-01-01T00:00:00Z', aliases: ['CVE-2099-0001'], summary: `${id} summary`,
    ...(severity ? { database_specific: { severity } } : {}),
    affected: [{ package: { ecosystem: 'Debian:12', name: 'glibc' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
  });
  await importer.import(items([debian('DEBIAN-CVE-2099-0001-glibc', '2.36-9+deb12u4', 'medium'), debian('DSA-9999-1', '2.36-9+deb12u4')], 'debian-test'), { file: 'test', verified: 'none', ctx: SYSTEM_CONTEXT });
  const libc = pkg({ type: 'deb', name: 'libc6', version: '2.36-9+deb12u3', ecosystem: 'Debian:12', source: { name: 'glibc' } });
  const r = await findings.match('sha256:deb', catalog([libc, pkg({ type: 'deb', name: 'libc-bin', version: '2.36-9+deb12u4', ecosystem: 'Debian:12', source: { name: 'glibc' } })]));
  assert.equal(r.findings.length, 1, JSON.stringify(r.findings));
  const f = r.findings[0]!;
  assert.equal(f.id, 'CVE-2099-0001');
  assert.deepEqual(f.ids, ['CVE-2099-0001', 'DEBIAN-CVE-2099-0001-glibc', 'DSA-9999-1']);
  assert.equal(f.package.name, 'libc6');
  assert.equal(f.package.source, 'glibc');
  assert.equal(f.fixedVersion, '2.36-9+deb12u4');
  assert.equal(f.severity, 'medium', "the source's own rating when there is no CVSS vector");
});

test('a re-import replaces records by id: a withdrawn record stops matching; stale findings are matched again', async () => {
  const lodash = real.find((r) => r.id === 'GHSA-35jh-r3h4-6jhm')!;
  const before = await vulnDbVersion(meta.db);
  await importer.import(items([{ ...lodash, withdrawn: '2025-01-01T00:00:00Z', modified: '2025-01-01T00:00:00Z' }]), { file: 'withdrawn', verified: 'none', ctx: SYSTEM_CONTEXT });
  assert.equal(await vulnDbVersion(meta.db), before + 1);
  assert.equal((await vulnCounts(meta.db)).withdrawn, 1);
  // The catalogue of sha256:image is on record: the job finds its findings stale and matches again.
  await meta.transaction((tx) => saveCatalog(tx, {
    digest: 'sha256:image', mediaType: 'application/vnd.oci.image.manifest.v1+json', status: 'done', packages: 1, error: null,
    catalog: JSON.stringify(catalog([pkg({ type: 'npm', name: 'lodash', version: '4.17.20', ecosystem: 'npm' })])), scanner: 't', scannedAt: Date.now(), durationMs: 0, bytesRead: 0,
  }));
  const re = await findings.rematchStale();
  assert.ok(re.matched >= 1);
  const now = await findings.findings('sha256:image');
  assert.equal(now?.dbVersion, before + 1);
  assert.ok(!now!.findings.some((f) => f.ids.includes('GHSA-35jh-r3h4-6jhm')), 'the withdrawn record matches nothing');
  assert.equal((await findings.rematchStale()).matched, 0, 'nothing stale is left');
});

test('an import that fails half-way leaves the database as it was', async () => {
  const version = await vulnDbVersion(meta.db);
  const counts = await vulnCounts(meta.db);
  async function* broken(): AsyncGenerator<ImportItem> {
    yield { source: 'osv:broken', record: { id: 'BROKEN-1', modified: '2024-01-01T00:00:00Z', affected: [] } };
    throw new Error('truncated bundle');
  }
  await assert.rejects(importer.import(broken(), { file: 'broken', verified: 'none', ctx: SYSTEM_CONTEXT }), /truncated bundle/);
  assert.equal(await vulnDbVersion(meta.db), version);
  assert.deepEqual(await vulnCounts(meta.db), counts);
  assert.ok(!(await vulnSources(meta.db)).some((s) => s.name === 'osv:broken'));
});

test('severity: CVSS v4 before v3, then the source\'s own rating', () => {
  assert.deepEqual(severityOf({ id: 'A', modified: 'x', severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] }), { severity: 'critical', score: 9.8 });
  assert.equal(severityOf({ id: 'B', modified: 'x', database_specific: { severity: 'MODERATE' } }).severity, 'medium');
  assert.equal(severityOf({ id: 'C', modified: 'x' }).severity, 'unknown');
});
