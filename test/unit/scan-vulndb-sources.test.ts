// The readers of offline vulnerability sources, on the real data in ../shared/data: OSV records from
// golang/vulndb and github/advisory-database (CC-BY-4.0; record ids such as GO-2023-1878 and
// GHSA-35jh-r3h4-6jhm are reprinted below, see osv/*/SOURCES.md there), the Debian security tracker's
// DSA/DLA lists and Alpine secdb files; a tracker JSON export built here in its exact shape; bad inputs;
// bundle signatures with keys made here.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign,
} from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { affects } from '../../src/scan/versions/affects.js';
import type { OsvRecord } from '../../src/scan/versions/osv.js';
import { readVulnSource } from '../../src/scan/vulndb/read-vuln-source.js';
import { type SourceItem, type VulnSourceStats, VulnSourceError } from '../../src/scan/vulndb/source-types.js';
import { BundleVerificationError, keyFingerprint, verifyBundle } from '../../src/scan/vulndb/verify-bundle.js';
import { makeZip } from './scan-catalog-lang-zip.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = path.join(repoRoot, '..', 'shared', 'data');
const OSV = path.join(DATA, 'osv');
const DEBIAN = path.join(DATA, 'debian');
const ALPINE = path.join(DATA, 'alpine');

function need(p: string): string {
  assert.ok(existsSync(p), `test data expected at ${p} (shared/data beside the repository)`);
  return p;
}

const scratch = mkdtempSync(path.join(tmpdir(), 'berth-vulndb-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let scratchN = 0;
const tmp = (name: string) => {
  const dir = path.join(scratch, String(scratchN++));
  mkdirSync(dir);
  return path.join(dir, name);
};

async function collect(p: string, opts?: Parameters<typeof readVulnSource>[1]): Promise<{ items: SourceItem[]; stats: VulnSourceStats }> {
  const gen = readVulnSource(p, opts);
  const items: SourceItem[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { items, stats: r.value };
    items.push(r.value);
  }
}

const byId = (items: SourceItem[]) => new Map(items.map((i) => [i.record.id, i]));

/** Whether some affected entry of rec for (ecosystem, name) covers version. */
function hits(rec: OsvRecord, ecosystem: string, name: string, version: string): boolean {
  return (rec.affected ?? []).some((a) => a.package?.ecosystem === ecosystem && a.package.name === name && affects(a, version));
}

async function rejects(p: Promise<unknown>, file: string, pattern: RegExp): Promise<VulnSourceError> {
  let caught: unknown;
  await p.catch((err: unknown) => { caught = err; });
  assert.ok(caught instanceof VulnSourceError, `expected a VulnSourceError, got ${String(caught)}`);
  assert.ok(caught.message.includes(file), `"${caught.message}" names ${file}`);
  assert.match(caught.message, pattern);
  return caught;
}

/** The OSV files of shared/data/osv: folder (go, npm, pypi, maven) → paths. */
function osvFiles(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string, top: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full, top);
      else if (e.name.endsWith('.json')) out.set(top, [...(out.get(top) ?? []), full]);
    }
  };
  for (const top of readdirSync(need(OSV))) if (statSync(path.join(OSV, top)).isDirectory()) walk(path.join(OSV, top), top);
  return out;
}

