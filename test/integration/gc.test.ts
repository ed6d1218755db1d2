// Garbage collection against a running server: what goes, what stays, and pushes racing collections.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { pushBlob, pushRandomImage, sha256 } from '../helpers/oci.js';

interface Report { dryRun: boolean; unlinked: number; blobsRemoved: number; bytesRemoved: number; uploadsRemoved: number; orphanFilesRemoved: number }

async function gc(b: BerthProcess, ...args: string[]): Promise<Report> {
  const config = path.join(b.dataDir, '..', `berth-config-${b.port}.yaml`);
  const res = await runCli(['gc', '--json', '--data', b.dataDir, '--config', config, ...args]);
  assert.equal(res.code, 0, `berth gc failed: ${res.stderr}${res.stdout}`);
  // --json: standard output is the report and nothing else.
  return JSON.parse(res.stdout) as Report;
}

async function blobStatus(b: BerthProcess, name: string, digest: string): Promise<number> {
  return (await fetch(`${b.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status;
}

async function storedBlobFiles(b: BerthProcess): Promise<Set<string>> {
  const out = new Set<string>();
  const root = path.join(b.dataDir, 'storage', 'blobs', 'sha256');
  for (const prefix of await readdir(root).catch(() => [])) {
    for (const f of await readdir(path.join(root, prefix))) out.add(`sha256:${f}`);
  }
  return out;
}

describe('berth gc', () => {
  let b: BerthProcess;
  before(async () => { b = await startBerth({ config: { registry: { uploadExpiry: 1 } } }); });
  after(async () => { await b.stop(); });

  test('dry run reports unreferenced blobs and removes nothing; a real run removes them with byte counts', async () => {
    const keep = await pushRandomImage(b.url, 'gc/app', 'keep');
    const orphan = randomBytes(5000);
    const o = await pushBlob(b.url, 'gc/app', orphan);
    const dry = await gc(b, '--dry-run', '--grace', '0');
    assert.equal(dry.dryRun, true);
    assert.ok(dry.blobsRemoved >= 1, 'dry run counts the orphan');
    assert.equal(await blobStatus(b, 'gc/app', o.digest), 200, 'dry run removed nothing');

    const real = await gc(b, '--grace', '0');
    assert.ok(real.blobsRemoved >= 1);
    assert.ok(real.bytesRemoved >= orphan.length);
    assert.equal(await blobStatus(b, 'gc/app', o.digest), 404);
    assert.ok(!(await storedBlobFiles(b)).has(o.digest), 'orphan bytes are gone from storage');
    for (const l of keep.layers) assert.equal(await blobStatus(b, 'gc/app', sha256(l)), 200, 'referenced layers stay');
    const m = await fetch(`${b.url}/v2/gc/app/manifests/keep`);
    assert.equal(m.status, 200);
  });

  test('deleting a manifest lets gc remove its blobs, but not blobs another repository still uses', async () => {
    const img = await pushRandomImage(b.url, 'gc/one', 'v1');
    // The same layer in a second repository, by mount.
    const shared = sha256(img.layers[0]);
    const mount = await fetch(`${b.url}/v2/gc/two/blobs/uploads/?mount=${shared}&from=gc/one`, { method: 'POST' });
    assert.equal(mount.status, 201);
    await pushBlob(b.url, 'gc/two', img.config);
    await pushBlob(b.url, 'gc/two', img.layers[1]);
    const put = await fetch(`${b.url}/v2/gc/two/manifests/v1`, { method: 'PUT', body: new Uint8Array(img.manifestBytes), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);

    const del = await fetch(`${b.url}/v2/gc/one/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const r = await gc(b, '--grace', '0');
    assert.ok(r.unlinked >= 3, `links of gc/one are removed (${r.unlinked})`);
    assert.equal(await blobStatus(b, 'gc/one', shared), 404, 'gc/one no longer sees the layer');
    assert.equal(await blobStatus(b, 'gc/two', shared), 200, 'gc/two still serves it');
    const get = await fetch(`${b.url}/v2/gc/two/blobs/${shared}`);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), shared);
  });

  test('the grace period spares recently uploaded blobs', async () => {
    const o = await pushBlob(b.url, 'gc/grace', randomBytes(1000));
    await gc(b, '--grace', '3600');
    assert.equal(await blobStatus(b, 'gc/grace', o.digest), 200);
  });

  test('expired upload sessions are purged with their data', async () => {
    const start = await fetch(`${b.url}/v2/gc/uploads/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const loc = new URL(start.headers.get('location')!, b.url);
    const patch = await fetch(loc, { method: 'PATCH', body: new Uint8Array(randomBytes(2048)), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const id = loc.pathname.split('/').pop()!;
    await new Promise((r) => setTimeout(r, 1500));
    const r = await gc(b, '--grace', '3600');
    assert.ok(r.uploadsRemoved >= 1);
    assert.equal((await fetch(loc)).status, 404);
    const uploads = await readdir(path.join(b.dataDir, 'storage', 'uploads')).catch(() => [] as string[]);
    assert.ok(!uploads.includes(id), 'upload data removed');
  });

  test('pushes that race repeated collections all stay intact', async () => {
    const images: { name: string; tag: string; digest: string; layers: Buffer[] }[] = [];
    let stop = false;
    const collector = (async () => {
      let runs = 0;
      while (!stop) { await gc(b, '--grace', '30'); runs++; }
      return runs;
    })();
    const pushers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 6; i++) {
        const img = await pushRandomImage(b.url, `gc/race${w}`, `t${i}`, { layers: 3, layerSize: 20_000 });
        images.push({ name: `gc/race${w}`, tag: `t${i}`, digest: img.digest, layers: img.layers });
      }
    });
    await Promise.all(pushers);
    stop = true;
    const runs = await collector;
    assert.ok(runs >= 1);
    await gc(b, '--grace', '30');
    for (const img of images) {
      const m = await fetch(`${b.url}/v2/${img.name}/manifests/${img.tag}`);
      assert.equal(m.status, 200);
      for (const l of img.layers) {
        const g = await fetch(`${b.url}/v2/${img.name}/blobs/${sha256(l)}`);
        assert.equal(g.status, 200);
        assert.equal(sha256(Buffer.from(await g.arrayBuffer())), sha256(l));
      }
    }
  });
});

describe('gc.interval inside serve', () => {
  test('the server collects on its own interval and logs a report', async () => {
    const b = await startBerth({ config: { gc: { interval: 1, grace: 2 } } });
    try {
      const keep = await pushRandomImage(b.url, 'gc/interval', 'v1');
      const orphan = await pushBlob(b.url, 'gc/interval', randomBytes(3000));
      // Watched in storage, not with HEAD: a HEAD protects the blob it checks for the grace period.
      for (let i = 0; i < 100 && (await storedBlobFiles(b)).has(orphan.digest); i++) await new Promise((r) => setTimeout(r, 200));
      assert.equal(await blobStatus(b, 'gc/interval', orphan.digest), 404, 'the orphan blob was collected');
      for (const l of keep.layers) assert.equal(await blobStatus(b, 'gc/interval', sha256(l)), 200);
      assert.ok(b.logs.some((l) => l.includes('garbage collection finished')), 'a report is logged');
    } finally {
      await b.stop();
    }
  });
});
