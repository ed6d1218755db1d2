// End-to-end: podman pushes to and pulls from a real Berth process.
// podman runs as root with an isolated, throw-away storage (vfs) and configuration, so the host's
// container storage and configuration are never touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { startBerth, tempDir, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { makeImage, makeTar, writeLayout, type BuiltImage } from '../helpers/ocilayout.js';
import { requireTool, containersConfig, isolate, run, runOk } from '../helpers/tools.js';
import { getManifest, getBlob, describe } from '../helpers/registry.js';

let berth: BerthProcess;
let work: string;
let podmanArgs: string[];
let env: Record<string, string>;
let policy: string;
let layout: string;
let img: BuiltImage;

const podmanCmd = (args: string[]) => isolate(path.join(work, 'isolated'), 'podman', [...podmanArgs, ...args]);
const podman = (args: string[], timeoutMs = 180_000) => { const [c, a] = podmanCmd(args); return run(c, a, { env, timeoutMs }); };
const podmanOk = (args: string[], timeoutMs = 180_000) => { const [c, a] = podmanCmd(args); return runOk(c, a, { env, timeoutMs }); };

interface PodmanImage { Id: string; Digest: string; RepoDigests: string[]; RepoTags: string[]; RootFS: { Layers: string[] }; Architecture: string; Os: string; ManifestType?: string }
async function inspectImage(ref: string): Promise<PodmanImage> {
  const r = await podmanOk(['image', 'inspect', ref]);
  const arr = JSON.parse(r.stdout) as PodmanImage[];
  assert.equal(arr.length, 1, `podman image inspect ${ref}: ${r.stdout}`);
  return arr[0];
}

async function assertNoLocalImages() {
  const r = await podmanOk(['images', '-a', '--format', 'json']);
  const list = JSON.parse(r.stdout || '[]');
  assert.equal(list.length, 0, `local podman storage should be empty: ${r.stdout}`);
}

/** Checks what Berth holds for name:tag against the digest podman reported, returns the parsed manifest. */
async function assertPushed(name: string, tag: string, digest: string, configDigest: string, expectMediaType: string) {
  const m = await getManifest(berth.url, name, tag);
  assert.equal(m.status, 200, `GET /v2/${name}/manifests/${tag}: ${describe(m)}`);
  assert.equal(sha256(m.body), digest, 'manifest stored by Berth hashes to the digest podman pushed');
  assert.equal(m.headers.get('docker-content-digest'), digest, 'Docker-Content-Digest');
  const manifest = JSON.parse(m.body.toString());
  assert.equal(manifest.mediaType ?? m.headers.get('content-type'), expectMediaType);
  assert.equal(m.headers.get('content-type'), expectMediaType, 'manifest Content-Type');
  assert.equal(manifest.config.digest, configDigest, 'config digest = podman image ID');
  for (const d of [manifest.config, ...manifest.layers]) {
    const b = await getBlob(berth.url, name, d.digest);
    assert.equal(b.status, 200, `GET blob ${d.digest}: ${describe(b)}`);
    assert.equal(sha256(b.body), d.digest, `blob ${d.digest} content`);
    assert.equal(b.body.length, d.size, `blob ${d.digest} size`);
  }
  return manifest;
}

before(async () => {
  requireTool('podman');
  work = await tempDir('berth-e2e-podman-');
  const cfg = await containersConfig(path.join(work, 'cfg'));
  policy = cfg.policy;
  const root = path.join(work, 'storage'), runroot = path.join(work, 'run'), tmp = path.join(work, 'libpod-tmp');
  for (const d of [root, runroot, tmp]) await mkdir(d, { recursive: true });
  const storageConf = path.join(work, 'cfg', 'storage.conf');
  await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${root}"\nrunroot = "${runroot}"\n`);
  const containersConf = path.join(work, 'cfg', 'containers.conf');
  await writeFile(containersConf, `[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\nimage_copy_tmp_dir = "${path.join(work, 'cfg', 'tmp')}"\nevents_logfile_path = "${path.join(work, 'events.log')}"\n`);
  env = { ...cfg.env, CONTAINERS_STORAGE_CONF: storageConf, CONTAINERS_CONF: containersConf, XDG_RUNTIME_DIR: runroot, XDG_DATA_HOME: path.join(work, 'xdg-data') };
  podmanArgs = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', '--tmpdir', tmp, '--events-backend=file', '--cgroup-manager=cgroupfs', '--network-config-dir', path.join(work, 'networks')];
  // podman names an image pulled from oci:DIR after DIR, which must therefore be lowercase
  layout = path.join(tmpdir(), `berth-e2e-podman-layout-${randomBytes(6).toString('hex')}`);
  img = makeImage({ layers: 3, label: 'podman' });
  await writeLayout(layout, { v1: img });
  berth = await startBerth();
});

after(async () => {
  await berth?.stop();
  if (berth) await removeDir(berth.dataDir);
  if (work) {
    // vfs layers are plain directories; removing the temp dir removes all podman state
    await removeDir(work);
  }
  if (layout) await removeDir(layout);
});

