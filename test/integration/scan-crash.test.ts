// A scan survives the death of the process running it: killed with SIGKILL while it reads a large layer,
// its claim runs out and another process takes the manifest over; the catalogue appears once, whole, and
// nothing of the dead scan is left behind (no partial catalogue, no SBOM twice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { startBerth, tempDir, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest } from '../helpers/oci.js';
import { waitFor } from '../helpers/receiver.js';
import { openTestStore } from '../helpers/db.js';

/** A gzip layer with one executable of `bytes` zeros (a few MB compressed, seconds to read). */
async function bigLayer(file: string, bytes: number): Promise<{ digest: string; size: number; diffId: string }> {
  const pack = tar.pack();
  const gz = createHash('sha256'), raw = createHash('sha256');
  let size = 0;
  const done = pipeline(
    pack,
    new Transform({ transform(c: Buffer, _e, cb) { raw.update(c); cb(null, c); } }),
    createGzip({ level: 1 }),
    new Transform({ transform(c: Buffer, _e, cb) { gz.update(c); size += c.length; cb(null, c); } }),
    createWriteStream(file),
  );
  const entry = pack.entry({ name: 'usr/local/bin/huge', size: bytes, mode: 0o755 });
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!entry.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise<void>((r) => entry.once('drain', () => r()));
  }
  entry.end(() => undefined);
  pack.finalize();
  await done;
  return { digest: `sha256:${gz.digest('hex')}`, size, diffId: `sha256:${raw.digest('hex')}` };
}

test('a scan killed with its process is taken over once the claim runs out, and its catalogue appears once', { timeout: 300_000 }, async () => {
  const dir = await tempDir();
  const work = await tempDir('berth-scan-crash-');
  const config = { scan: { interval: 1, lease: 3 } };
  let a: BerthProcess | undefined, b: BerthProcess | undefined;
  try {
    await mkdir(work, { recursive: true });
    const layerFile = path.join(work, 'layer.tgz');
    const layer = await bigLayer(layerFile, 3 * 1024 * 1024 * 1024);
    a = await startBerth({ dataDir: dir, config });
    const small = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] }, config: {} }));
    await pushBlob(a.url, 'crash/app', small);
    await pushBlob(a.url, 'crash/app', await readFile(layerFile));
    const manifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(small), size: small.length }, layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }] };
    const put = await pushManifest(a.url, 'crash/app', 'v1', manifest, MT.ociManifest);
    assert.equal(put.res.status, 201);
    const digest = put.res.headers.get('docker-content-digest')!;
    // The queue and the catalogues are read in the database itself (this server runs without authentication).
    const meta = await openTestStore(dir);
    try {
      const queued = async () => (await meta.db.selectFrom('scan_queue').selectAll().where('digest', '=', digest).executeTakeFirst());
      await waitFor('the scan under way in A', async () => {
        const q = await queued();
        return q && q.claimed_by && Number(q.claimed_until) > Date.now() ? q : undefined;
      }, 60_000, 20);
      a.proc.kill('SIGKILL');
      await new Promise((r) => a!.proc.once('exit', r));
      const held = await queued();
      assert.ok(held, 'the killed scan left its manifest in the queue');
      assert.equal(await meta.db.selectFrom('image_catalogs').select('digest').where('digest', '=', digest).executeTakeFirst(), undefined, 'no catalogue from the dead scan');
      b = await startBerth({ dataDir: dir, config });
      const done = await waitFor('the catalogue made by B', async () => meta.db.selectFrom('image_catalogs').selectAll().where('digest', '=', digest).executeTakeFirst(), 240_000, 250);
      assert.equal(done.status, 'done');
      assert.equal(await queued(), undefined, 'the queue is empty');
      const catalog = JSON.parse(done.catalog!) as { platforms: { layers: { compressedBytes: number }[] }[] };
      assert.equal(catalog.platforms[0]!.layers[0]!.compressedBytes, layer.size, 'the whole layer was read');
      // One set of SBOM referrers, not one per attempt.
      const referrers = await (await fetch(`${b.url}/v2/crash/app/referrers/${digest}`)).json() as { manifests: { artifactType: string }[] };
      assert.deepEqual(referrers.manifests.map((m) => m.artifactType).sort(), ['application/spdx+json', 'application/vnd.cyclonedx+json']);
    } finally {
      await meta.close();
    }
  } finally {
    await b?.stop();
    if (a && a.proc.exitCode === null && a.proc.signalCode === null) await a.stop();
    await removeDir(dir);
    await removeDir(work);
  }
});
