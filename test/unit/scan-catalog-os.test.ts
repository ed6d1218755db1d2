// The OS package catalogers (dpkg, apk, rpm) and the os-release reader, on the shared fixtures copied from
// osv-scalibr (../shared/data/catalogers, see its SOURCES.md), on rpm databases that Debian's rpm writes
// here, and on this machine's own dpkg database, each compared with the package manager's own answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { apkCataloger, parseApkInstalled } from '../../src/scan/catalog/apk.js';
import { dpkgCataloger, parseDpkgStatus } from '../../src/scan/catalog/dpkg.js';
import { boundedLines } from '../../src/scan/catalog/dpkg-lines.js';
import { distributionFrom, OS_RELEASE_PATHS, parseOsRelease } from '../../src/scan/catalog/os-release.js';
import { bufferAccess } from '../../src/scan/catalog/rpm-file.js';
import { parseRpmHeader, parseSourceRpm, RpmHeaderError, rpmPackage } from '../../src/scan/catalog/rpm-header.js';
import { sqliteRows } from '../../src/scan/catalog/rpm-sqlite.js';
import { readRpmDatabase, readRpmDatabaseFile, rpmCataloger } from '../../src/scan/catalog/rpm.js';
import { CatalogError, type FileContent, type FoundPackage } from '../../src/scan/catalog/types.js';
import { which } from '../helpers/tools.js';

/**
 * Runs a tool to completion and returns its stdout, failing with its output when it exits non-zero. Its stdin
 * is closed from the start: a tool that exits at once (rpm --eval) must not race a write to its stdin (EPIPE).
 */
function runOk(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): { stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 180_000 });
  assert.equal(r.status, 0, `command failed (exit ${r.status}, ${r.error ?? r.signal ?? ''}): ${[cmd, ...args].join(' ')}\n--- stdout ---\n${r.stdout?.slice(-4000)}\n--- stderr ---\n${r.stderr?.slice(-6000)}`);
  return { stdout: r.stdout };
}

