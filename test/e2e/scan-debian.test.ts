// Scanning a real Debian image end to end: a minbase bookworm root filesystem (mmdebstrap) as a gzip layer,
// a distroless-style dpkg record in a zstd layer on top, pushed by skopeo as one image and as a two-platform
// index. Every push is catalogued by the server in the background; the catalogue must list exactly what
// dpkg itself says is installed, each package from the layer that brought it, with Package URLs; the SBOMs
// served from it must pass the CycloneDX 1.6 and SPDX 2.3 schemas and name the same packages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import path from 'node:path';
import { Ajv } from 'ajv';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { startBerth, tempDir, removeDir, runCli, ADMIN_PASSWORD, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { makeTar } from '../helpers/ocilayout.js';
import { requireTool, containersConfig, Skopeo } from '../helpers/tools.js';
import { waitFor } from '../helpers/receiver.js';
import { debianRootfsTar, debianSecurityFixes, dpkgInstalled } from '../helpers/debian-image.js';

let berth: BerthProcess;
let work: string;
let skopeo: Skopeo;
let installed: string[];
let layer0: { digest: string; size: number };
let layer1: { digest: string; size: number };
let layer2: { digest: string; size: number };
let goVersion: string;
const REPO = 'admin/debian';
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

const EXTRA = 'Package: berth-extra\nVersion: 1.2-3\nArchitecture: all\nSource: berth-extra-src (1.2-2)\n\n';

async function writeBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

before(async () => {
  requireTool('skopeo');
  requireTool('zstd');
  const tar = debianRootfsTar();
  installed = await dpkgInstalled(tar);
  work = await tempDir('berth-e2e-scan-');
  const cfg = await containersConfig(path.join(work, 'cfg'));
  skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
  const src = path.join(work, 'layout');
  const { mkdir, writeFile, rename } = await import('node:fs/promises');
  await mkdir(path.join(src, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(src, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  // Layer 0: the root filesystem, gzip, streamed to disk while hashed (170 MB of tar).
  const hash = createHash('sha256');
  let size = 0;
  const tmp = path.join(src, 'layer0.tmp');
  await pipeline(createReadStream(tar), createGzip({ level: 1 }), new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); size += c.length; cb(null, c); } }), createWriteStream(tmp));
  layer0 = { digest: `sha256:${hash.digest('hex')}`, size };
  await rename(tmp, path.join(src, 'blobs', 'sha256', layer0.digest.slice(7)));
  // Layer 1: a distroless-style record (status.d), zstd.
  const z = spawnSync('zstd', ['-q', '-c'], { input: makeTar([{ name: 'var/lib/dpkg/status.d', type: 'dir' }, { name: 'var/lib/dpkg/status.d/berth-extra', data: Buffer.from(EXTRA) }]) });
  assert.equal(z.status, 0);
  layer1 = await writeBlob(src, z.stdout);
  // Layer 2: an application: a real `npm install lodash@4.17.20` and a Go binary built with Debian's Go.
  requireTool('npm');
  requireTool('go');
  const app = path.join(work, 'app-root');
  await mkdir(path.join(app, 'srv', 'app'), { recursive: true });
  await writeFile(path.join(app, 'srv', 'app', 'package.json'), JSON.stringify({ name: 'scan-e2e-app', version: '1.0.0', private: true }));
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', 'lodash@4.17.20'], { cwd: path.join(app, 'srv', 'app'), encoding: 'utf8', timeout: 300_000 });
  assert.equal(npm.status, 0, npm.stderr);
  const gosrc = path.join(work, 'gosrc');
  await mkdir(gosrc, { recursive: true });
  await writeFile(path.join(gosrc, 'go.mod'), 'module example.com/scanhello\n\ngo 1.19\n');
  await writeFile(path.join(gosrc, 'main.go'), 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n');
  await mkdir(path.join(app, 'usr', 'local', 'bin'), { recursive: true });
  const goEnv = { ...process.env, GOPATH: path.join(work, 'gopath'), GOCACHE: path.join(work, 'gocache'), GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  const go = spawnSync('go', ['build', '-o', path.join(app, 'usr', 'local', 'bin', 'scanhello'), '.'], { cwd: gosrc, env: goEnv, encoding: 'utf8', timeout: 300_000 });
  assert.equal(go.status, 0, go.stderr);
  goVersion = spawnSync('go', ['env', 'GOVERSION'], { env: goEnv, encoding: 'utf8' }).stdout.trim();
  const appTar = spawnSync('tar', ['-C', app, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  assert.equal(appTar.status, 0);
  const { gzipSync } = await import('node:zlib');
  layer2 = await writeBlob(src, gzipSync(appTar.stdout, { level: 1 }));
  const diffIds = [`sha256:${createHash('sha256').update(await readFile(tar)).digest('hex')}`, sha256(spawnSync('zstd', ['-d', '-q', '-c'], { input: z.stdout }).stdout), sha256(appTar.stdout)];
  const image = async (arch: string) => {
    const config = await writeBlob(src, Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} })));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, ...config },
      layers: [{ mediaType: MT.ociLayer, ...layer0 }, { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', ...layer1 }, { mediaType: MT.ociLayer, ...layer2 }],
    }));
    return { mediaType: MT.ociManifest, ...(await writeBlob(src, manifest)) };
  };
  const amd = await image('amd64'), arm = await image('arm64');
  const index = await writeBlob(src, Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MT.ociIndex,
    manifests: [{ ...amd, platform: { os: 'linux', architecture: 'amd64' } }, { ...arm, platform: { os: 'linux', architecture: 'arm64' } }],
  })));
  await writeFile(path.join(src, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: MT.ociIndex, manifests: [
      { ...amd, annotations: { 'org.opencontainers.image.ref.name': 'bookworm' } },
      { mediaType: MT.ociIndex, ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
    ],
  }));
  berth = await startBerth({ auth: true, config: { scan: { interval: 1 } } });
  await skopeo.ok(['copy', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${src}:bookworm`, `docker://${berth.host}/${REPO}:bookworm`], 600_000);
  await skopeo.ok(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${src}:multi`, `docker://${berth.host}/${REPO}:multi`], 600_000);
  await stat(tar);
});

after(async () => {
  await berth?.stop();
  if (berth) await removeDir(berth.dataDir);
  if (work) await removeDir(work);
});

const api = (p: string, init: RequestInit = {}) => fetch(`${berth.url}/api/v1/repositories/${encodeURIComponent(REPO)}/manifests/${p}`, { ...init, headers: { authorization: AUTH, ...init.headers } });

interface Pkg { type: string; name: string; version: string; purl: string; ecosystem?: string; layer: string; layerIndex: number; path: string; source?: { name: string; version?: string } }
interface Platform { digest: string; platform?: { os?: string; architecture?: string }; distro?: { id: string; versionId?: string }; packages: Pkg[]; skipped?: string }

async function catalogued(reference: string): Promise<{ state: string; catalog: { platforms: Platform[] }; scannedAt: number; packages: number }> {
  return waitFor(`the catalogue of ${reference}`, async () => {
    const r = await api(`${reference}/scan`);
    assert.equal(r.status, 200);
    const v = await r.json();
    assert.notEqual(v.state, 'failed', v.error);
    return v.state === 'done' ? v : undefined;
  }, 180_000, 250);
}

test('a pushed image is catalogued in the background: every installed dpkg package, from the layer that brought it', async () => {
  const v = await catalogued('bookworm');
  assert.equal(v.catalog.platforms.length, 1);
  const p = v.catalog.platforms[0]!;
  assert.equal(p.distro?.id, 'debian');
  assert.equal(p.distro?.versionId, '12');
  assert.equal(p.platform?.architecture, 'amd64', 'the platform from the image configuration');
  const deb = p.packages.filter((x) => x.type === 'deb');
  const fromStatus = deb.filter((x) => x.path === 'var/lib/dpkg/status');
  assert.deepEqual(fromStatus.map((x) => `${x.name} ${x.version}`).sort(), installed, 'exactly what dpkg-query reports installed');
  assert.ok(installed.length > 80, `a minbase system has its ~90 packages (${installed.length})`);
  for (const x of fromStatus) {
    assert.equal(x.layer, layer0.digest);
    assert.equal(x.ecosystem, 'Debian:12');
    assert.match(x.purl, new RegExp(`^pkg:deb/debian/${x.name.replace(/[+.]/g, (c) => (c === '+' ? '%2B' : '\\.'))}@`));
    assert.match(x.purl, /distro=debian-12/);
  }
  const libc = fromStatus.find((x) => x.name === 'libc6');
  assert.equal(libc?.source?.name, 'glibc', 'binary packages keep their source package (Debian advisories are by source)');
  assert.match(libc!.purl, /upstream=glibc/);
  const extra = deb.filter((x) => x.path === 'var/lib/dpkg/status.d/berth-extra');
  assert.deepEqual(extra.map((x) => [x.name, x.version, x.layer, x.source?.name, x.source?.version]), [['berth-extra', '1.2-3', layer1.digest, 'berth-extra-src', '1.2-2']]);
  assert.equal(v.packages, p.packages.length);
  // The application layer: lodash from its lockfile and as installed, the Go toolchain and the main module.
  const npmPkgs = p.packages.filter((x) => x.type === 'npm').map((x) => `${x.path} ${x.name}@${x.version} ${x.ecosystem} ${x.layer === layer2.digest}`).sort();
  assert.deepEqual(npmPkgs, [
    'srv/app/node_modules/lodash/package.json lodash@4.17.20 npm true',
    'srv/app/package-lock.json lodash@4.17.20 npm true',
  ]);
  const gos = p.packages.filter((x) => x.type === 'golang');
  assert.deepEqual(gos.map((x) => [x.name, x.version, x.path, x.ecosystem]), [['stdlib', goVersion.replace(/^go/, 'v'), 'usr/local/bin/scanhello', 'Go']]);
  assert.equal((gos[0] as unknown as { confidence: string }).confidence, 'version-based', "a distribution's Go may carry patches its version does not show");
});

test('an index is catalogued per platform', async () => {
  const v = await catalogued('multi');
  assert.deepEqual(v.catalog.platforms.map((p) => p.platform?.architecture), ['amd64', 'arm64']);
  const [a, b] = v.catalog.platforms;
  assert.deepEqual(a!.packages.map((x) => x.purl), b!.packages.map((x) => x.purl));
  // The SBOM of an index names a platform; by default the first.
  const sbom = await api(`multi/sbom?format=spdx&platform=${b!.digest}`);
  assert.equal(sbom.status, 200);
  assert.match((await sbom.json()).name, new RegExp(b!.digest.slice(7, 19)));
});

test('the SBOMs of the catalogue pass their schemas and name every package once', async () => {
  const v = await catalogued('bookworm');
  const purls = v.catalog.platforms[0]!.packages.map((x) => x.purl).sort();
  const cdx = await api('bookworm/sbom?format=cyclonedx');
  assert.equal(cdx.status, 200);
  assert.match(cdx.headers.get('content-type') ?? '', /^application\/vnd\.cyclonedx\+json(;|$)/);
  const cdxText = await cdx.text();
  const errors = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(cdxText);
  assert.equal(errors, null, JSON.stringify(errors));
  const doc = JSON.parse(cdxText);
  assert.deepEqual(doc.components.filter((c: { type: string }) => c.type === 'library').map((c: { purl: string }) => c.purl).sort(), purls);
  const spdx = await api('bookworm/sbom?format=spdx');
  assert.equal(spdx.status, 200);
  assert.match(spdx.headers.get('content-type') ?? '', /^application\/spdx\+json(;|$)/);
  const s = await spdx.json() as { packages: { externalRefs?: { referenceType: string; referenceLocator: string }[] }[] };
  const schema = JSON.parse(await readFile(path.join(import.meta.dirname, '..', 'fixtures', 'spdx', 'spdx-schema-2.3.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  assert.ok(validate(s), JSON.stringify(validate.errors?.slice(0, 5)));
  const spdxPurls = s.packages.flatMap((p) => (p.externalRefs ?? []).filter((r) => r.referenceType === 'purl').map((r) => r.referenceLocator))
    .filter((u: string) => !u.startsWith('pkg:oci/')).sort();
  assert.deepEqual(spdxPurls, purls);
});

async function sbomReferrers(digest: string): Promise<{ digest: string; artifactType: string; annotations?: Record<string, string> }[]> {
  const r = await fetch(`${berth.url}/v2/${REPO}/referrers/${digest}`, { headers: { authorization: AUTH } });
  assert.equal(r.status, 200);
  return ((await r.json()).manifests as { digest: string; artifactType: string; annotations?: Record<string, string> }[])
    .filter((m) => m.artifactType === 'application/vnd.cyclonedx+json' || m.artifactType === 'application/spdx+json');
}

test('the SBOMs are attached as referrers of the image; a client pushed SBOM stays beside them; an unchanged rescan attaches nothing new', async () => {
  const v = await catalogued('bookworm');
  const image = v.catalog.platforms[0]!.digest;
  const ours = await waitFor('both SBOM referrers', async () => {
    const list = await sbomReferrers(image);
    return list.length >= 2 ? list : undefined;
  }, 60_000, 250);
  assert.deepEqual(ours.map((m) => m.artifactType).sort(), ['application/spdx+json', 'application/vnd.cyclonedx+json']);
  for (const m of ours) assert.equal(m.annotations?.['io.berth.sbom.generator'], 'berth');
  // What the referrer holds is the SBOM: its one layer parses and describes this image.
  const cdxRef = ours.find((m) => m.artifactType === 'application/vnd.cyclonedx+json')!;
  const man = await (await fetch(`${berth.url}/v2/${REPO}/manifests/${cdxRef.digest}`, { headers: { authorization: AUTH, accept: MT.ociManifest } })).json();
  assert.equal(man.subject.digest, image);
  const blob = await (await fetch(`${berth.url}/v2/${REPO}/blobs/${man.layers[0].digest}`, { headers: { authorization: AUTH } })).json();
  assert.equal(blob.bomFormat, 'CycloneDX');
  assert.equal(blob.metadata.component.version, image);
  // A client's own SBOM for the same image.
  const mine = Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [] }));
  const empty = Buffer.from('{}');
  for (const b of [mine, empty]) {
    const up = await fetch(`${berth.url}/v2/${REPO}/blobs/uploads/?digest=${sha256(b)}`, { method: 'POST', body: b, headers: { authorization: AUTH, 'content-type': 'application/octet-stream' } });
    assert.equal(up.status, 201);
  }
  const head = await fetch(`${berth.url}/v2/${REPO}/manifests/${image}`, { method: 'HEAD', headers: { authorization: AUTH, accept: MT.ociManifest } });
  const clientSbom = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.cyclonedx+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
    layers: [{ mediaType: 'application/vnd.cyclonedx+json', digest: sha256(mine), size: mine.length }],
    subject: { mediaType: MT.ociManifest, digest: image, size: Number(head.headers.get('content-length')) },
  }));
  const put = await fetch(`${berth.url}/v2/${REPO}/manifests/${sha256(clientSbom)}`, { method: 'PUT', body: clientSbom, headers: { authorization: AUTH, 'content-type': MT.ociManifest } });
  assert.equal(put.status, 201);
  const before = (await sbomReferrers(image)).map((m) => m.digest).sort();
  assert.ok(before.includes(sha256(clientSbom)));
  // Scanned again with nothing changed: the same referrers, the client's among them.
  const first = v.scannedAt;
  assert.equal((await api('bookworm/scan', { method: 'POST' })).status, 202);
  await waitFor('the rescan', async () => {
    const x = await (await api('bookworm/scan')).json();
    return x.state === 'done' && x.scannedAt > first ? x : undefined;
  }, 180_000, 250);
  assert.deepEqual((await sbomReferrers(image)).map((m) => m.digest).sort(), before);
});

