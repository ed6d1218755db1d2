// A full disk, for real: the blob store (or the whole data directory) on a small tmpfs that a filler file
// fills up. Uploads that run out of space get an answer (503 with Retry-After, the storage-full error in
// the OCI envelope), never a connection reset; what they stored is given back before the answer, idle
// sessions go under pressure, /readyz says what is full, and everything works again once space is freed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { removeDir, startBerth, tempDir, testDatabase, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, pushRandomImage, sha256 } from '../helpers/oci.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;

type OciError = { errors: { code: string; message: string; detail?: { cause?: string } }[] };

/** The answer of a write that found the storage full: 503, Retry-After, UNAVAILABLE naming it. */
async function assertStorageFull(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, `${what}: ${text}`);
  assert.ok(Number(res.headers.get('retry-after')) > 0, `${what}: Retry-After`);
  const body = JSON.parse(text) as OciError;
  assert.equal(body.errors[0].code, 'UNAVAILABLE', what);
  assert.match(body.errors[0].message, /storage is full/, what);
  assert.match(body.errors[0].detail?.cause ?? '', /full/, what);
}

async function startUpload(b: BerthProcess, name: string): Promise<URL> {
  const res = await fetch(`${b.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202, await res.text());
  return new URL(res.headers.get('location')!, b.url);
}

const withDigest = (loc: URL, digest: string) => { const u = new URL(loc); u.searchParams.set('digest', digest); return u; };

/** A body sent in chunks (Transfer-Encoding: chunked), not as one buffer. */
function streamed(data: Buffer): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(controller) {
      if (off >= data.length) return controller.close();
      controller.enqueue(new Uint8Array(data.subarray(off, off + 256 * 1024)));
      off += 256 * 1024;
    },
  });
}

async function readyz(b: BerthProcess): Promise<{ status: number; body: { status: string; cause?: string; checks: Record<string, string> } }> {
  const res = await fetch(`${b.url}/readyz`);
  return { status: res.status, body: await res.json() as never };
}

/** Polls /readyz until it answers `status` (the write probe retries at most once a second). */
async function readyzBecomes(b: BerthProcess, status: number): Promise<Awaited<ReturnType<typeof readyz>>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await readyz(b);
    if (r.status === status || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const uploadFiles = async (storage: string) => readdir(path.join(storage, 'uploads')).catch(() => [] as string[]);
const sessionId = (loc: URL) => loc.pathname.split('/').pop()!;

describe('disk full', () => {
  test('the blob store fills up: streamed and monolithic uploads get 503 storage full, give their bytes back at once, and work again once space is freed', async () => {
    const fs = await mountTmpfs(64);
    const data = await tempDir();
    const storage = path.join(fs.dir, 'storage');
    let b: BerthProcess | undefined;
    try {
      // A probe file a killed process left behind goes with the first probe.
      const leftover = path.join(storage, 'probes', 'readyz-99999');
      await mkdir(path.dirname(leftover), { recursive: true });
      await writeFile(leftover, randomBytes(MiB));
      await utimes(leftover, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
      b = await startBerth({ dataDir: data, config: { storage: { filesystem: { root: storage } } } });
      assert.deepEqual(await readdir(path.join(storage, 'probes')), [], 'no probe file stays behind');
      const img = await pushRandomImage(b.url, 'full/app', 'v1');
      // A session with 1 MiB acknowledged, to be continued once the disk has filled up.
      const resumable = randomBytes(3 * MiB);
      const kept = await startUpload(b, 'full/app');
      const first = await fetch(kept, { method: 'PATCH', body: new Uint8Array(resumable.subarray(0, MiB)), headers: { 'content-range': `0-${MiB - 1}` } });
      assert.equal(first.status, 202);

      fs.fill(6 * MiB);
      const big = randomBytes(24 * MiB);

      // 1. One PUT with the whole 24 MiB body, into 6 MiB of space.
      let free = fs.free();
      const put = await startUpload(b, 'full/app');
      await assertStorageFull(await fetch(withDigest(put, sha256(big)), { method: 'PUT', body: new Uint8Array(big), headers: { 'content-type': 'application/octet-stream' } }), 'PUT with the body');
      assert.ok(fs.free() >= free - MiB, `the bytes the PUT stored were given back (free ${fs.free()} of ${free} before)`);
      assert.equal((await fetch(put)).status, 404, 'a session with nothing acknowledged is removed');
      assert.ok(!(await uploadFiles(storage)).includes(sessionId(put)), 'its file is gone');
      assert.equal((await fetch(`${b.url}/v2/full/app/blobs/${sha256(big)}`, { method: 'HEAD' })).status, 404, 'no blob from the failed PUT');

      // 2. A PATCH streaming 24 MiB (chunked) into a session that has 1 MiB acknowledged: cut back to it.
      free = fs.free();
      const patch = await fetch(kept, { method: 'PATCH', body: streamed(big), duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit);
      await assertStorageFull(patch, 'streamed PATCH');
      assert.ok(fs.free() >= free - MiB, `the bytes the PATCH stored were given back (free ${fs.free()} of ${free} before)`);
      const status = await fetch(kept);
      assert.equal(status.status, 204, 'the session stays at what was acknowledged');
      assert.equal(status.headers.get('range'), `0-${MiB - 1}`);
      assert.equal((await stat(path.join(storage, 'uploads', sessionId(kept)))).size, MiB, 'its file is cut back to the acknowledged size');

      // 3. A streamed PATCH into a fresh session, and a monolithic POST: same answer, nothing left behind.
      const fresh = await startUpload(b, 'full/app');
      await assertStorageFull(await fetch(fresh, { method: 'PATCH', body: streamed(big), duplex: 'half' } as RequestInit), 'PATCH into a fresh session');
      assert.equal((await fetch(fresh)).status, 404);
      await assertStorageFull(await fetch(`${b.url}/v2/full/app/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: new Uint8Array(big) }), 'monolithic POST');
      fs.fill(0);
      const small = randomBytes(64 * 1024);
      await assertStorageFull(await fetch(`${b.url}/v2/full/app/blobs/uploads/?digest=${sha256(small)}`, { method: 'POST', body: new Uint8Array(small) }), 'small monolithic POST');
      for (const d of [sha256(big), sha256(small)]) assert.equal((await fetch(`${b.url}/v2/full/app/blobs/${d}`)).status, 404, `no blob ${d}`);
      assert.deepEqual((await uploadFiles(storage)).sort(), [sessionId(kept)], 'only the resumable session has a file');

      // Readiness says what is wrong while writes fail; pulls still work (the database has room).
      const notReady = await readyzBecomes(b, 503);
      assert.equal(notReady.status, 503);
      assert.equal(notReady.body.status, 'unavailable');
      assert.equal(notReady.body.checks.storage, 'full');
      assert.match(notReady.body.cause ?? '', /storage full/);
      assert.equal((await fetch(`${b.url}/v2/full/app/manifests/v1`, { headers: { accept: MT.ociManifest } })).status, 200);

      // Space is freed: ready again without a restart, the session resumes, pushes succeed.
      await fs.unfill();
      const ready = await readyzBecomes(b, 200);
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      assert.deepEqual(ready.body.checks, { database: 'ok', storage: 'ok' });
      const rest = await fetch(kept, { method: 'PATCH', body: new Uint8Array(resumable.subarray(MiB)), headers: { 'content-range': `${MiB}-${resumable.length - 1}` } });
      assert.equal(rest.status, 202, await rest.clone().text());
      const done = await fetch(withDigest(new URL(rest.headers.get('location')!, b.url), sha256(resumable)), { method: 'PUT' });
      assert.equal(done.status, 201, await done.clone().text());
      await pushBlob(b.url, 'full/app', big);
      const again = await fetch(`${b.url}/v2/full/app/blobs/${sha256(big)}`);
      assert.equal(sha256(Buffer.from(await again.arrayBuffer())), sha256(big));
      assert.equal((await fetch(`${b.url}/v2/full/app/manifests/${img.digest}`, { headers: { accept: MT.ociManifest } })).status, 200);
      assert.equal(b.proc.exitCode, null, 'the same server, never restarted');
      assert.ok(!b.logs.some((l) => l.includes('"msg":"unhandled error"')), 'no unhandled error logged');
    } finally {
      await b?.kill();
      await fs.unmount();
      await removeDir(data);
    }
  });

  test('the whole data directory fills up: manifest pushes and small uploads get 503 storage full, then succeed once space is freed', async () => {
    const fs = await mountTmpfs(64);
    let b: BerthProcess | undefined;
    try {
      b = await startBerth({ dataDir: path.join(fs.dir, 'data') });
      await pushRandomImage(b.url, 'full/db', 'v1');
      // Blobs of a second image are in; its manifest comes once the disk is full.
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      const layer = randomBytes(4096);
      await pushBlob(b.url, 'full/db', config);
      await pushBlob(b.url, 'full/db', layer);
      const manifest = {
        schemaVersion: 2, mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }],
      };
      fs.fill(0);

      const m = await pushManifest(b.url, 'full/db', 'v2', manifest, MT.ociManifest);
      const small = randomBytes(16 * 1024);
      await assertStorageFull(await fetch(`${b.url}/v2/full/db/blobs/uploads/?digest=${sha256(small)}`, { method: 'POST', body: new Uint8Array(small) }), 'small monolithic POST');
      if (testDatabase() === 'sqlite') {
        // Manifests live in the database, here in the full data directory.
        await assertStorageFull(m.res, 'manifest PUT');
        assert.equal((await fetch(`${b.url}/v2/full/db/manifests/v2`, { method: 'HEAD', headers: { accept: MT.ociManifest } })).status, 404, 'no manifest from the failed PUT');
      } else {
        // On PostgreSQL they live on the database server: a full data directory does not stop them.
        assert.equal(m.res.status, 201, await m.res.text());
      }

      const notReady = await readyzBecomes(b, 503);
      assert.equal(notReady.status, 503);
      assert.match(notReady.body.cause ?? '', /full/);
      assert.ok(Object.values(notReady.body.checks).includes('full'), JSON.stringify(notReady.body));

      await fs.unfill();
      assert.equal((await readyzBecomes(b, 200)).status, 200);
      const retry = await pushManifest(b.url, 'full/db', 'v2', manifest, MT.ociManifest);
      assert.equal(retry.res.status, 201, await retry.res.text());
      await pushBlob(b.url, 'full/db', small);
      assert.equal(b.proc.exitCode, null, 'the same server, never restarted');
      assert.ok(!b.logs.some((l) => l.includes('"msg":"unhandled error"')), 'no unhandled error logged');
    } finally {
      await b?.kill();
      await fs.unmount();
    }
  });

  test('under storage pressure, idle upload sessions (never written, or left by a client) are removed, and not before', async () => {
    const fs = await mountTmpfs(64);
    const data = await tempDir();
    const storage = path.join(fs.dir, 'storage');
    let b: BerthProcess | undefined;
    try {
      b = await startBerth({ dataDir: data, config: { storage: { filesystem: { root: storage } }, registry: { uploadExpiryWhenFull: 1 } } });
      const never = await startUpload(b, 'full/idle');
      const left = await startUpload(b, 'full/idle');
      assert.equal((await fetch(left, { method: 'PATCH', body: new Uint8Array(randomBytes(2 * MiB)) })).status, 202);
      // Idle past uploadExpiryWhenFull, but the disk has room: they stay (and a push meanwhile touches nothing).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await pushBlob(b.url, 'full/idle', randomBytes(1024));
      assert.equal((await fetch(never)).status, 204);
      assert.equal((await fetch(left)).status, 204);

      fs.fill(MiB);
      const big = randomBytes(8 * MiB);
      await assertStorageFull(await fetch(`${b.url}/v2/full/idle/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: new Uint8Array(big) }), 'monolithic POST');
      // The sweep runs in the background, right after the failure, and logs what it removed when done.
      const swept = () => b!.logs.find((l) => l.includes('idle upload sessions removed'));
      const deadline = Date.now() + 10_000;
      while (!swept() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.match(swept() ?? '', /"uploads":2,"bytes":2097152/, 'the sweep is logged');
      assert.equal((await fetch(left)).status, 404, 'the session its client left is removed');
      assert.equal((await fetch(never)).status, 404, 'the session never written is removed');
      assert.deepEqual(await uploadFiles(storage), [], 'their files are gone');
    } finally {
      await b?.kill();
      await fs.unmount();
      await removeDir(data);
    }
  });
});