/** Fails (never skips) when a tool is missing, naming the Debian package that has it. */
function requireTool(cmd: string, pkg = cmd): void {
  assert.ok(which(cmd), `required tool "${cmd}" is not installed; install it with: apt-get install -y ${pkg}`);
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = path.join(repoRoot, '..', 'shared', 'data', 'catalogers');

/** A fixture's path; a missing one fails the test and says where the data is expected. */
function fixture(rel: string): string {
  const p = path.join(DATA, rel);
  assert.ok(existsSync(p), `test data ${rel} is missing: expected at ${p} (the shared scanner data, ../shared/data/catalogers beside the repository; see its SOURCES.md)`);
  return p;
}
const buffer = (p: string): FileContent => ({ kind: 'buffer', data: readFileSync(p) });
const stream = (p: string): FileContent => ({ kind: 'stream', stream: createReadStream(p), size: statSync(p).size });
const dpkgFixture = (rel: string) => parseDpkgStatus(stream(fixture(rel)), { statusRequired: true });
const nv = (pkgs: FoundPackage[]) => pkgs.map((p) => `${p.name} ${p.version}`);

describe('os-release', () => {
  test('parses quoting, escapes, comments and CRLF; the first of a repeated key wins', () => {
    const d = parseOsRelease([
      '# a comment', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="12"',
      "VERSION_CODENAME='bookworm'", 'ID=debian', 'ID=ubuntu', 'ID_LIKE="rhel  fedora"\r', 'BROKEN LINE', 'HOME_URL="https://www.debian.org/"',
    ].join('\n'));
    assert.deepEqual(d, { id: 'debian', versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)', idLike: ['rhel', 'fedora'] });
    assert.deepEqual(parseOsRelease('PRETTY_NAME="A \\"quoted\\" \\$name"\nID=x\\ y'), { prettyName: 'A "quoted" $name', id: 'x y' });
    assert.deepEqual(parseOsRelease(''), {});
    assert.deepEqual(parseOsRelease(randomBytes(4096)), {});
  });

  test('etc/os-release wins over usr/lib/os-release; the release files are fallbacks', () => {
    const alpine = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine Linux v3.18"\n';
    const ubi = 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n';
    assert.deepEqual(distributionFrom({ 'etc/os-release': ubi, 'usr/lib/os-release': alpine }), { id: 'rhel', idLike: ['fedora'], versionId: '9.4' });
    assert.equal(distributionFrom(new Map([['usr/lib/os-release', Buffer.from(alpine)]]))?.versionId, '3.18.4');
    // an etc/os-release naming no ID does not hide a good one
    assert.equal(distributionFrom({ 'etc/os-release': 'garbage', 'usr/lib/os-release': alpine })?.id, 'alpine');
    assert.deepEqual(distributionFrom({ 'etc/alpine-release': '3.18.4\n' }), { id: 'alpine', versionId: '3.18.4' });
    assert.deepEqual(distributionFrom({ 'etc/debian_version': '12.11\n' }), { id: 'debian', versionId: '12' });
    assert.deepEqual(distributionFrom({ 'etc/debian_version': 'trixie/sid\n' }), { id: 'debian', versionCodename: 'trixie' });
    // Debian testing's os-release has no VERSION_ID, and debian_version does not give it one
    assert.deepEqual(distributionFrom({ 'etc/os-release': 'ID=debian\nVERSION_CODENAME=trixie\n', 'etc/debian_version': 'trixie/sid' }), { id: 'debian', versionCodename: 'trixie' });
    assert.deepEqual(distributionFrom({ 'etc/os-release': 'ID=debian\n', 'etc/debian_version': '11.9' }), { id: 'debian', versionId: '11' });
    assert.equal(distributionFrom({}), undefined);
    assert.equal(distributionFrom({ 'etc/alpine-release': '\x00\x01 not a release' }), undefined);
  });

  test('wants exactly its files, as buffers', () => {
    for (const p of ['etc/os-release', 'usr/lib/os-release', 'etc/debian_version', 'etc/alpine-release']) assert.equal(OS_RELEASE_PATHS.wants(p), 'buffer', p);
    for (const p of ['etc/os-release.d/x', 'usr/lib/os-release.bak', 'etc/issue']) assert.equal(OS_RELEASE_PATHS.wants(p), false, p);
  });

  test('the os-release of this machine reads as its own tools read it', () => {
    const d = distributionFrom({ 'etc/os-release': readFileSync('/etc/os-release'), 'etc/debian_version': readFileSync('/etc/debian_version') });
    const sourced = spawnSync('sh', ['-c', '. /etc/os-release && printf "%s\\n%s\\n%s\\n" "$ID" "$VERSION_ID" "$PRETTY_NAME"'], { encoding: 'utf8' });
    const [id, versionId, prettyName] = sourced.stdout.split('\n');
    assert.equal(d?.id, id);
    assert.equal(d?.versionId, versionId);
    assert.equal(d?.prettyName, prettyName);
  });
});

describe('dpkg', () => {
  test('valid: every installed stanza, with epoch, Source and "Source: name (version)"', async () => {
    const pkgs = await dpkgFixture('dpkg/dpkg/valid');
    assert.deepEqual(nv(pkgs), ['accountsservice 22.08.8-6', 'acl 2.3.1-3', 'adduser 3.131', 'admin-session 2023.06.26.c543406313-00', 'attr 1:2.5.1-4', 'libacl1 2.3.1-3', 'util-linux-extra 2.38.1-5+b1']);
    assert.deepEqual(pkgs.find((p) => p.name === 'libacl1'), { type: 'deb', name: 'libacl1', version: '2.3.1-3', arch: 'amd64', source: { name: 'acl' }, confidence: 'exact' });
    assert.deepEqual(pkgs.find((p) => p.name === 'util-linux-extra')?.source, { name: 'util-linux', version: '2.38.1-5' });
    assert.equal(pkgs.find((p) => p.name === 'adduser')?.arch, 'all');
    assert.ok(pkgs.every((p) => p.licenses === undefined), 'dpkg status has no licences');
  });

  test('single, trailing blank lines, transitional packages', async () => {
    assert.deepEqual(nv(await dpkgFixture('dpkg/dpkg/single')), ['acl 2.3.1-3']);
    assert.deepEqual(nv(await dpkgFixture('dpkg/dpkg/trailingnewlines')), ['acl 2.3.1-3']);
    const [iceweasel] = await dpkgFixture('dpkg/dpkg/transitional');
    assert.deepEqual(iceweasel, { type: 'deb', name: 'iceweasel', version: '78.13.0esr-1~deb10u1', arch: 'all', source: { name: 'firefox-esr' }, confidence: 'exact' });
    assert.deepEqual((await dpkgFixture('dpkg/dpkg/transitional_dummy')).map((p) => [p.name, p.version, p.source?.name]), [['git-core', '1:2.14.2-1', 'git']]);
    assert.deepEqual((await dpkgFixture('dpkg/dpkg/transitional_empty')).map((p) => [p.name, p.version, p.source?.name]), [['runit-systemd', '2.1.2-54+usrmerge', 'runit']]);
  });

  test('statusfield: only installed packages count (not deinstall/purge/unpacked/half-installed/no Status)', async () => {
    assert.deepEqual(nv(await dpkgFixture('dpkg/dpkg/statusfield')), ['wantinstall_installed 1.0']);
  });

  test('a stanza without Package or Version is skipped, the others kept', async () => {
    assert.deepEqual(nv(await dpkgFixture('dpkg/dpkg/nopackage')), ['foo 1.0', 'bar 2.0']);
    assert.deepEqual(nv(await dpkgFixture('dpkg/dpkg/noversion')), ['foo 1.0', 'bar 2.0']);
  });

  test('empty and invalid files give no packages', async () => {
    assert.deepEqual(await dpkgFixture('dpkg/dpkg/empty'), []);
    assert.deepEqual(await dpkgFixture('dpkg/dpkg/invalid'), []);
  });

  test('status.d (distroless): no Status means installed, a Status that says otherwise still excludes; md5sums are not read', async () => {
    assert.equal(dpkgCataloger.wants('var/lib/dpkg/status.d/foo', { size: 1, mode: 0o644 }), 'stream');
    assert.equal(dpkgCataloger.wants('var/lib/dpkg/status.d/foo.md5sums', { size: 1, mode: 0o644 }), false);
    assert.equal(dpkgCataloger.wants('var/lib/dpkg/status.d/sub/foo', { size: 1, mode: 0o644 }), false);
    assert.equal(dpkgCataloger.wants('var/lib/dpkg/status', { size: 1, mode: 0o644 }), 'stream');
    for (const p of ['var/lib/dpkg/status-old', 'var/lib/dpkg/available', 'usr/lib/opkg/status', 'x/var/lib/dpkg/status']) assert.equal(dpkgCataloger.wants(p, { size: 1, mode: 0o644 }), false, p);
    const pkgs = await dpkgCataloger.parse('var/lib/dpkg/status.d/foo', stream(fixture('dpkg/dpkg/status.d/foo')));
    assert.deepEqual(pkgs, [{ type: 'deb', name: 'foo', version: '1.2.3', arch: 'amd64', confidence: 'exact' }]);
    assert.ok(existsSync(fixture('dpkg/dpkg/status.d/foo.md5sums')));
  });

  test('opkg status files share the format: the parser reads them (the cataloger does not claim them: no opkg package type)', async () => {
    const opkg = async (f: string) => nv(await dpkgFixture(`dpkg/opkg/${f}`));
    const three = ['ubus 2024.10.20~252a9b0c-r1', 'libuci20130104 2023.08.10~5781664d-r1', 'busybox 1.36.1-r2'];
    assert.deepEqual(await opkg('valid'), three);
    assert.deepEqual(await opkg('single'), [three[0]]);
    assert.deepEqual(await opkg('trailingnewlines'), [three[0]]);
    assert.deepEqual(await opkg('transitional'), [three[0]]);
    assert.deepEqual(await opkg('nopackage'), [three[0], three[2]]);
    assert.deepEqual(await opkg('noversion'), [three[0], three[2]]);
    assert.deepEqual(await opkg('statusfield'), ['wantinstall_installed 1.0']);
    assert.deepEqual(await opkg('empty'), []);
    assert.deepEqual(await opkg('invalid'), []);
    assert.equal((await dpkgFixture('dpkg/opkg/valid'))[0].arch, 'x86_64');
  });

  test('CRLF line ends, held packages, field names in any case, Source with a version equal to the binary', async () => {
    const text = 'package: a\r\nstatus: hold ok installed\r\nVERSION: 1.0\r\nSource: s (1.0)\r\n\r\nPackage: b\r\nStatus: install ok installed\r\nVersion: 2\r\n Continued: line\r\n';
    const pkgs = await parseDpkgStatus({ kind: 'buffer', data: Buffer.from(text) }, { statusRequired: true });
    assert.deepEqual(pkgs, [
      { type: 'deb', name: 'a', version: '1.0', source: { name: 's' }, confidence: 'exact' },
      { type: 'deb', name: 'b', version: '2', confidence: 'exact' },
    ]);
  });

  test("this machine's /var/lib/dpkg/status gives the installed set dpkg-query reports", async () => {
    requireTool('dpkg-query', 'dpkg');
    const q = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\n'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.equal(q.status, 0, q.stderr);
    // "ii" (install, installed) and "hi" (hold, installed), no error flag: the packages whose files are in place
    const expected = q.stdout.split('\n').filter((l) => /\s[ih]i\s*$/.test(l)).map((l) => l.split(' ').slice(0, 2).join(' ')).sort();
    assert.ok(expected.length > 50, `dpkg-query listed only ${expected.length} installed packages`);
    const pkgs = await dpkgCataloger.parse('var/lib/dpkg/status', stream('/var/lib/dpkg/status'));
    assert.deepEqual(nv(pkgs).sort(), expected);
  });
});

describe('apk', () => {
  test('installed: 15 packages with name, version, origin, arch and licence', async () => {
    const pkgs = await apkCataloger.parse('lib/apk/db/installed', stream(fixture('apk/installed')));
    const expected = [
      ['alpine-baselayout', '3.4.3-r1', 'alpine-baselayout'], ['alpine-baselayout-data', '3.4.3-r1', 'alpine-baselayout'],
      ['alpine-keys', '2.4-r1', 'alpine-keys'], ['apk-tools', '2.14.0-r0', 'apk-tools'], ['busybox', '1.36.0-r9', 'busybox'],
      ['busybox-binsh', '1.36.0-r9', 'busybox'], ['ca-certificates-bundle', '20230506-r0', 'ca-certificates'],
      ['libc-utils', '0.7.2-r5', 'libc-dev'], ['libcrypto3', '3.1.0-r4', 'openssl'], ['libssl3', '3.1.0-r4', 'openssl'],
      ['musl', '1.2.4-r0', 'musl'], ['musl-utils', '1.2.4-r0', 'musl'], ['scanelf', '1.3.7-r1', 'pax-utils'],
      ['ssl_client', '1.36.0-r9', 'busybox'], ['zlib', '1.2.13-r1', 'zlib'],
    ];
    assert.deepEqual(pkgs.map((p) => [p.name, p.version, p.source?.name]), expected);
    assert.ok(pkgs.every((p) => p.type === 'apk' && p.arch === 'x86_64' && p.confidence === 'exact' && p.source?.version === undefined));
    assert.deepEqual(pkgs.find((p) => p.name === 'ca-certificates-bundle')?.licenses, ['MPL-2.0 AND MIT']);
  });

  test('single, different arch, no origin', async () => {
    assert.deepEqual(await parseApkInstalled(buffer(fixture('apk/single'))), [
      { type: 'apk', name: 'alpine-baselayout-data', version: '3.4.3-r1', arch: 'x86_64', source: { name: 'alpine-baselayout' }, licenses: ['GPL-2.0-only'], confidence: 'exact' },
    ]);
    assert.deepEqual((await parseApkInstalled(buffer(fixture('apk/different-arch')))).map((p) => p.arch), ['noarch']);
    assert.deepEqual(await parseApkInstalled(buffer(fixture('apk/no-origin'))), [
      { type: 'apk', name: 'pkgname', version: '1.2.3', arch: 'x86_64', licenses: ['GPL-2.0-only'], confidence: 'exact' },
    ]);
  });

  test('empty and invalid give no packages; only lib/apk/db/installed is wanted', async () => {
    assert.deepEqual(await parseApkInstalled(buffer(fixture('apk/empty'))), []);
    assert.deepEqual(await parseApkInstalled(buffer(fixture('apk/invalid'))), []);
    assert.equal(apkCataloger.wants('lib/apk/db/installed', { size: 1, mode: 0o644 }), 'stream');
    assert.equal(apkCataloger.wants('lib/apk/db/triggers', { size: 1, mode: 0o644 }), false);
  });
});

/** A header as rpm's tests build one: entries (tag, type, value), strings NUL-terminated, int32 aligned. */
function rpmHeaderBlob(entries: Array<[tag: number, type: number, value: string | number]>): Buffer {
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let dl = 0;
  for (const [tag, type, value] of entries) {
    if (typeof value === 'number') {
      const pad = (4 - (dl % 4)) % 4;
      data.push(Buffer.alloc(pad));
      dl += pad;
    }
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag, 0); e.writeUInt32BE(type, 4); e.writeInt32BE(dl, 8); e.writeUInt32BE(1, 12);
    index.push(e);
    const v = typeof value === 'number' ? Buffer.alloc(4) : Buffer.from(`${value}\0`);
    if (typeof value === 'number') v.writeUInt32BE(value);
    data.push(v);
    dl += v.length;
  }
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(dl, 4);
  return Buffer.concat([head, ...index, ...data]);
}

describe('rpm header', () => {
  test('reads name, epoch:version-release, arch, source rpm and licence; skips gpg-pubkey', () => {
    const blob = rpmHeaderBlob([[1000, 6, 'bash'], [1001, 6, '5.1.8'], [1002, 6, '9.el9'], [1003, 4, 2], [1022, 6, 'x86_64'], [1044, 6, 'bash-5.1.8-9.el9.src.rpm'], [1014, 6, 'GPL-3.0-or-later']]);
    assert.deepEqual(rpmPackage(parseRpmHeader(blob)), { type: 'rpm', name: 'bash', version: '2:5.1.8-9.el9', arch: 'x86_64', source: { name: 'bash' }, licenses: ['GPL-3.0-or-later'], confidence: 'exact' });
    const sub = rpmHeaderBlob([[1000, 6, 'python3-libs'], [1001, 6, '3.9.18'], [1002, 6, '3.el9'], [1044, 6, 'python3.9-3.9.18-1.el9.src.rpm']]);
    assert.deepEqual(rpmPackage(parseRpmHeader(sub))?.source, { name: 'python3.9', version: '3.9.18-1.el9' });
    assert.equal(rpmPackage(parseRpmHeader(rpmHeaderBlob([[1000, 6, 'gpg-pubkey'], [1001, 6, 'fd431d51'], [1002, 6, '4ae0493b']]))), undefined);
    assert.equal(rpmPackage(parseRpmHeader(rpmHeaderBlob([[1000, 6, 'noversion']]))), undefined);
    assert.deepEqual(parseSourceRpm('glibc-2.34-100.el9_4.2.nosrc.rpm'), { name: 'glibc', version: '2.34-100.el9_4.2' });
    assert.equal(parseSourceRpm('(none)'), undefined);
    assert.equal(parseSourceRpm('-1-2.src.rpm'), undefined);
  });
});

/** Berth's packages in the shape of `rpm -qa --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}'`. */
function asRpmQuery(pkgs: FoundPackage[]): string[] {
  return pkgs.map((p) => {
    const evr = /^\d+:/.test(p.version) ? p.version : `0:${p.version}`;
    const vr = evr.slice(evr.indexOf(':') + 1);
    const src = p.source ? `${p.source.name}-${p.source.version ?? vr}.src.rpm` : '(none)';
    return `${p.name} ${evr} ${p.arch ?? '(none)'} ${src}`;
  }).sort();
}

const QF = '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n';

async function rpmQuery(dbpath: string, backend?: string): Promise<string[]> {
  const args = ['-qa', '--dbpath', dbpath, '--qf', QF];
  if (backend) args.push('--define', `_db_backend ${backend}`);
  const r = runOk('rpm', args);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** The file a BerkeleyDB utility loads: db_dump's "bytevalue" format, hex keys and values. */
function bdbDump(rows: Array<{ hnum: number; blob: Buffer }>): string {
  const key = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b.toString('hex'); };
  return ['VERSION=3', 'format=bytevalue', 'type=hash', 'HEADER=END', ...rows.flatMap((r) => [` ${key(r.hnum)}`, ` ${r.blob.toString('hex')}`]), 'DATA=END', ''].join('\n');
}

/** An NDB Packages.db as rpm's rpmpkg.c lays one out (Debian's rpm has no NDB backend to write one). */
function ndbFile(blobs: Buffer[]): Buffer {
  const slotPages = 1;
  const parts: Buffer[] = [];
  const slots = Buffer.alloc(4096 * slotPages);
  for (let o = 0; o < slots.length; o += 16) slots.writeUInt32LE(0x746f6c53, o);
  slots.writeUInt32LE(0x506d7052, 0); slots.writeUInt32LE(0, 4); slots.writeUInt32LE(7, 8); slots.writeUInt32LE(slotPages, 12); slots.writeUInt32LE(blobs.length + 1, 16);
  let blk = (4096 * slotPages) / 16;
  blobs.forEach((blob, i) => {
    const blkcnt = Math.ceil((16 + blob.length + 12) / 16);
    const all = Buffer.alloc(blkcnt * 16);
    all.writeUInt32LE(0x53626c42, 0); all.writeUInt32LE(i + 1, 4); all.writeUInt32LE(1700000000, 8); all.writeUInt32LE(blob.length, 12);
    blob.copy(all, 16);
    let a = 1, b = 0;
    for (let j = 0; j < all.length - 12; j++) { a = (a + all[j]) % 65521; b = (b + a) % 65521; }
    all.writeUInt32LE(((b << 16) | a) >>> 0, all.length - 12); all.writeUInt32LE(blob.length, all.length - 8); all.writeUInt32LE(0x45626c42, all.length - 4);
    const slot = 32 + 16 * i;
    slots.writeUInt32LE(i + 1, slot + 4); slots.writeUInt32LE(blk, slot + 8); slots.writeUInt32LE(blkcnt, slot + 12);
    parts.push(all);
    blk += blkcnt;
  });
  return Buffer.concat([slots, ...parts]);
}

describe('rpm databases', () => {
  let work: string;
  let sqliteDb: string; // rpmdb.sqlite as Debian's rpm wrote it
  let expected: string[]; // rpm -qa on it, without the gpg-pubkey entries
  let rows: Array<{ hnum: number; blob: Buffer }>;

  before(async () => {
    requireTool('rpm');
    requireTool('rpmbuild', 'rpm');
    requireTool('gpg');
    work = await mkdtemp(path.join(tmpdir(), 'berth-rpm-test-'));
    // One spec with many subpackages (so the table b-tree has interior pages) and a description long enough
    // that every header overflows a 4 KiB page; another without an epoch. No files: --justdb writes headers only.
    const long = Array.from({ length: 300 }, (_, i) => `Line ${i} of a description long enough to overflow a database page.`).join('\n');
    const subs = Array.from({ length: 60 }, (_, i) => `%package -n berth-sub-${i}\nSummary: sub ${i}\nLicense: BSD-3-Clause\n%description -n berth-sub-${i}\n${long}\n%files -n berth-sub-${i}\n`).join('\n');
    await writeFile(path.join(work, 'main.spec'), `Name: berth-test\nEpoch: 3\nVersion: 1.2.3\nRelease: 4.b1\nSummary: Berth rpmdb test\nLicense: MIT AND (Apache-2.0 OR BSD-3-Clause)\nBuildArch: noarch\n%description\n${long}\n%files\n\n${subs}`);
    await writeFile(path.join(work, 'plain.spec'), 'Name: plain\nVersion: 2.0\nRelease: 1\nSummary: no epoch\nLicense: GPL-2.0-or-later\nBuildArch: noarch\n%description\nplain\n%files\n');
    for (const spec of ['main.spec', 'plain.spec']) {
      runOk('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${path.join(work, 'top')}`, '--define', '_build_id_links none', path.join(work, spec)], { timeoutMs: 300_000 });
    }
    const rpmsDir = path.join(work, 'top', 'RPMS', 'noarch');
    const rpms = (await readdir(rpmsDir)).map((f) => path.join(rpmsDir, f));
    assert.equal(rpms.length, 62);
    const dbpath = path.join(work, 'sqlite');
    runOk('rpm', ['--initdb', '--dbpath', dbpath]);
    runOk('rpm', ['-i', '--justdb', '--nodeps', '--noscripts', '--notriggers', '--dbpath', dbpath, ...rpms], { timeoutMs: 300_000 });
    // `rpm --import` adds gpg-pubkey pseudo-packages, which are keys, not software.
    await mkdir(path.join(work, 'gnupg'), { recursive: true, mode: 0o700 });
    const keys = spawnSync('gpg', ['--homedir', path.join(work, 'gnupg'), '--no-default-keyring', '--keyring', '/usr/share/keyrings/debian-archive-keyring.gpg', '--export', '--armor'], { encoding: 'utf8' });
    assert.match(keys.stdout, /BEGIN PGP PUBLIC KEY BLOCK/, `could not export a public key from Debian's archive keyring (apt-get install -y debian-archive-keyring): ${keys.stderr}`);
    await writeFile(path.join(work, 'keys.asc'), keys.stdout);
    runOk('rpm', ['--dbpath', dbpath, '--import', path.join(work, 'keys.asc')]);
    sqliteDb = path.join(dbpath, 'rpmdb.sqlite');
    const all = await rpmQuery(dbpath);
    assert.ok(all.some((l) => l.startsWith('gpg-pubkey ')), 'rpm --import added no gpg-pubkey entry');
    expected = all.filter((l) => !l.startsWith('gpg-pubkey '));
    assert.equal(expected.length, 62);
    const db = new Database(sqliteDb, { readonly: true, fileMustExist: true });
    try {
      rows = (db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum').all() as Array<{ hnum: number; blob: Buffer }>);
    } finally {
      db.close();
    }
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("Debian's rpm writes sqlite by default, and cannot write BerkeleyDB (bdb_ro reads it)", async () => {
    assert.equal((runOk('rpm', ['--eval', '%_db_backend'])).stdout.trim(), 'sqlite');
    const rc = runOk('rpm', ['--showrc']);
    const backends = /available backends\s*:\s*(.*)/.exec(rc.stdout)?.[1]?.split(/\s+/) ?? [];
    assert.ok(backends.includes('sqlite') && backends.includes('bdb_ro'), `backends: ${backends.join(' ')}`);
    assert.ok(!backends.includes('bdb') && !backends.includes('ndb'), `Debian's rpm now writes ${backends.join(' ')}: test those directly`);
  });

  test('SQLite reader: the Packages rows SQLite itself returns, blob for blob (headers overflow their pages)', async () => {
    const ours: Buffer[] = [];
    const file = bufferAccess(await readFile(sqliteDb));
    for await (const row of sqliteRows(file, 'Packages', { maxPayloadBytes: 1 << 26 })) ours.push(row[1] as Buffer);
    assert.equal(ours.length, rows.length);
    ours.forEach((b, i) => assert.ok(b.equals(rows[i].blob), `row ${i} differs`));
    assert.ok(rows.filter((r) => r.blob.length > 4096).length >= 61, 'headers were expected to overflow a 4 KiB page');
  });

  test('rpmdb.sqlite written by rpm: the packages rpm -qa lists', async () => {
    assert.deepEqual(asRpmQuery(await readRpmDatabaseFile(sqliteDb)), expected);
    const pkgs = await readRpmDatabaseFile(sqliteDb);
    assert.deepEqual(pkgs.find((p) => p.name === 'berth-test'), { type: 'rpm', name: 'berth-test', version: '3:1.2.3-4.b1', arch: 'noarch', source: { name: 'berth-test' }, licenses: ['MIT AND (Apache-2.0 OR BSD-3-Clause)'], confidence: 'exact' });
    assert.equal(pkgs.find((p) => p.name === 'plain')?.version, '2.0-1');
    assert.deepEqual(pkgs.find((p) => p.name === 'berth-sub-7')?.licenses, ['BSD-3-Clause']);
  });

  test('as the walker hands it over (a stream): spooled to a temporary file that is removed afterwards', async () => {
    const spoolRoot = path.join(work, 'spool-tmp');
    await mkdir(spoolRoot);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = spoolRoot; // os.tmpdir() reads it on every call
    try {
      assert.equal(rpmCataloger.wants('var/lib/rpm/rpmdb.sqlite', { size: 1, mode: 0o644 }), 'stream');
      const pkgs = await rpmCataloger.parse('var/lib/rpm/rpmdb.sqlite', stream(sqliteDb));
      assert.deepEqual(asRpmQuery(pkgs), expected);
      assert.deepEqual(await readdir(spoolRoot), []);
      await assert.rejects(rpmCataloger.parse('var/lib/rpm/rpmdb.sqlite', { kind: 'stream', stream: Readable.from([randomBytes(70_000)]), size: 70_000 }), CatalogError);
      assert.deepEqual(await readdir(spoolRoot), [], 'the spool of a failed parse was left behind');
    } finally {
      if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved;
    }
  });

  test('BerkeleyDB hash Packages (written by BerkeleyDB 5.3, read by rpm bdb_ro): the same packages', async () => {
    requireTool('db5.3_load', 'db5.3-util');
    await writeFile(path.join(work, 'dump.txt'), bdbDump(rows));
    // default pages, and 512-byte pages with a low fill factor: many buckets, every header on overflow pages
    for (const [name, opts] of [['bdb', []], ['bdb-small', ['-c', 'db_pagesize=512', '-c', 'h_ffactor=2']]] as const) {
      const dbpath = path.join(work, name);
      await mkdir(dbpath);
      runOk('db5.3_load', [...opts, '-f', path.join(work, 'dump.txt'), path.join(dbpath, 'Packages')]);
      assert.deepEqual(await rpmQuery(dbpath, 'bdb_ro'), [...expected, ...(await rpmQuery(path.dirname(sqliteDb))).filter((l) => l.startsWith('gpg-pubkey '))].sort());
      assert.deepEqual(asRpmQuery(await readRpmDatabaseFile(path.join(dbpath, 'Packages'))), expected, name);
      assert.deepEqual(asRpmQuery(await rpmCataloger.parse('usr/lib/sysimage/rpm/Packages', stream(path.join(dbpath, 'Packages')))), expected);
    }
  });

  test('shared fixture Packages_epoch: hello 1:0.0.1-rls, as rpm bdb_ro reads it', async () => {
    const file = fixture('rpm/Packages_epoch');
    const pkgs = await readRpmDatabaseFile(file);
    assert.deepEqual(pkgs.map((p) => [p.name, p.version]), [['hello', '1:0.0.1-rls']]);
    const dbpath = path.join(work, 'epoch');
    await mkdir(dbpath);
    await writeFile(path.join(dbpath, 'Packages'), readFileSync(file));
    assert.deepEqual(asRpmQuery(pkgs), await rpmQuery(dbpath, 'bdb_ro'));
  });

  test('NDB Packages.db laid out per rpmpkg.c: the same packages (not checked against rpm: Debian has no NDB)', async () => {
    const file = path.join(work, 'Packages.db');
    await writeFile(file, ndbFile(rows.map((r) => r.blob)));
    assert.deepEqual(asRpmQuery(await readRpmDatabaseFile(file)), expected);
    const broken = readFileSync(file);
    broken[4096 + 100] ^= 0xff; // inside the first blob: its checksum no longer holds
    await assert.rejects(readRpmDatabase(bufferAccess(broken)), CatalogError);
  });

  test('wants the database files of both rpm locations, nothing else', () => {
    for (const p of ['var/lib/rpm/Packages', 'var/lib/rpm/rpmdb.sqlite', 'var/lib/rpm/Packages.db', 'usr/lib/sysimage/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/Packages']) assert.equal(rpmCataloger.wants(p, { size: 1, mode: 0o644 }), 'stream', p);
    for (const p of ['var/lib/rpm/Name', 'var/lib/rpm/rpmdb.sqlite-wal', 'var/lib/rpm/__db.001', 'opt/var/lib/rpm/Packages']) assert.equal(rpmCataloger.wants(p, { size: 1, mode: 0o644 }), false, p);
  });

  test('hostile databases: truncated, bit-flipped, looping or garbage files end in a CatalogError or fewer packages, never a crash', async () => {
    const bdb = readFileSync(path.join(work, 'bdb-small', 'Packages'));
    const sqlite = readFileSync(sqliteDb);
    const ndb = readFileSync(path.join(work, 'Packages.db'));
    const attempts: Buffer[] = [];
    for (const db of [bdb, sqlite, ndb]) {
      for (const len of [0, 16, 100, 511, 512, 4096, 5000, Math.floor(db.length / 2), db.length - 1]) attempts.push(db.subarray(0, len));
      for (let i = 0; i < 40; i++) {
        const copy = Buffer.from(db);
        const at = (i * 7919 + 13) % copy.length;
        copy.writeUInt32LE(((i + 1) * 2654435761) >>> 0, Math.min(at, copy.length - 4));
        attempts.push(copy);
      }
    }
    // BerkeleyDB pages whose next-page link points back at themselves
    const loop = Buffer.from(bdb);
    for (let pg = 1; pg * 512 < loop.length; pg++) loop.writeUInt32LE(pg, pg * 512 + 16);
    attempts.push(loop);
    // an SQLite header over random pages
    attempts.push(Buffer.concat([sqlite.subarray(0, 100), randomBytes(8192)]));
    attempts.push(randomBytes(100_000));
    for (const [i, data] of attempts.entries()) {
      try {
        const pkgs = await readRpmDatabase(bufferAccess(data));
        assert.ok(pkgs.length <= expected.length, `attempt ${i}: ${pkgs.length} packages`);
      } catch (err) {
        assert.ok(err instanceof CatalogError, `attempt ${i}: ${(err as Error).stack}`);
      }
    }
  });

  test('truncated and corrupted headers are skipped without throwing', () => {
    const blob = rows[0].blob;
    for (let len = 0; len < blob.length; len += 97) {
      try { parseRpmHeader(blob.subarray(0, len)); } catch (err) { assert.ok(err instanceof RpmHeaderError, String(err)); }
    }
    // every index entry pointing past the data store, huge counts, wrong types
    const bad = Buffer.from(blob);
    const il = bad.readUInt32BE(0);
    for (let e = 0; e < il; e++) {
      const at = 8 + 16 * e;
      bad.writeUInt32BE([6, 4, 8, 9][e % 4], at + 4);
      bad.writeInt32BE(e % 2 ? 0x7fffffff : -5, at + 8);
      bad.writeUInt32BE(0xffffffff, at + 12);
    }
    assert.deepEqual(parseRpmHeader(bad), {});
    // a name string with no terminating NUL before the end of the data store
    const unterminated = rpmHeaderBlob([[1000, 6, 'x'], [1001, 6, '1']]);
    unterminated[unterminated.length - 1] = 0x41;
    assert.equal(parseRpmHeader(unterminated).version, undefined);
  });
});

describe('hostile text databases', () => {
  /** A 64 MiB line with no newline, streamed in 1 MiB chunks, before and after a valid record. */
  function hugeLine(before: string, after: string): FileContent {
    const chunk = Buffer.alloc(1 << 20, 0x41);
    async function* gen() {
      yield Buffer.from(before);
      for (let i = 0; i < 64; i++) yield chunk;
      yield Buffer.from(after);
    }
    return { kind: 'stream', stream: Readable.from(gen()), size: 0 };
  }

  test('a huge line is cut and skipped; records around it still count', async () => {
    const dpkg = await parseDpkgStatus(hugeLine('Package: a\nStatus: install ok installed\nVersion: 1\n\nDescription: ', '\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n'), { statusRequired: true });
    assert.deepEqual(nv(dpkg), ['a 1', 'b 2']);
    const apk = await parseApkInstalled(hugeLine('P:a\nV:1\n\nT:', '\n\nP:b\nV:2\n'));
    assert.deepEqual(nv(apk), ['a 1', 'b 2']);
    // a huge Package value is not taken as a name
    assert.deepEqual(await parseDpkgStatus(hugeLine('Status: install ok installed\nVersion: 1\nPackage: ', '\n'), { statusRequired: true }), []);
  });

  test('the line reader holds at most its limit of one line', async () => {
    const lines = [];
    for await (const l of boundedLines({ kind: 'buffer', data: Buffer.from('short\r\n' + 'x'.repeat(100) + '\nlast') }, 10)) lines.push(l);
    assert.deepEqual(lines, [{ text: 'short', cut: false }, { text: 'x'.repeat(10), cut: true }, { text: 'last', cut: false }]);
  });

  test('binary garbage gives no packages and no error', async () => {
    for (let i = 0; i < 5; i++) {
      const data = randomBytes(1 << 20);
      assert.deepEqual(await parseDpkgStatus({ kind: 'buffer', data }, { statusRequired: false }), []);
      assert.deepEqual(await parseApkInstalled({ kind: 'buffer', data }), []);
      parseOsRelease(data);
    }
  });
});