describe('OSV records (golang/vulndb, github/advisory-database)', () => {
  const ECOSYSTEM: Record<string, string> = { go: 'osv:Go', npm: 'osv:npm', pypi: 'osv:PyPI', maven: 'osv:Maven' };

  test('the directory imports every record as it is, with counts and newest modified per ecosystem', async () => {
    const files = osvFiles();
    assert.equal([...files.values()].flat().length, 50, 'shared/data/osv holds 50 records');
    const { items, stats } = await collect(OSV);
    assert.equal(items.length, 50);
    assert.equal(stats.records, 50);
    assert.equal(stats.files, 50);
    const expected = [...files].map(([top, paths]) => {
      const modified = paths.map((p) => (JSON.parse(readFileSync(p, 'utf8')) as OsvRecord).modified);
      const newest = modified.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
      return { source: ECOSYSTEM[top], records: paths.length, newestModified: newest };
    }).sort((a, b) => (a.source < b.source ? -1 : 1));
    assert.deepEqual(stats.sources, expected);
    assert.deepEqual(stats.sources.map((s) => [s.source, s.records]), [['osv:Go', 40], ['osv:Maven', 3], ['osv:PyPI', 3], ['osv:npm', 4]]);
    // SOURCES.md, LICENSE, NOTICES are passed over, not read
    assert.ok(stats.skipped.some((s) => s.file.endsWith(path.join('go', 'LICENSE'))));
    const got = byId(items);
    for (const p of [...files.values()].flat()) {
      const rec = JSON.parse(readFileSync(p, 'utf8')) as OsvRecord;
      assert.deepEqual(got.get(rec.id)?.record, rec, `${rec.id} passes through unchanged`);
      assert.equal(got.get(rec.id)?.file, p);
    }
  });

  test('GHSA-35jh-r3h4-6jhm (lodash, lodash-es < 4.17.21)', async () => {
    const file = need(path.join(OSV, 'npm', 'GHSA-35jh-r3h4-6jhm.json'));
    const { items, stats } = await collect(file);
    assert.equal(items.length, 1);
    const [item] = items;
    assert.equal(item.source, 'osv:npm');
    assert.equal(item.kind, 'osv');
    assert.ok(item.record.aliases?.includes('CVE-2021-23337'));
    assert.deepEqual(item.record.affected?.map((a) => a.package?.name).sort(), ['lodash', 'lodash-es']);
    assert.equal(hits(item.record, 'npm', 'lodash', '4.17.20'), true);
    assert.equal(hits(item.record, 'npm', 'lodash', '4.17.21'), false);
    assert.deepEqual(stats.sources, [{ source: 'osv:npm', records: 1, newestModified: item.record.modified }]);
  });

  test('GO-2023-1878 (stdlib, fixed 1.19.11)', async () => {
    const { items } = await collect(need(path.join(OSV, 'go', 'stdlib', 'GO-2023-1878.json')));
    assert.equal(items[0].source, 'osv:Go');
    assert.equal(hits(items[0].record, 'Go', 'stdlib', 'go1.19.8'), true);
    assert.equal(hits(items[0].record, 'Go', 'stdlib', 'go1.19.11'), false);
  });

  test('a zip (as osv.dev publishes all.zip) and a tar.gz of the same files give the same records', async () => {
    const paths = [...osvFiles().values()].flat();
    const expected = new Map(paths.map((p) => {
      const rec = JSON.parse(readFileSync(p, 'utf8')) as OsvRecord;
      return [rec.id, rec];
    }));
    const zip = tmp('all.zip');
    writeFileSync(zip, makeZip(paths.map((p) => ({ name: path.basename(p), data: readFileSync(p), method: 'deflate' as const }))));
    const tgz = tmp('osv.tar.gz');
    writeFileSync(tgz, gzipSync(await tarOf(paths.map((p) => ({ name: path.relative(OSV, p), data: readFileSync(p) })))));
    for (const archive of [zip, tgz]) {
      const { items, stats } = await collect(archive);
      assert.equal(items.length, 50, archive);
      assert.deepEqual(new Map(items.map((i) => [i.record.id, i.record])), expected);
      assert.deepEqual(stats.sources.map((s) => [s.source, s.records]), [['osv:Go', 40], ['osv:Maven', 3], ['osv:PyPI', 3], ['osv:npm', 4]]);
      assert.ok(items.every((i) => i.file.startsWith(`${archive}!`)));
    }
  });

  test('a reader left after its first record closes its files (no hang, the next read works)', async () => {
    const paths = [...osvFiles().values()].flat();
    const zip = tmp('all.zip');
    writeFileSync(zip, makeZip(paths.map((p) => ({ name: path.basename(p), data: readFileSync(p), method: 'deflate' as const }))));
    const tgz = tmp('osv.tgz');
    writeFileSync(tgz, gzipSync(await tarOf(paths.map((p) => ({ name: path.basename(p), data: readFileSync(p) })))));
    const dsa = need(path.join(DEBIAN, 'DSA', 'list'));
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (const source of [zip, tgz, dsa, zip, tgz, dsa]) {
      for await (const item of readVulnSource(source)) {
        assert.ok(item.file.startsWith(source));
        break;
      }
    }
    // closing is asynchronous: wait for it (bounded), then nothing may stay open
    for (let i = 0; i < 100 && openFiles() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(openFiles(), before, 'every file a stopped reader opened is closed');
    assert.equal((await collect(tgz)).items.length, 50);
  });

  test('archives inside a directory are read too, other entries of an archive are passed over', async () => {
    const dir = path.dirname(tmp('x'));
    const lodash = readFileSync(need(path.join(OSV, 'npm', 'GHSA-35jh-r3h4-6jhm.json')));
    writeFileSync(path.join(dir, 'npm.zip'), makeZip([{ name: 'GHSA-35jh-r3h4-6jhm.json', data: lodash }, { name: 'README.txt', data: 'hello' }]));
    const { items, stats } = await collect(dir);
    assert.deepEqual(items.map((i) => i.record.id), ['GHSA-35jh-r3h4-6jhm']);
    assert.deepEqual(stats.skipped.map((s) => s.file), [`${path.join(dir, 'npm.zip')}!README.txt`]);
  });
});

async function tarOf(entries: { name: string; data: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mtime: new Date('2024-01-02T03:04:05Z') }, e.data);
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const chunk of pack) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('Debian DSA and DLA lists', () => {
  const headers = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('[')).length;
  const markers = (file: string, marker: string) =>
    readFileSync(file, 'utf8').split('\n').filter((l) => new RegExp(`^\\s+\\[[a-z]+\\] - \\S+ ${marker}`).test(l)).length;

  test('every advisory becomes one record, counted per list', async () => {
    const dsa = need(path.join(DEBIAN, 'DSA', 'list'));
    const dla = need(path.join(DEBIAN, 'DLA', 'list'));
    const { items, stats } = await collect(DEBIAN);
    assert.equal(headers(dsa), 5406);
    assert.deepEqual(stats.sources.map((s) => [s.source, s.records]), [['debian-dla', headers(dla)], ['debian-dsa', headers(dsa)]]);
    assert.equal(items.length, headers(dsa) + headers(dla));
    assert.deepEqual(stats.sources.map((s) => s.newestModified), ['2023-04-01T00:00:00.000Z', '2023-03-29T00:00:00.000Z']);
    assert.equal(new Set(items.map((i) => i.record.id)).size, items.length, 'ids are unique');
    assert.equal(stats.dropped['debian-dsa <not-affected>'], markers(dsa, '<not-affected>'));
    assert.equal(stats.dropped['debian-dsa <end-of-life>'], markers(dsa, '<end-of-life>'));
    assert.equal(stats.dropped['debian advisory list: line not understood'], undefined);
  });

  test('DSA-4711-1 (coturn): its CVEs, and a fixed version per release', async () => {
    const { items } = await collect(need(path.join(DEBIAN, 'DSA', 'list')));
    const rec = byId(items).get('DSA-4711-1')!.record;
    assert.deepEqual(rec.aliases, ['CVE-2020-4067', 'CVE-2020-6061', 'CVE-2020-6062']);
    assert.equal(rec.published, '2020-06-29T00:00:00.000Z');
    assert.equal(rec.modified, rec.published);
    assert.equal(rec.summary, 'security update');
    assert.deepEqual(rec.affected, [
      { package: { ecosystem: 'Debian:9', name: 'coturn' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '4.5.0.5-1+deb9u2' }] }] },
      { package: { ecosystem: 'Debian:10', name: 'coturn' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '4.5.1.1-1.1+deb10u1' }] }] },
    ]);
    assert.equal(hits(rec, 'Debian:10', 'coturn', '4.5.1.1-1.1'), true);
    assert.equal(hits(rec, 'Debian:10', 'coturn', '4.5.1.1-1.1+deb10u1'), false);
    assert.equal(hits(rec, 'Debian:11', 'coturn', '4.5.1.1-1.1'), false, 'no entry for bullseye');
  });

  test('<not-affected>, <unfixed> and <end-of-life> release lines, several packages in one advisory', async () => {
    const { items } = await collect(need(path.join(DEBIAN, 'DSA', 'list')));
    const got = byId(items);
    // [woody] - mantis <not-affected>; [sarge] - mantis 0.19.2-5sarge1
    const mantis = got.get('DSA-944-1')!.record;
    assert.equal(mantis.aliases?.length, 9);
    assert.deepEqual(mantis.affected?.map((a) => [a.package?.ecosystem, a.ranges?.[0].events]), [['Debian:3.1', [{ introduced: '0' }, { fixed: '0.19.2-5sarge1' }]]]);
    // [woody] - phpmyadmin <unfixed>: affected without a fix
    const pma = got.get('DSA-880-1')!.record;
    assert.deepEqual(pma.affected?.map((a) => [a.package?.ecosystem, a.ranges?.[0].events]), [
      ['Debian:3.0', [{ introduced: '0' }]],
      ['Debian:3.1', [{ introduced: '0' }, { fixed: '4:2.6.2-3sarge1' }]],
    ]);
    // [jessie] - virtualbox <end-of-life>
    assert.deepEqual(got.get('DSA-3699-1')!.record.affected, []);
    // DSA-1964-1 postgresql-7.4 postgresql-8.1 postgresql-8.3
    const pg = got.get('DSA-1964-1')!.record;
    assert.deepEqual(pg.database_specific?.packages, ['postgresql-7.4', 'postgresql-8.1', 'postgresql-8.3']);
    assert.deepEqual(pg.affected?.map((a) => `${a.package?.ecosystem} ${a.package?.name}`), ['Debian:4 postgresql-8.1', 'Debian:4 postgresql-7.4', 'Debian:5 postgresql-8.3']);
    // an announcement: no CVEs, no packages
    const eol = got.get('DSA-4205-1')!.record;
    assert.equal(eol.summary, 'jessie end-of-life');
    assert.deepEqual([eol.aliases, eol.affected], [[], []]);
  });

  test('DLA-3380-1 (firmware-nonfree, buster)', async () => {
    const { items } = await collect(need(path.join(DEBIAN, 'DLA', 'list')));
    const item = byId(items).get('DLA-3380-1')!;
    assert.equal(item.source, 'debian-dla');
    assert.equal(item.record.aliases?.length, 11);
    assert.equal(hits(item.record, 'Debian:10', 'firmware-nonfree', '20190114-2'), true);
    assert.equal(hits(item.record, 'Debian:10', 'firmware-nonfree', '20190114+really20220913-0+deb10u1'), false);
  });
});

