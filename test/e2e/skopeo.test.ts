// End-to-end: skopeo (containers/image) against a real Berth process.
// Builds OCI image layouts on disk (real tar+gzip layers), pushes them with skopeo, copies them back out
// and checks that every manifest and blob survives byte-for-byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startBerth, tempDir, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { makeImage, writeLayout, readLayout, type BuiltImage } from '../helpers/ocilayout.js';
import { requireTool, containersConfig, Skopeo } from '../helpers/tools.js';
import { getManifest, getBlob, describe, errorCodes } from '../helpers/registry.js';

let berth: BerthProcess;
let work: string;
let skopeo: Skopeo;
let src: string; // source OCI layout
let app: BuiltImage; // single image, ref "v1"
let amd: BuiltImage, arm: BuiltImage; // index members, ref "multi"
let indexDigest: string;
let indexBytes: Buffer;
let victim: BuiltImage; // ref "del"

const APP = 'e2e/skopeo/app';
const MULTI = 'e2e/skopeo/multi';
const OTHER = 'e2e/other/copied';
const DEL = 'e2e/skopeo/doomed';

before(async () => {
  requireTool('skopeo');
  work = await tempDir('berth-e2e-skopeo-');
  const cfg = await containersConfig(path.join(work, 'cfg'));
  skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
  src = path.join(work, 'src-layout');
  app = makeImage({ layers: 4, label: 'app' });
  amd = makeImage({ arch: 'amd64', layers: 3, label: 'multi-amd64' });
  arm = makeImage({ arch: 'arm64', layers: 3, label: 'multi-arm64' });
  victim = makeImage({ layers: 3, label: 'victim' });
  const refs = await writeLayout(src, { v1: app, multi: { images: [amd, arm] }, del: victim });
  indexDigest = refs.multi.digest;
  indexBytes = await (await readLayout(src)).blob(indexDigest);
  berth = await startBerth();
});

after(async () => {
  await berth?.stop();
  if (berth) await removeDir(berth.dataDir);
  if (work) await removeDir(work);
});

const ref = (name: string, tag: string) => `docker://${berth.host}/${name}:${tag}`;

async function assertImageInBerth(name: string, refOrDigest: string, im: BuiltImage) {
  const m = await getManifest(berth.url, name, refOrDigest);
  assert.equal(m.status, 200, `GET /v2/${name}/manifests/${refOrDigest}: ${describe(m)}`);
  assert.ok(m.body.equals(im.manifest), `manifest bytes in Berth differ from the pushed OCI layout manifest (${sha256(m.body)} vs ${im.manifestDesc.digest})`);
  assert.equal(m.headers.get('docker-content-digest'), im.manifestDesc.digest, 'Docker-Content-Digest header');
  assert.equal(m.headers.get('content-type'), MT.ociManifest, 'manifest Content-Type');
  for (const [data, desc] of [[im.config, im.configDesc], ...im.layers.map((l) => [l.gz, l.desc] as const)] as const) {
    const b = await getBlob(berth.url, name, desc.digest);
    assert.equal(b.status, 200, `GET /v2/${name}/blobs/${desc.digest}: ${describe(b)}`);
    assert.ok(b.body.equals(data), `blob ${desc.digest} bytes differ (got ${sha256(b.body)}, ${b.body.length} bytes)`);
  }
}

async function assertLayoutHasImage(dir: string, im: BuiltImage) {
  const l = await readLayout(dir);
  for (const [data, digest] of [[im.manifest, im.manifestDesc.digest], [im.config, im.configDesc.digest], ...im.layers.map((x) => [x.gz, x.desc.digest] as const)] as const) {
    const got = await l.blob(digest).catch((e) => { throw new Error(`blob ${digest} missing in copied-out layout ${dir}: ${e}`); });
    assert.ok(got.equals(data), `blob ${digest} in the copied-out layout is not byte-identical`);
  }
}

test('skopeo copy oci: layout → Berth keeps a multi-layer manifest and its blobs byte-identical', async () => {
  const r = await skopeo.ok(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, ref(APP, 'v1')]);
  assert.doesNotMatch(r.stderr, /converting|conversion/i, 'skopeo should not have needed a manifest conversion');
  await assertImageInBerth(APP, 'v1', app);
  await assertImageInBerth(APP, app.manifestDesc.digest, app);
});

test('skopeo copy Berth → oci: layout with --preserve-digests --format oci is byte-identical', async () => {
  const out = path.join(work, 'out-app');
  const dfile = path.join(work, 'out-app.digest');
  await skopeo.ok(['copy', '--src-tls-verify=false', '--preserve-digests', '--format', 'oci', '--digestfile', dfile, ref(APP, 'v1'), `oci:${out}:v1`]);
  const l = await readLayout(out);
  assert.equal(l.ref('v1').digest, app.manifestDesc.digest, 'manifest digest of the copied-out image');
  await assertLayoutHasImage(out, app);
  const { readFile } = await import('node:fs/promises');
  assert.equal((await readFile(dfile, 'utf8')).trim(), app.manifestDesc.digest, 'skopeo --digestfile');
  const expected = [app.manifestDesc.digest, app.configDesc.digest, ...app.layers.map((x) => x.desc.digest)].sort();
  assert.deepEqual(await l.blobDigests(), expected, 'copied-out layout contains exactly the image blobs');
});