test('a scan on demand makes a new catalogue; the last one stands meanwhile; nothing to scan in an artifact', async () => {
  const first = await catalogued('bookworm');
  const r = await api('bookworm/scan', { method: 'POST' });
  assert.equal(r.status, 202);
  const queued = await r.json();
  assert.ok(['queued', 'scanning'].includes(queued.state), queued.state);
  const again = await waitFor('the new catalogue', async () => {
    const v = await (await api('bookworm/scan')).json();
    if (v.state !== 'done') assert.ok(v.catalog, 'the last catalogue is served while the scan is pending');
    return v.state === 'done' && v.scannedAt > first.scannedAt ? v : undefined;
  }, 180_000, 250);
  assert.equal(again.packages, first.packages);
  // An artifact (an empty config) is not an image: its scan says so, and it has no SBOM.
  const empty = Buffer.from('{}');
  const up = await fetch(`${berth.url}/v2/${REPO}/blobs/uploads/?digest=${sha256(empty)}`, { method: 'POST', body: empty, headers: { authorization: AUTH, 'content-type': 'application/octet-stream' } });
  assert.equal(up.status, 201);
  const artifact = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.example.thing', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }, layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }] });
  const put = await fetch(`${berth.url}/v2/${REPO}/manifests/thing`, { method: 'PUT', body: artifact, headers: { authorization: AUTH, 'content-type': MT.ociManifest } });
  assert.equal(put.status, 201);
  const skipped = await waitFor('the artifact looked at', async () => {
    const v = await (await api('thing/scan')).json();
    return v.state === 'skipped' ? v : undefined;
  }, 60_000, 250);
  assert.match(skipped.error, /not an image/);
  const none = await api('thing/sbom');
  assert.equal(none.status, 404);
  assert.equal((await none.json()).code ?? 'SCAN_PENDING', 'SCAN_PENDING');
  // Unknown references are the API's 404.
  assert.equal((await api('nope/scan')).status, 404);
});