describe('Alpine secdb', () => {
  /** (package, id) pairs of a secdb YAML file, read line by line: the oracle for the record count. */
  function pairs(file: string): number {
    const seen = new Set<string>();
    let pkg = '';
    let inPackages = false;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.startsWith('packages:')) inPackages = true;
      if (!inPackages) continue;
      const name = /^\s+name: (\S+)/.exec(line);
      if (name) pkg = name[1];
      const entry = /^\s+- (?!pkg:)(\S+)/.exec(line);
      if (entry) seen.add(`${pkg} ${entry[1]}`);
    }
    return seen.size;
  }

  test('one record per (CVE, package, release), counted per release and repository', async () => {
    const files = ['v3.10/main.yaml', 'v3.11/community.yaml', 'v3.11/main.yaml'].map((f) => need(path.join(ALPINE, f)));
    const { items, stats } = await collect(ALPINE);
    assert.deepEqual(stats.sources.map((s) => [s.source, s.records]), [
      ['alpine-secdb:v3.10/main', pairs(files[0])],
      ['alpine-secdb:v3.11/community', pairs(files[1])],
      ['alpine-secdb:v3.11/main', pairs(files[2])],
    ]);
    assert.deepEqual(stats.sources.map((s) => s.records), [1159, 886, 1180]);
    assert.equal(new Set(items.map((i) => i.record.id)).size, items.length);
    // no dates in the secdb: the file's time
    const mtime = statSync(files[2]).mtime.toISOString();
    assert.ok(items.filter((i) => i.file === files[2]).every((i) => i.record.modified === mtime));
  });

  test('ansible in v3.11/main: 2.9.3-r0 fixes CVE-2019-14904 and CVE-2019-14905', async () => {
    const { items } = await collect(need(path.join(ALPINE, 'v3.11', 'main.yaml')));
    const got = byId(items);
    const item = got.get('ALPINE-CVE-2019-14904-ansible-v3.11')!;
    assert.equal(item.source, 'alpine-secdb:v3.11/main');
    assert.deepEqual(item.record.aliases, ['CVE-2019-14904']);
    assert.deepEqual(item.record.affected, [{ package: { ecosystem: 'Alpine:v3.11', name: 'ansible' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.9.3-r0' }] }] }]);
    assert.ok(got.has('ALPINE-CVE-2019-14905-ansible-v3.11'));
    assert.equal(hits(item.record, 'Alpine:v3.11', 'ansible', '2.9.2-r0'), true);
    assert.equal(hits(item.record, 'Alpine:v3.11', 'ansible', '2.9.3-r0'), false);
    assert.equal(items.filter((i) => i.record.id.startsWith('ALPINE-') && i.record.id.endsWith('-ansible-v3.11')).length, 10);
    // "CVE-2017-17434-1": a fix in parts; the alias is the CVE
    assert.deepEqual(got.get('ALPINE-CVE-2017-17434-1-rsync-v3.11')!.record.aliases, ['CVE-2017-17434']);
  });

  test('xen in v3.10/main: "CVE-2016-9932 XSA-200" gives both aliases', async () => {
    const { items } = await collect(need(path.join(ALPINE, 'v3.10', 'main.yaml')));
    const rec = byId(items).get('ALPINE-CVE-2016-9932-xen-v3.10')!.record;
    assert.deepEqual(rec.aliases, ['CVE-2016-9932', 'XSA-200']);
    assert.equal(rec.affected?.[0].ranges?.[0].events.length, 2);
  });

  test('secfixes key "0", numeric-looking versions, a version listed twice, and the JSON form', async () => {
    const yaml = [
      '---', 'distroversion: v3.20', 'reponame: community', 'archs:', '  - x86_64', 'packages:',
      '  - pkg:', '      name: foo', '      secfixes:',
      '        "0":', '          - CVE-2024-0001', // never affected
      '        2.10:', '          - CVE-2024-0002', // a float to YAML's core schema
      '        2.10:', '          - CVE-2024-0003', // the same version again
      '        2.11-r0:', '          - CVE-2024-0004', '          - CVE-2024-0004 GHSA-xxxx-yyyy-zzzz',
      '  - pkg:', '      name: bar', '',
    ].join('\n');
    const yamlFile = tmp('community.yaml');
    writeFileSync(yamlFile, yaml);
    const y = await collect(yamlFile);
    const got = byId(y.items);
    assert.deepEqual([...got.keys()], ['ALPINE-CVE-2024-0001-foo-v3.20', 'ALPINE-CVE-2024-0002-foo-v3.20', 'ALPINE-CVE-2024-0003-foo-v3.20', 'ALPINE-CVE-2024-0004-foo-v3.20']);
    assert.deepEqual(got.get('ALPINE-CVE-2024-0001-foo-v3.20')!.record.affected, []);
    assert.equal(y.stats.dropped['alpine-secdb version 0 (not affected)'], 1);
    assert.deepEqual(got.get('ALPINE-CVE-2024-0002-foo-v3.20')!.record.affected?.[0].ranges?.[0].events, [{ introduced: '0' }, { fixed: '2.10' }]);
    assert.deepEqual(got.get('ALPINE-CVE-2024-0003-foo-v3.20')!.record.affected?.[0].ranges?.[0].events, [{ introduced: '0' }, { fixed: '2.10' }]);
    assert.deepEqual(got.get('ALPINE-CVE-2024-0004-foo-v3.20')!.record.aliases, ['CVE-2024-0004', 'GHSA-xxxx-yyyy-zzzz']);
    assert.equal(got.get('ALPINE-CVE-2024-0004-foo-v3.20')!.record.affected?.[0].ranges?.length, 2);
    assert.equal(y.items[0].source, 'alpine-secdb:v3.20/community');

    const jsonFile = tmp('community.json');
    writeFileSync(jsonFile, JSON.stringify({
      distroversion: 'v3.20', reponame: 'community', archs: ['x86_64'], packages: [
        { pkg: { name: 'foo', secfixes: { 0: ['CVE-2024-0001'], '2.10': ['CVE-2024-0002', 'CVE-2024-0003'], '2.11-r0': ['CVE-2024-0004', 'CVE-2024-0004 GHSA-xxxx-yyyy-zzzz'] } } },
        { pkg: { name: 'bar' } },
      ],
    }));
    const t = statSync(yamlFile).mtime;
    utimesSync(jsonFile, t, t);
    const j = await collect(jsonFile);
    assert.deepEqual(j.items.map((i) => i.record), y.items.map((i) => i.record));
  });
});

describe('Debian security tracker export (built here in its shape)', () => {
  // https://security-tracker.debian.org/tracker/data/json: source package → CVE → releases
  const tracker = {
    openssl: {
      'CVE-2023-0464': {
        description: 'A security vulnerability has been identified in all supported versions of OpenSSL',
        scope: 'remote',
        debianbug: 1034720,
        releases: {
          bookworm: { status: 'resolved', repositories: { bookworm: '3.0.11-1~deb12u2' }, fixed_version: '3.0.8-1', urgency: 'medium' },
          bullseye: { status: 'open', repositories: { bullseye: '1.1.1w-0+deb11u1', 'bullseye-security': '1.1.1w-0+deb11u1' }, urgency: 'high', nodsa: 'Minor issue', nodsa_reason: 'postponed' },
          sid: { status: 'resolved', repositories: { sid: '3.1.4-2' }, fixed_version: '3.0.8-1', urgency: 'medium' },
          zorg: { status: 'resolved', repositories: { zorg: '9.9-1' }, fixed_version: '3.0.8-1', urgency: 'medium' },
        },
      },
      'CVE-2023-0001': {
        description: 'not in Debian\'s code',
        scope: 'local',
        releases: { bookworm: { status: 'resolved', repositories: { bookworm: '3.0.11-1~deb12u2' }, fixed_version: '0', urgency: 'unimportant' } },
      },
    },
    zlib: {
      'CVE-2023-45853': {
        description: 'MiniZip in zlib through 1.3 has an integer overflow',
        scope: 'remote',
        releases: {
          bookworm: { status: 'open', repositories: { bookworm: '1:1.2.13.dfsg-1' }, urgency: 'unimportant' },
          trixie: { status: 'undetermined', repositories: { trixie: '1:1.3.dfsg-3' }, urgency: 'not yet assigned' },
        },
      },
      'TEMP-0000000-1A2B3C': {
        description: 'a flaw without a CVE yet',
        releases: { bookworm: { status: 'open', repositories: { bookworm: '1:1.2.13.dfsg-1' }, urgency: 'end-of-life' } },
      },
    },
    'no-cves-yet': {},
  };

  async function trackerFile(gzip = false): Promise<string> {
    const file = tmp(gzip ? 'json.gz' : 'json');
    const text = JSON.stringify(tracker, null, 1);
    writeFileSync(file, gzip ? gzipSync(text) : text);
    utimesSync(file, new Date('2025-05-06T07:08:09Z'), new Date('2025-05-06T07:08:09Z'));
    return file;
  }

  test('one record per (CVE, source package), releases by codename, urgency kept', async () => {
    const file = await trackerFile();
    const { items, stats } = await collect(file);
    assert.deepEqual(stats.sources, [{ source: 'debian-tracker', records: 4, newestModified: '2025-05-06T07:08:09.000Z' }]);
    assert.ok(items.every((i) => i.source === 'debian-tracker' && i.kind === 'debian-tracker'));
    const got = byId(items);
    assert.deepEqual([...got.keys()], ['DEBIAN-CVE-2023-0464-openssl', 'DEBIAN-CVE-2023-0001-openssl', 'DEBIAN-CVE-2023-45853-zlib', 'DEBIAN-TEMP-0000000-1A2B3C-zlib']);

    const openssl = got.get('DEBIAN-CVE-2023-0464-openssl')!.record;
    assert.deepEqual(openssl.aliases, ['CVE-2023-0464']);
    assert.equal(openssl.summary, tracker.openssl['CVE-2023-0464'].description);
    assert.equal(openssl.modified, '2025-05-06T07:08:09.000Z');
    assert.deepEqual(openssl.database_specific, { source: 'debian-tracker', severity: 'high', scope: 'remote' });
    assert.deepEqual(openssl.references?.map((r) => r.url), ['https://security-tracker.debian.org/tracker/CVE-2023-0464', 'https://bugs.debian.org/1034720']);
    assert.deepEqual(openssl.affected, [
      {
        package: { ecosystem: 'Debian:12', name: 'openssl' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.8-1' }] }],
        ecosystem_specific: { urgency: 'medium', status: 'resolved' },
        database_specific: { severity: 'medium' },
      },
      {
        package: { ecosystem: 'Debian:11', name: 'openssl' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }],
        ecosystem_specific: { urgency: 'high', status: 'open', nodsa: 'Minor issue', nodsa_reason: 'postponed' },
        database_specific: { severity: 'high' },
      },
      {
        package: { ecosystem: 'Debian:unstable', name: 'openssl' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.8-1' }] }],
        ecosystem_specific: { urgency: 'medium', status: 'resolved' },
        database_specific: { severity: 'medium' },
      },
    ]);
    assert.equal(hits(openssl, 'Debian:12', 'openssl', '3.0.7-1'), true);
    assert.equal(hits(openssl, 'Debian:12', 'openssl', '3.0.8-1'), false);
    assert.equal(hits(openssl, 'Debian:11', 'openssl', '1.1.1w-0+deb11u1'), true, 'open: every version');

    // fixed_version "0": never affected
    assert.deepEqual(got.get('DEBIAN-CVE-2023-0001-openssl')!.record.affected, []);
    // unimportant: low, and flagged
    const zlib = got.get('DEBIAN-CVE-2023-45853-zlib')!.record;
    assert.deepEqual(zlib.database_specific, { source: 'debian-tracker', severity: 'low', scope: 'remote' });
    assert.deepEqual(zlib.affected?.map((a) => [a.package?.ecosystem, a.ecosystem_specific, a.database_specific]), [
      ['Debian:12', { urgency: 'unimportant', status: 'open', unimportant: true }, { severity: 'low' }],
      ['Debian:13', { urgency: 'not yet assigned', status: 'undetermined' }, { severity: 'unknown' }],
    ]);
    const temp = got.get('DEBIAN-TEMP-0000000-1A2B3C-zlib')!.record;
    assert.deepEqual(temp.aliases, [], 'a TEMP id is no alias');
    assert.equal(temp.affected?.[0].ecosystem_specific?.urgency, 'end-of-life');

    assert.deepEqual(stats.dropped, { 'debian release not in the codename map: zorg': 1, 'debian-tracker fixed_version 0 (not affected)': 1 });
  });

  test('gzip-compressed, the same records', async () => {
    const plain = await collect(await trackerFile());
    const gz = await collect(await trackerFile(true));
    assert.deepEqual(gz.items.map((i) => i.record), plain.items.map((i) => i.record));
  });

  test('streamed: one package larger than maxTrackerEntryBytes is refused, the rest is not held', async () => {
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 3000; i++) big[`CVE-2020-${10000 + i}`] = { description: 'x'.repeat(100), releases: { bookworm: { status: 'open', urgency: 'low' } } };
    const file = tmp('tracker.json');
    writeFileSync(file, JSON.stringify({ small: { 'CVE-2020-1': { releases: {} } }, big }));
    await rejects(collect(file, { maxTrackerEntryBytes: 100_000 }), file, /one package's entries exceed 100000 bytes/);
    const { items } = await collect(file);
    assert.equal(items.length, 3001);
  });

  test('a truncated export is an error naming the file', async () => {
    const file = tmp('tracker.json');
    writeFileSync(file, JSON.stringify(tracker).slice(0, 500));
    await rejects(collect(file), file, /not a Debian tracker export/);
  });
});

describe('bad inputs', () => {
  const lodash = () => readFileSync(need(path.join(OSV, 'npm', 'GHSA-35jh-r3h4-6jhm.json')));

  test('a truncated zip', async () => {
    const whole = makeZip([{ name: 'GHSA-35jh-r3h4-6jhm.json', data: lodash(), method: 'deflate' }, { name: 'b.json', data: lodash() }]);
    const file = tmp('all.zip');
    writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await rejects(collect(file), file, /not a readable zip/);
    assert.equal(err.file, file);
  });

  test('a truncated tar.gz', async () => {
    const whole = gzipSync(await tarOf([{ name: 'a.json', data: lodash() }, { name: 'b.json', data: lodash() }]));
    const file = tmp('osv.tar.gz');
    writeFileSync(file, whole.subarray(0, whole.length - 40));
    await rejects(collect(file), file, /truncated or corrupt compressed data/);
  });

  test('not JSON, in a file and in a directory', async () => {
    const file = tmp('broken.json');
    writeFileSync(file, '{"id": "GHSA-1234", "modified": ');
    await rejects(collect(file), file, /not JSON/);
    await rejects(collect(path.dirname(file)), file, /not JSON/);
    const text = tmp('notes.json');
    writeFileSync(text, 'this is not a record');
    await rejects(collect(text), text, /not JSON/);
  });

  test('a record without id, or without modified, or with ranges of the wrong shape', async () => {
    const rec = JSON.parse(lodash().toString('utf8')) as Record<string, unknown>;
    const cases: [string, unknown, RegExp][] = [
      ['no-id.json', { ...rec, id: undefined }, /not an OSV record: no "id"/],
      ['no-modified.json', { ...rec, modified: undefined }, /GHSA-35jh-r3h4-6jhm: "modified" is missing/],
      ['bad-ranges.json', { ...rec, affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER' }] }] }, /ranges\[0\] needs "type" and a list of "events"/],
    ];
    for (const [name, value, pattern] of cases) {
      const file = tmp(name);
      writeFileSync(file, JSON.stringify(value));
      await rejects(collect(file), file, pattern);
    }
  });

  test('a bad record inside a zip names the entry; onInvalid "skip" counts it and goes on', async () => {
    const bad = JSON.stringify({ modified: '2024-01-01T00:00:00Z', summary: 'no id' });
    const file = tmp('all.zip');
    writeFileSync(file, makeZip([{ name: 'GHSA-35jh-r3h4-6jhm.json', data: lodash() }, { name: 'BAD-1.json', data: bad }]));
    await rejects(collect(file), `${file}!BAD-1.json`, /no "id"/);
    const { items, stats } = await collect(file, { onInvalid: 'skip' });
    assert.deepEqual(items.map((i) => i.record.id), ['GHSA-35jh-r3h4-6jhm']);
    assert.deepEqual(stats.invalid, [{ file: `${file}!BAD-1.json`, message: 'not an OSV record: no "id"' }]);
  });

  test('a corrupt zip entry names the entry', async () => {
    const zip = makeZip([{ name: 'GHSA-35jh-r3h4-6jhm.json', data: lodash(), method: 'deflate' }]);
    zip.fill(0x41, 60, 200); // the compressed data; the central directory stays whole
    const file = tmp('all.zip');
    writeFileSync(file, zip);
    await rejects(collect(file), `${file}!GHSA-35jh-r3h4-6jhm.json`, /./);
  });

  test('an aborted read stops', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(collect(OSV, { signal: controller.signal }), { name: 'AbortError' });
  });

  test('a document larger than maxDocumentBytes, a missing path, an empty file', async () => {
    const file = tmp('GHSA-35jh-r3h4-6jhm.json');
    writeFileSync(file, lodash());
    await rejects(collect(file, { maxDocumentBytes: 100 }), file, /larger than 100 bytes/);
    await rejects(collect(path.join(scratch, 'nothing-here')), path.join(scratch, 'nothing-here'), /cannot be read/);
    const empty = tmp('empty.json');
    writeFileSync(empty, '');
    await rejects(collect(empty), empty, /empty/);
  });
});

describe('bundle verification', () => {
  const ed = generateKeyPairSync('ed25519');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('ed25519');
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();

  function bundle(content = 'bundle bytes\n'.repeat(10_000)): string {
    const file = tmp('osv-all.zip');
    writeFileSync(file, content);
    return file;
  }
  const digestOf = (file: string) => createHash('sha256').update(readFileSync(file)).digest();

  async function refuses(p: Promise<unknown>, reason: string, pattern?: RegExp): Promise<void> {
    let caught: unknown;
    await p.catch((err: unknown) => { caught = err; });
    assert.ok(caught instanceof BundleVerificationError, `expected a BundleVerificationError, got ${String(caught)}`);
    assert.equal(caught.reason, reason, caught.message);
    if (pattern) assert.match(caught.message, pattern);
  }

  const signers: [string, KeyObject, KeyObject, (file: string) => Buffer | string][] = [
    ['Ed25519 (over the SHA-256 digest), raw', ed.privateKey, ed.publicKey, (f) => sign(null, digestOf(f), ed.privateKey)],
    ['ECDSA P-256, DER', p256.privateKey, p256.publicKey, (f) => sign('sha256', readFileSync(f), p256.privateKey)],
    ['ECDSA P-256, IEEE-P1363, base64', p256.privateKey, p256.publicKey, (f) => sign('sha256', readFileSync(f), { key: p256.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64') + '\n'],
    ['ECDSA P-384, DER', p384.privateKey, p384.publicKey, (f) => sign('sha384', readFileSync(f), p384.privateKey)],
    ['RSA PKCS#1 v1.5, base64', rsa.privateKey, rsa.publicKey, (f) => sign('sha256', readFileSync(f), rsa.privateKey).toString('base64')],
    ['RSA PSS', rsa.privateKey, rsa.publicKey, (f) => sign('sha256', readFileSync(f), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })],
  ];

  for (const [name, , publicKey, signWith] of signers) {
    test(`${name}: a good signature verifies, a changed file does not`, async () => {
      const file = bundle();
      writeFileSync(`${file}.sig`, signWith(file));
      const trust = { keys: [other.publicKey, pem(publicKey)], requireSignature: true };
      const ok = await verifyBundle(file, trust);
      assert.equal(ok.verified, 'signature');
      assert.equal(ok.keyFingerprint, keyFingerprint(publicKey));
      assert.equal(ok.sha256, digestOf(file).toString('hex'));
      writeFileSync(file, readFileSync(file, 'utf8').replace('bundle', 'bundlE'));
      await refuses(verifyBundle(file, trust), 'bad-signature', /does not verify with any of the 2 trusted keys/);
    });
  }

  test('signed by a key that is not trusted: bad signature, or untrusted key when F.pub names the signer', async () => {
    const file = bundle();
    writeFileSync(`${file}.sig`, sign(null, digestOf(file), other.privateKey));
    const trust = { keys: [ed.publicKey, p256.publicKey], requireSignature: true };
    await refuses(verifyBundle(file, trust), 'bad-signature');
    writeFileSync(`${file}.pub`, pem(other.publicKey));
    await refuses(verifyBundle(file, trust), 'untrusted-key', new RegExp(keyFingerprint(other.publicKey)));
    // the same signer, trusted (as a private KeyObject: its public half counts)
    const ok = await verifyBundle(file, { keys: [other.privateKey], requireSignature: true });
    assert.equal(ok.keyFingerprint, keyFingerprint(other.publicKey));
  });

  test('checksum: matches, mismatches, names another file, is malformed', async () => {
    const file = bundle();
    const hex = digestOf(file).toString('hex');
    const noKeys = { keys: [], requireSignature: false };
    writeFileSync(`${file}.sha256`, `${hex}  ${path.basename(file)}\n`);
    assert.deepEqual(await verifyBundle(file, noKeys), { verified: 'checksum', sha256: hex, checksumMatched: true, warnings: [] });
    writeFileSync(`${file}.sha256`, `0000000000000000000000000000000000000000000000000000000000000000  other.zip\n${hex} *${path.basename(file)}\n`);
    assert.equal((await verifyBundle(file, noKeys)).verified, 'checksum', 'SHA256SUMS style, binary-mode marker');
    writeFileSync(`${file}.sha256`, `${'a'.repeat(64)}  ${path.basename(file)}\n`);
    await refuses(verifyBundle(file, noKeys), 'checksum-mismatch', new RegExp(hex));
    writeFileSync(`${file}.sha256`, `${hex}  other.zip\n${hex}  third.zip\n`);
    await refuses(verifyBundle(file, noKeys), 'bad-checksum-file', /no line for osv-all.zip/);
    writeFileSync(`${file}.sha256`, 'not a checksum\n');
    await refuses(verifyBundle(file, noKeys), 'bad-checksum-file');
  });

  test('signature and checksum together: both must hold', async () => {
    const file = bundle();
    writeFileSync(`${file}.sig`, sign(null, digestOf(file), ed.privateKey));
    writeFileSync(`${file}.sha256`, `${digestOf(file).toString('hex')}  ${path.basename(file)}\n`);
    const trust = { keys: [ed.publicKey], requireSignature: true };
    const ok = await verifyBundle(file, trust);
    assert.deepEqual([ok.verified, ok.checksumMatched], ['signature', true]);
    writeFileSync(`${file}.sha256`, `${'b'.repeat(64)}  ${path.basename(file)}\n`);
    await refuses(verifyBundle(file, trust), 'checksum-mismatch');
  });

  test('requireSignature: no .sig is refused (a checksum does not do), no trusted key is refused', async () => {
    const file = bundle();
    writeFileSync(`${file}.sha256`, `${digestOf(file).toString('hex')}  ${path.basename(file)}\n`);
    await refuses(verifyBundle(file, { keys: [ed.publicKey], requireSignature: true }), 'signature-required', /osv-all.zip.sig is absent/);
    writeFileSync(`${file}.sig`, sign(null, digestOf(file), ed.privateKey));
    await refuses(verifyBundle(file, { keys: [], requireSignature: true }), 'untrusted-key', /no key is trusted/);
    const unchecked = await verifyBundle(file, { keys: [], requireSignature: false });
    assert.equal(unchecked.verified, 'checksum');
    assert.deepEqual(unchecked.warnings, ['the signature was not checked: no key is trusted']);
  });

  test('nothing to check, a directory, unsupported keys, an empty signature', async () => {
    const file = bundle();
    assert.equal((await verifyBundle(file, { keys: [ed.publicKey], requireSignature: false })).verified, 'none');
    const dir = path.dirname(file);
    await refuses(verifyBundle(dir, { keys: [ed.publicKey], requireSignature: true }), 'unsigned-directory');
    assert.equal((await verifyBundle(dir, { keys: [], requireSignature: false })).verified, 'none');
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await refuses(verifyBundle(file, { keys: [short.publicKey], requireSignature: false }), 'bad-key', /too short/);
    const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    await refuses(verifyBundle(file, { keys: [p521.publicKey], requireSignature: false }), 'bad-key', /secp521r1/);
    await refuses(verifyBundle(file, { keys: ['not a pem'], requireSignature: false }), 'bad-key');
    writeFileSync(`${file}.sig`, '');
    await refuses(verifyBundle(file, { keys: [ed.publicKey], requireSignature: true }), 'bad-signature', /empty/);
  });

  test('signatures made with the openssl command line verify (ECDSA and RSA over the bytes, Ed25519 over the digest)', async () => {
    const probe = spawnSync('openssl', ['version']);
    assert.equal(probe.status, 0, 'openssl is needed: apt-get install -y openssl');
    const file = bundle();
    const work = path.dirname(file);
    const keys: [string, KeyObject][] = [['p256', p256.privateKey], ['rsa', rsa.privateKey], ['ed', ed.privateKey]];
    for (const [name, key] of keys) {
      const keyFile = path.join(work, `${name}.pem`);
      writeFileSync(keyFile, createPrivateKey(key.export({ type: 'pkcs8', format: 'pem' })).export({ type: 'pkcs8', format: 'pem' }));
      if (name === 'ed') {
        execFileSync('openssl', ['dgst', '-sha256', '-binary', '-out', `${file}.digest`, file]);
        execFileSync('openssl', ['pkeyutl', '-sign', '-rawin', '-inkey', keyFile, '-in', `${file}.digest`, '-out', `${file}.sig`]);
      } else {
        execFileSync('openssl', ['dgst', '-sha256', '-sign', keyFile, '-out', `${file}.sig`, file]);
      }
      const ok = await verifyBundle(file, { keys: [createPublicKey(key)], requireSignature: true });
      assert.equal(ok.verified, 'signature', name);
    }
  });
});
