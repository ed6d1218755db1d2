// End-to-end: CNCF Distribution (docker-registry) configured as a pull-through cache in front of Berth.
// Distribution's proxy speaks the registry API to Berth as an upstream: /v2/ ping, manifests by tag
// (HEAD + GET), blobs by digest. skopeo then reads the image through Distribution.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import { startBerth, tempDir, removeDir, freePort, type BerthProcess } from '../helpers/berth.js';
import { sha256 } from '../helpers/oci.js';
import { makeImage, writeLayout, readLayout, type BuiltImage } from '../helpers/ocilayout.js';
import { requireTool, containersConfig, Skopeo } from '../helpers/tools.js';
import { getManifest, getBlob, describe } from '../helpers/registry.js';

let berth: BerthProcess;
let work: string;
let skopeo: Skopeo;
let img: BuiltImage, amd: BuiltImage, arm: BuiltImage;
let indexDigest: string;
let dist: { proc: ChildProcess; host: string; url: string; logs: string[] } | undefined;

const NAME = 'e2e/pt/app';
const MULTI = 'e2e/pt/multi';

async function startDistribution(upstream: string): Promise<NonNullable<typeof dist>> {
  const port = await freePort();
  const root = path.join(work, 'distribution-storage');
  await mkdir(root, { recursive: true });
  const cfg = path.join(work, 'distribution.yml');
  await writeFile(cfg, [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${root}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    'proxy:',
    `  remoteurl: ${upstream}`,
    '',
  ].join('\n'));
  const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
  const logs: string[] = [];
  const onData = (c: Buffer) => { for (const l of c.toString().split('\n')) if (l) logs.push(l); };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exited = false;
  proc.once('exit', () => { exited = true; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    assert.ok(!exited, `docker-registry exited during start:\n${logs.join('\n')}`);
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); assert.fail(`docker-registry did not start:\n${logs.join('\n')}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, host: `127.0.0.1:${port}`, url, logs };
}

before(async () => {
  requireTool('skopeo');
  requireTool('docker-registry');
  work = await tempDir('berth-e2e-pullthrough-');
  const cfg = await containersConfig(path.join(work, 'cfg'));
  skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
  img = makeImage({ layers: 3, label: 'pull-through', randomSize: 300_000 });
  amd = makeImage({ arch: 'amd64', layers: 3 });
  arm = makeImage({ arch: 'arm64', layers: 3 });
  const src = path.join(work, 'src');
  const refs = await writeLayout(src, { v1: img, multi: { images: [amd, arm] } });
  indexDigest = refs.multi.digest;
  berth = await startBerth();
  await skopeo.ok(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${berth.host}/${NAME}:v1`]);
  await skopeo.ok(['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${berth.host}/${MULTI}:v1`]);
  const m = await getManifest(berth.url, NAME, 'v1', 'HEAD');
  assert.equal(m.headers.get('docker-content-digest'), img.manifestDesc.digest, 'Berth holds the pushed image');
  dist = await startDistribution(berth.url);
});

after(async () => {
  if (dist) { dist.proc.kill('SIGTERM'); await new Promise((r) => { if (dist!.proc.exitCode !== null) r(null); else dist!.proc.once('exit', r); }); }
  await berth?.stop();
  if (berth) await removeDir(berth.dataDir);
  if (work) await removeDir(work);
});

/** true once a Berth log line after `mark` contains needle (logs are written asynchronously: poll up to 5 s) */
async function berthSaw(mark: number, needle: string): Promise<boolean> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (berth.logs.slice(mark).some((l) => l.includes(needle))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('skopeo inspect through the Distribution pull-through cache sees Berth\'s manifest', async () => {
  const mark = berth.logs.length;
  const r = await skopeo.run(['inspect', '--tls-verify=false', `docker://${dist!.host}/${NAME}:v1`]);
  assert.equal(r.code, 0, `skopeo inspect via Distribution failed:\n${r.stderr}\n--- distribution logs ---\n${dist!.logs.slice(-30).join('\n')}\n--- berth logs ---\n${berth.logs.slice(mark).join('\n')}`);
  const j = JSON.parse(r.stdout);
  assert.equal(j.Digest, img.manifestDesc.digest, 'digest via the cache = digest in Berth');
  assert.deepEqual(j.Layers, img.layers.map((l) => l.desc.digest));
  const raw = await skopeo.ok(['inspect', '--raw', '--tls-verify=false', `docker://${dist!.host}/${NAME}:v1`]);
  assert.equal(sha256(Buffer.from(raw.stdout.replace(/\n$/, ''))), img.manifestDesc.digest, 'raw manifest via the cache');
  assert.ok(await berthSaw(mark, `/v2/${NAME}/manifests/`),
    `Berth's logs should show the proxied manifest request for /v2/${NAME}/manifests/...; new log lines:\n${berth.logs.slice(mark).join('\n')}`);
});

test('skopeo copy through the pull-through cache yields byte-identical blobs', async () => {
  const mark = berth.logs.length;
  const out = path.join(work, 'out');
  const r = await skopeo.run(['copy', '--src-tls-verify=false', '--preserve-digests', '--format', 'oci', `docker://${dist!.host}/${NAME}:v1`, `oci:${out}:v1`]);
  assert.equal(r.code, 0, `skopeo copy via Distribution failed:\n${r.stderr}\n--- distribution logs ---\n${dist!.logs.slice(-30).join('\n')}`);
  const l = await readLayout(out);
  assert.equal(l.ref('v1').digest, img.manifestDesc.digest);
  for (const [data, digest] of [[img.config, img.configDesc.digest], ...img.layers.map((x) => [x.gz, x.desc.digest] as const)] as const) {
    assert.ok((await l.blob(digest)).equals(data), `blob ${digest} via the cache is byte-identical`);
  }
  for (const layer of img.layers) {
    assert.ok(await berthSaw(mark, `/v2/${NAME}/blobs/${layer.desc.digest}`), `Berth's logs should show the proxied blob request for ${layer.desc.digest}; new log lines:\n${berth.logs.slice(mark).join('\n')}`);
  }
  // served again (from the cache or upstream), still exact
  for (const layer of img.layers) {
    const b = await getBlob(dist!.url, NAME, layer.desc.digest);
    assert.equal(b.status, 200, describe(b));
    assert.ok(b.body.equals(layer.gz));
  }
});

test('a multi-arch index is served through the pull-through cache with the same digests', async () => {
  const out = path.join(work, 'out-multi');
  const r = await skopeo.run(['copy', '--all', '--src-tls-verify=false', '--preserve-digests', '--format', 'oci', `docker://${dist!.host}/${MULTI}:v1`, `oci:${out}:v1`]);
  assert.equal(r.code, 0, `skopeo copy --all via Distribution failed:\n${r.stderr}\n--- distribution logs ---\n${dist!.logs.slice(-30).join('\n')}`);
  const l = await readLayout(out);
  assert.equal(l.ref('v1').digest, indexDigest, 'index digest via the cache = digest in Berth');
  for (const im of [amd, arm]) {
    assert.ok((await l.blob(im.manifestDesc.digest)).equals(im.manifest), `${im.arch} manifest via the cache`);
    for (const x of im.layers) assert.ok((await l.blob(x.desc.digest)).equals(x.gz), `${im.arch} layer ${x.desc.digest}`);
  }
});

test('a tag missing in Berth is a clean miss through the cache', async () => {
  const mark = berth.logs.length;
  const r = await skopeo.run(['inspect', '--tls-verify=false', `docker://${dist!.host}/${NAME}:no-such-tag`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /manifest unknown|not found/i, r.stderr);
  assert.ok(await berthSaw(mark, `/v2/${NAME}/manifests/no-such-tag`), `Berth was asked for the missing tag; new log lines:\n${berth.logs.slice(mark).join('\n')}`);
});