test("Debian's own security fixes are found: the CVEs bookworm-security's changelogs name, imported as tracker JSON, match the packages they fix; OSV records match the application layer", async () => {
  const v = await catalogued('bookworm');
  const tar = debianRootfsTar();
  const { fixes, tracker } = await debianSecurityFixes(tar, work);
  assert.ok(fixes.length >= 3, `bookworm-security fixes CVEs in a minbase bookworm (${fixes.length})`);
  const { writeFile } = await import('node:fs/promises');
  const trackerFile = path.join(work, 'tracker.json');
  await writeFile(trackerFile, JSON.stringify(tracker));
  const osv = path.join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'osv');
  const cfg = path.join(berth.dataDir, '..', `berth-config-${berth.port}.yaml`);
  const imported = await runCli(['vulndb', 'import', trackerFile, osv, '--json', '--data', berth.dataDir, '--config', cfg]);
  assert.equal(imported.code, 0, imported.stderr);
  const report = JSON.parse(imported.stdout);
  assert.ok(report.sources.some((s: { name: string }) => s.name === 'debian-tracker'), imported.stdout);
  // The running server matches the stored catalogue again (the import queued the job).
  const found = await waitFor('findings at the new database version', async () => {
    const r = await api('bookworm/vulnerabilities');
    if (r.status !== 200) return undefined;
    const body = await r.json();
    return body.dbVersion === report.dbVersion && body.current ? body : undefined;
  }, 120_000, 250);
  const pkgs = v.catalog.platforms[0]!.packages;
  for (const f of fixes) {
    const binaries = pkgs.filter((p) => p.type === 'deb' && (p.source?.name ?? p.name) === f.source);
    assert.ok(binaries.length > 0, `${f.source} is in the image`);
    for (const bin of binaries) {
      const hit = found.findings.find((x: { id: string; package: { name: string } }) => x.id === f.cve && x.package.name === bin.name);
      assert.ok(hit, `${f.cve} (fixed in ${f.source} ${f.fixedVersion}) found on ${bin.name} ${bin.version}`);
      assert.equal(hit.fixedVersion, f.fixedVersion);
      assert.equal(hit.package.source ?? hit.package.name, f.source);
    }
  }
  // The application layer: lodash 4.17.20 (GHSA-35jh-r3h4-6jhm) and Debian's Go 1.19.8 (golang/vulndb), version-based.
  assert.ok(found.findings.some((x: { ids: string[]; package: { name: string; layer: string } }) => x.ids.includes('GHSA-35jh-r3h4-6jhm') && x.package.name === 'lodash' && x.package.layer === layer2.digest));
  const goFindings = found.findings.filter((x: { package: { name: string } }) => x.package.name === 'stdlib');
  if (goVersion === 'go1.19.8') assert.ok(goFindings.length >= 20, `the 20 stdlib records for go1.19.8 (${goFindings.length})`);
  assert.ok(goFindings.every((x: { confidence: string }) => x.confidence === 'version-based'));
  // Harbor's report of the same findings.
  const harbor = await api('bookworm/vulnerabilities', { headers: { accept: 'application/vnd.security.vulnerability.report; version=1.1' } });
  assert.equal(harbor.status, 200);
  assert.match(harbor.headers.get('content-type') ?? '', /application\/vnd\.security\.vulnerability\.report; version=1\.1/);
  const h = await harbor.json();
  assert.equal(h.artifact.digest, v.catalog.platforms[0]!.digest);
  assert.equal(h.vulnerabilities.length, found.findings.length);
  assert.ok(['Critical', 'High', 'Medium', 'Low', 'Unknown'].includes(h.severity));
  // berth scan report and berth vulndb status say the same.
  const table = await runCli(['scan', 'report', `${REPO}:bookworm`, '--data', berth.dataDir, '--config', cfg]);
  assert.equal(table.code, 0, table.stderr);
  assert.ok(table.stdout.includes(fixes[0]!.cve));
  const status = await runCli(['vulndb', 'status', '--json', '--data', berth.dataDir, '--config', cfg]);
  assert.equal(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout);
  assert.equal(st.dbVersion, report.dbVersion);
  assert.equal(st.outOfDate, false);
  const apiStatus = await (await fetch(`${berth.url}/api/v1/vulndb`, { headers: { authorization: AUTH } })).json();
  assert.equal(apiStatus.dbVersion, report.dbVersion);
  assert.ok(apiStatus.sources.some((s: { name: string }) => s.name === 'debian-tracker'));
  // The change of findings is on record: an audit record and a scan.completed event.
  const audit = await fetch(`${berth.url}/api/v1/audit?n=200`, { headers: { authorization: AUTH } });
  const items = (await audit.json()).items as { action: string; resource: string }[];
  assert.ok(items.some((x) => x.action === 'scan.findings' && x.resource === `repository:${REPO}@${v.catalog.platforms[0]!.digest}`));
});