test('podman pushes an OCI image to Berth and pulls it back identically', async () => {
  const name = 'e2e/podman/app';
  const remote = `${berth.host}/${name}:v1`;
  await podmanOk(['pull', '--signature-policy', policy, `oci:${layout}:v1`]);
  const local = await inspectImage(`oci:${layout}:v1`).catch(async () => {
    const r = await podmanOk(['images', '-q', '--no-trunc']);
    return inspectImage(r.stdout.trim().split('\n')[0]);
  });
  const configHex = img.configDesc.digest.slice('sha256:'.length);
  assert.equal(local.Id, configHex, 'image ID after podman pull oci: = config digest');
  assert.deepEqual(local.RootFS.Layers, img.layers.map((l) => l.diffId), 'diff IDs of the pulled layout');

  await podmanOk(['tag', local.Id, remote]);
  const digestFile = path.join(work, 'push-oci.digest');
  await podmanOk(['push', '--tls-verify=false', '--signature-policy', policy, '--format', 'oci', '--digestfile', digestFile, remote]);
  const pushed = (await readFile(digestFile, 'utf8')).trim();
  assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
  const manifest = await assertPushed(name, 'v1', pushed, img.configDesc.digest, MT.ociManifest);
  assert.equal(manifest.layers.length, 3);

  await podmanOk(['rmi', '-a', '-f']);
  await assertNoLocalImages();

  const pull = await podmanOk(['pull', '--tls-verify=false', '--signature-policy', policy, remote]);
  assert.ok(pull.stdout.includes(configHex), `podman pull prints the image ID: ${pull.stdout}`);
  const pulled = await inspectImage(remote);
  assert.equal(pulled.Id, configHex, 'image ID after pull from Berth');
  assert.equal(pulled.Digest, pushed, 'podman image inspect .Digest = pushed manifest digest');
  assert.ok(pulled.RepoDigests.includes(`${berth.host}/${name}@${pushed}`), `RepoDigests: ${JSON.stringify(pulled.RepoDigests)}`);
  assert.deepEqual(pulled.RootFS.Layers, img.layers.map((l) => l.diffId), 'layer content (diff IDs) survived the round trip');
  assert.equal(pulled.Architecture, 'amd64');
  assert.equal(pulled.Os, 'linux');

  // pull by digest as well
  await podmanOk(['rmi', '-a', '-f']);
  await podmanOk(['pull', '--tls-verify=false', '--signature-policy', policy, `${berth.host}/${name}@${pushed}`]);
  const byDigest = await inspectImage(`${berth.host}/${name}@${pushed}`);
  assert.equal(byDigest.Id, configHex);
  assert.equal(byDigest.Digest, pushed);
  await podmanOk(['rmi', '-a', '-f']);
});

test('podman import + push in Docker v2s2 format, pull back after removing it locally', async () => {
  const name = 'e2e/podman/imported';
  const remote = `${berth.host}/${name}:docker`;
  const rootfs = makeTar([
    { name: 'bin', type: 'dir' },
    { name: 'hello.txt', data: Buffer.from(`hello from berth e2e ${Date.now()}\n`) },
    { name: 'data.bin', data: Buffer.from(sha256(String(Math.random())).repeat(500)) },
  ]);
  const tarFile = path.join(work, 'rootfs.tar');
  await writeFile(tarFile, rootfs);
  const imp = await podmanOk(['import', '--change', 'CMD=/bin/sh', tarFile, remote]);
  const id = imp.stdout.trim().split('\n').pop()!.replace(/^sha256:/, '');
  const local = await inspectImage(remote);
  assert.equal(local.Id, id);
  assert.deepEqual(local.RootFS.Layers, [sha256(rootfs)], 'imported layer diff ID');

  const digestFile = path.join(work, 'push-v2s2.digest');
  await podmanOk(['push', '--tls-verify=false', '--signature-policy', policy, '--format', 'v2s2', '--digestfile', digestFile, remote]);
  const pushed = (await readFile(digestFile, 'utf8')).trim();
  await assertPushed(name, 'docker', pushed, `sha256:${id}`, MT.dockerManifest);

  await podmanOk(['rmi', '-a', '-f']);
  await assertNoLocalImages();
  const missing = await podman(['image', 'exists', remote]);
  assert.equal(missing.code, 1, 'image is gone locally before the pull');

  await podmanOk(['pull', '--tls-verify=false', '--signature-policy', policy, remote]);
  const pulled = await inspectImage(remote);
  assert.equal(pulled.Id, id, 'image ID after pull');
  assert.equal(pulled.Digest, pushed, 'digest after pull');
  assert.ok(pulled.RepoDigests.includes(`${berth.host}/${name}@${pushed}`), `RepoDigests: ${JSON.stringify(pulled.RepoDigests)}`);
  assert.deepEqual(pulled.RootFS.Layers, [sha256(rootfs)]);

  // a tag that does not exist is a clean failure
  const nope = await podman(['pull', '--tls-verify=false', '--signature-policy', policy, `${berth.host}/${name}:does-not-exist`]);
  assert.notEqual(nope.code, 0);
  assert.match(nope.stderr, /manifest unknown|not found/i, nope.stderr);
  await podmanOk(['rmi', '-a', '-f']);
});
