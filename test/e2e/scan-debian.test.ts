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
import { startBerth, tempDir, removeDir, ADMIN_PASSWORD, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { makeTar } from '../helpers/ocilayout.js';
import { requireTool, containersConfig, Skopeo } from '../helpers/tools.js';
import { waitFor } from '../helpers/receiver.js';
import { debianRootfsTar, dpkgInstalled } from '../helpers/debian-image.js';

let berth: BerthProcess;
let work: string;
let skopeo: Skopeo;
let installed: string[];
let layer0: { digest: string; size: number };
let layer1: { digest: string; size: number };
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
  const diffIds = [`sha256:${createHash('sha256').update(await readFile(tar)).digest('hex')}`, sha256(spawnSync('zstd', ['-d', '-q', '-c'], { input: z.stdout }).stdout)];
  const image = async (arch: string) => {
    const config = await writeBlob(src, Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} })));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, ...config },
      layers: [{ mediaType: MT.ociLayer, ...layer0 }, { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', ...layer1 }],
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