test('a pull policy refuses GET of an image with findings at or above its severity (naming them), never HEAD; allow-list and exemptions let it through', async () => {
  await waitFor('findings', async () => ((await (await api('bookworm/scan')).json()).vulnerabilities?.counts ? true : undefined), 120_000, 250);
  const cfg = path.join(berth.dataDir, '..', `berth-config-${berth.port}.yaml`);
  const cli = async (...args: string[]) => {
    const r = await runCli([...args, '--data', berth.dataDir, '--config', cfg]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const get = () => fetch(`${berth.url}/v2/${REPO}/manifests/bookworm`, { headers: { authorization: AUTH, accept: MT.ociManifest } });
  assert.equal((await get()).status, 200, 'no policy: pulled');
  await cli('scan', 'policy', 'set', 'admin', '--severity', 'high');
  // The policy reaches the server within its cache's life (2 s).
  const refused = await waitFor('the refusal', async () => { const r = await get(); return r.status === 403 ? r : undefined; }, 20_000, 200);
  const body = await refused.json();
  assert.equal(body.errors[0].code, 'DENIED');
  assert.equal(body.errors[0].detail.rule, 'vulnerability-policy');
  assert.ok(body.errors[0].detail.vulnerabilities.length >= 1);
  const lodash = (await (await api('bookworm/vulnerabilities')).json()).findings.find((x: { ids: string[] }) => x.ids.includes('GHSA-35jh-r3h4-6jhm'));
  assert.ok(body.errors[0].detail.vulnerabilities.includes(lodash.id), `the blocking ids are named: ${JSON.stringify(body.errors[0].detail)}`);
  assert.match(body.errors[0].message, /at or above high/);
  // HEAD is never refused; neither is the same image where no policy applies.
  assert.equal((await fetch(`${berth.url}/v2/${REPO}/manifests/bookworm`, { method: 'HEAD', headers: { authorization: AUTH, accept: MT.ociManifest } })).status, 200);
  // The refusal is on record.
  const audit = (await (await fetch(`${berth.url}/api/v1/audit?action=manifest.pull&outcome=denied&n=50`, { headers: { authorization: AUTH } })).json()).items as { detail: { rule: string } }[];
  assert.ok(audit.some((x) => x.detail.rule === 'vulnerability-policy'));
  // Every blocking id allow-listed (by any of its ids) until tomorrow: pulled again.
  const blocking: string[] = body.errors[0].detail.vulnerabilities;
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  for (const id of blocking) await cli('scan', 'allow', 'admin', id, '--until', tomorrow, '--reason', 'accepted for the test');
  await waitFor('the allow-list to hold', async () => ((await get()).status === 200 ? true : undefined), 20_000, 200);
  for (const id of blocking) await cli('scan', 'disallow', 'admin', id);
  await waitFor('refused again', async () => ((await get()).status === 403 ? true : undefined), 20_000, 200);
  // A repository's own policy wins over its organization's; an exempt principal is never refused.
  await cli('scan', 'policy', 'set', REPO, '--severity', 'critical', '--exempt', 'somebody-else');
  await waitFor('the repository policy', async () => ((await get()).status === 200 ? true : undefined), 20_000, 200);
  await cli('scan', 'policy', 'set', REPO, '--severity', 'low', '--exempt', 'admin');
  await waitFor('admin exempt', async () => ((await get()).status === 200 ? true : undefined), 20_000, 200);
  const shown = JSON.parse(await cli('scan', 'policy', 'show', REPO, '--json'));
  assert.equal(shown.policy.severity, 'low');
  assert.deepEqual(shown.policy.exempt, ['admin']);
  // Through the API as well.
  const put = await fetch(`${berth.url}/api/v1/scan/policies/${encodeURIComponent(REPO)}`, { method: 'PUT', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ severity: 'high' }) });
  assert.equal(put.status, 200, await put.text());
  await waitFor('the API policy', async () => ((await get()).status === 403 ? true : undefined), 20_000, 200);
  await cli('scan', 'policy', 'remove', REPO);
  await cli('scan', 'policy', 'remove', 'admin');
  await waitFor('no policy', async () => ((await get()).status === 200 ? true : undefined), 20_000, 200);
});

test('berth scan all queues what is not catalogued (with --again: everything), and the server scans it', async () => {
  const cfg = path.join(berth.dataDir, '..', `berth-config-${berth.port}.yaml`);
  const before = (await (await api('bookworm/scan')).json()).scannedAt;
  const none = await runCli(['scan', 'all', '--data', berth.dataDir, '--config', cfg]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /^0 manifests queued/, 'every manifest pushed here is catalogued already');
  const again = await runCli(['scan', 'all', '--again', '--data', berth.dataDir, '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(Number(/^(\d+) manifests queued/.exec(again.stdout)?.[1]) >= 4, again.stdout);
  await waitFor('the rescan', async () => {
    const v = await (await api('bookworm/scan')).json();
    return v.state === 'done' && v.scannedAt > before ? v : undefined;
  }, 180_000, 250);
});