test('skopeo copy --all pushes a multi-arch index and copies it back out identically', async () => {
  await skopeo.ok(['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, ref(MULTI, 'v1')]);
  const idx = await getManifest(berth.url, MULTI, 'v1');
  assert.equal(idx.status, 200, `GET index by tag: ${describe(idx)}`);
  assert.ok(idx.body.equals(indexBytes), `index bytes differ: got ${idx.body.toString()}`);
  assert.equal(idx.headers.get('content-type'), MT.ociIndex);
  assert.equal(idx.headers.get('docker-content-digest'), indexDigest);
  await assertImageInBerth(MULTI, amd.manifestDesc.digest, amd);
  await assertImageInBerth(MULTI, arm.manifestDesc.digest, arm);

  const raw = await skopeo.ok(['inspect', '--raw', '--tls-verify=false', ref(MULTI, 'v1')]);
  assert.equal(sha256(Buffer.from(raw.stdout.replace(/\n$/, ''))), indexDigest, 'skopeo inspect --raw of the index');

  for (const im of [amd, arm]) {
    const r = await skopeo.ok(['--override-arch', im.arch, '--override-os', 'linux', 'inspect', '--tls-verify=false', ref(MULTI, 'v1')]);
    const j = JSON.parse(r.stdout);
    assert.equal(j.Architecture, im.arch, `skopeo inspect --override-arch ${im.arch} picks the ${im.arch} manifest`);
    assert.deepEqual(j.Layers, im.layers.map((l) => l.desc.digest));
  }

  const out = path.join(work, 'out-multi');
  await skopeo.ok(['copy', '--all', '--src-tls-verify=false', '--preserve-digests', '--format', 'oci', ref(MULTI, 'v1'), `oci:${out}:v1`]);
  const l = await readLayout(out);
  assert.equal(l.ref('v1').digest, indexDigest, 'index digest of the copied-out layout');
  assert.ok((await l.blob(indexDigest)).equals(indexBytes), 'index bytes of the copied-out layout');
  await assertLayoutHasImage(out, amd);
  await assertLayoutHasImage(out, arm);
});

test('skopeo inspect and inspect --raw report the pushed manifest', async () => {
  const raw = await skopeo.ok(['inspect', '--raw', '--tls-verify=false', ref(APP, 'v1')]);
  assert.equal(sha256(Buffer.from(raw.stdout.replace(/\n$/, ''))), app.manifestDesc.digest, `skopeo inspect --raw output: ${raw.stdout}`);
  const r = await skopeo.ok(['inspect', '--tls-verify=false', ref(APP, 'v1')]);
  const j = JSON.parse(r.stdout);
  assert.equal(j.Digest, app.manifestDesc.digest, 'skopeo inspect Digest');
  assert.equal(j.Architecture, 'amd64');
  assert.equal(j.Os, 'linux');
  assert.deepEqual(j.Layers, app.layers.map((l) => l.desc.digest));
  assert.ok(Array.isArray(j.RepoTags) && j.RepoTags.includes('v1'), `RepoTags: ${JSON.stringify(j.RepoTags)}`);
  const cfg = await skopeo.ok(['inspect', '--config', '--raw', '--tls-verify=false', ref(APP, 'v1')]);
  assert.equal(sha256(Buffer.from(cfg.stdout.replace(/\n$/, ''))), app.configDesc.digest, 'skopeo inspect --config --raw');
  const byDigest = await skopeo.ok(['inspect', '--tls-verify=false', `docker://${berth.host}/${APP}@${app.manifestDesc.digest}`]);
  assert.equal(JSON.parse(byDigest.stdout).Digest, app.manifestDesc.digest, 'inspect by digest');
});

test('skopeo list-tags returns the expected tags in lexical order', async () => {
  const extra = ['latest', '1.0', 'v2', 'beta_1', 'a-b', 'v10', 'v1.2.3'];
  for (const t of extra) {
    await skopeo.ok(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ref(APP, 'v1'), ref(APP, t)]);
  }
  const r = await skopeo.ok(['list-tags', '--tls-verify=false', `docker://${berth.host}/${APP}`]);
  const j = JSON.parse(r.stdout);
  assert.equal(j.Repository, `${berth.host}/${APP}`);
  const expected = ['v1', ...extra].sort();
  assert.deepEqual(j.Tags, expected, `tags (must be exactly this set, in lexical order); got ${JSON.stringify(j.Tags)}`);
  for (const t of extra) {
    const m = await getManifest(berth.url, APP, t, 'HEAD');
    assert.equal(m.headers.get('docker-content-digest'), app.manifestDesc.digest, `tag ${t} points at the copied manifest`);
  }
  const multi = JSON.parse((await skopeo.ok(['list-tags', '--tls-verify=false', `docker://${berth.host}/${MULTI}`])).stdout);
  assert.deepEqual(multi.Tags, ['v1']);
});

test('skopeo copy between two Berth repositories mounts blobs instead of re-uploading', async () => {
  const mark = berth.logs.length;
  const r = await skopeo.ok(['--debug', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', ref(APP, 'v1'), ref(OTHER, 'copied')]);
  await assertImageInBerth(OTHER, 'copied', app);
  const debug = r.stderr;
  const newLogs = berth.logs.slice(mark).join('\n');
  // containers/image tries a cross-repository mount (POST ...?mount=<digest>&from=<repo>) for blobs it
  // knows to be in another repository of the same registry; a 201 means the registry mounted it.
  const lines = debug.split('\n');
  const mountTried = app.layers.filter((l) => lines.some((x) => x.includes('Trying to mount') && x.includes(`mount=${encodeURIComponent(l.desc.digest)}`))
    || newLogs.includes(`mount=${encodeURIComponent(l.desc.digest)}`) || newLogs.includes(`mount=${l.desc.digest}`));
  assert.equal(mountTried.length, app.layers.length, `skopeo did not try a cross-repository mount for every layer;\nskopeo debug:\n${debug.slice(-5000)}`);
  // containers/image logs "... mount OK" on 201, "started an upload instead of mounting" on 202, "Error mounting" otherwise.
  const mountFailed = lines.filter((x) => /started an upload instead of mounting|Error mounting/.test(x));
  assert.equal(mountFailed.length, 0, `Berth refused the cross-repository mount (POST /v2/${OTHER}/blobs/uploads/?mount=<digest>&from=${APP} should be 201):\n${mountFailed.join('\n')}`);
  const mountOk = lines.filter((x) => x.includes('... mount OK')).length;
  assert.ok(mountOk >= app.layers.length, `expected >= ${app.layers.length} successful mounts, skopeo logged ${mountOk}:\n${debug.slice(-5000)}`);
  // After a successful mount skopeo must not upload the layer data (no PATCH/PUT upload for OTHER).
  // (skopeo always uploads the small config blob itself; only layers are checked.)
  const uploads = lines.filter((x) => /PUT http\S*\/v2\/e2e\/other\/copied\/blobs\/uploads/.test(x)
    && app.layers.some((l) => x.includes(encodeURIComponent(l.desc.digest)) || x.includes(l.desc.digest)));
  assert.equal(uploads.length, 0, `layer blobs were uploaded instead of mounted:\n${uploads.join('\n')}`);
  // Both repositories serve the same bytes; the mounted repo is independent of the source tag.
  for (const l of app.layers) {
    const b = await getBlob(berth.url, OTHER, l.desc.digest, 'HEAD');
    assert.equal(b.status, 200, `HEAD ${OTHER} blob ${l.desc.digest}`);
    assert.equal(b.headers.get('content-length'), String(l.desc.size));
  }
});

test('skopeo delete removes the manifest; inspect then fails', async () => {
  await skopeo.ok(['copy', '--dest-tls-verify=false', `oci:${src}:del`, ref(DEL, 'gone')]);
  await skopeo.ok(['inspect', '--tls-verify=false', ref(DEL, 'gone')]);
  await skopeo.ok(['delete', '--tls-verify=false', ref(DEL, 'gone')]);
  const r = await skopeo.run(['inspect', '--tls-verify=false', ref(DEL, 'gone')]);
  assert.notEqual(r.code, 0, `skopeo inspect after delete should fail; stdout: ${r.stdout}`);
  assert.match(r.stderr, /manifest unknown|not found|MANIFEST_UNKNOWN|NAME_UNKNOWN/i, `inspect error: ${r.stderr}`);
  const byDigest = await getManifest(berth.url, DEL, victim.manifestDesc.digest);
  assert.equal(byDigest.status, 404, `GET deleted manifest by digest: ${describe(byDigest)}`);
  assert.ok(errorCodes(byDigest.body).some((c) => c === 'MANIFEST_UNKNOWN' || c === 'NAME_UNKNOWN'), `error code: ${byDigest.body}`);
  const byTag = await getManifest(berth.url, DEL, 'gone');
  assert.equal(byTag.status, 404, `GET deleted manifest by tag: ${describe(byTag)}`);
  // other repositories are untouched
  await skopeo.ok(['inspect', '--tls-verify=false', ref(APP, 'v1')]);
  const tags = await skopeo.run(['list-tags', '--tls-verify=false', `docker://${berth.host}/${DEL}`]);
  if (tags.code === 0) assert.deepEqual(JSON.parse(tags.stdout).Tags ?? [], [], 'no tags left in the deleted repository');
});
