// Faults answered clearly: another process holding the database's write lock freezes nothing (health,
// pulls) and writes that wait too long get 503 DATABASE_UNAVAILABLE naming the cause; once the lock is
// free everything works again without a restart. The same for a data directory on a read-only filesystem
// (a real tmpfs remounted read-only): the server starts, serves what needs no write, says why it is not
// ready, and takes pushes once the filesystem is writable again. A full disk is disk-full.test.ts.
// berth-test: sqlite-only (SQLite's own faults: another connection's write lock on the file, the file on a read-only filesystem)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { removeDir, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { MT, pushRandomImage } from '../helpers/oci.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

describe('faults', () => {
  let b: BerthProcess;
  before(async () => { b = await startBerth({ config: { database: { sqlite: { lockTimeout: 1 } } } }); });
  after(async () => { await b.stop(); });

  test('another process holds the write lock: health answers, writes fail with 503 naming the cause, then recover', async () => {
    const img = await pushRandomImage(b.url, 'faults/app', 'v1');
    const other = new Database(path.join(b.dataDir, 'berth.db'));
    try {
      other.exec('begin immediate');
      // Several requests at once: with a synchronous busy wait they would queue behind each other.
      const [health, push, pull] = await Promise.all([
        fetch(`${b.url}/healthz`),
        pushRandomImage(b.url, 'faults/app', 'v2').then(() => 201, (e: Error) => e.message),
        fetch(`${b.url}/v2/faults/app/manifests/v1`, { headers: { accept: MT.ociManifest } }),
      ]);
      assert.equal(health.status, 200);
      assert.ok(other.inTransaction, 'the lock was still held');
      // A pull's audit record waits in the spool (audit-spool.test.ts): reads go on.
      assert.equal(pull.status, 200);
      assert.notEqual(push, 201, 'a push cannot commit while another process holds the lock');
      const res = await fetch(`${b.url}/v2/faults/app/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 503);
      const body = await res.json() as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0].code, 'UNAVAILABLE');
      assert.match(body.errors[0].message, /database is locked by another process/);
      assert.ok(res.headers.get('retry-after'), 'Retry-After');
    } finally {
      other.exec('rollback');
      other.close();
    }
    const res = await fetch(`${b.url}/v2/faults/app/manifests/v1`, { headers: { accept: MT.ociManifest } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    await pushRandomImage(b.url, 'faults/app', 'v3');
    assert.ok(!b.logs.some((l) => l.includes('"msg":"unhandled error"')), 'no unhandled error logged');
  });
});

describe('a read-only data directory', () => {
  test('a server started on it serves reads, names the cause of 503s and of not being ready, and takes pushes once it is writable, without a restart', async () => {
    const fs = await mountTmpfs(64);
    const dataDir = fs.dir;
    const spool = await tempDir('berth-spool-');
    let b: BerthProcess | undefined;
    try {
      b = await startBerth({ dataDir });
      const img = await pushRandomImage(b.url, 'ro/app', 'v1');
      const layerDigest = (img.manifest.layers as { digest: string }[])[0].digest;
      // The filesystem went read-only under a running server, which then died (or was stopped there):
      // SQLite's -wal and -shm files stay, which is what lets it read the database on a read-only filesystem.
      await b.kill();
      fs.readOnly();

      // With the audit spool on the read-only filesystem too (the default), pulls cannot be put on record
      // (audit.failClosed): refused, naming the cause. What records nothing is served.
      b = await startBerth({ dataDir, waitFor: 'listening' });
      const ready = await fetch(`${b.url}/readyz`);
      const body = await ready.json() as { status: string; cause: string; checks: Record<string, string> };
      assert.equal(ready.status, 503);
      assert.equal(body.checks.database, 'not writable');
      assert.equal(body.checks.storage, 'not writable');
      assert.match(body.cause, /database not writable/);
      const tags = await fetch(`${b.url}/v2/ro/app/tags/list`);
      assert.equal(tags.status, 200);
      assert.deepEqual((await tags.json() as { tags: string[] }).tags, ['v1']);
      const pull = await fetch(`${b.url}/v2/ro/app/manifests/v1`, { headers: { accept: MT.ociManifest } });
      assert.equal(pull.status, 503);
      assert.ok(Number(pull.headers.get('retry-after')) > 0, 'Retry-After');
      const err = await pull.json() as { errors: { code: string; message: string; detail?: { cause?: string } }[] };
      assert.equal(err.errors[0].code, 'UNAVAILABLE');
      assert.match(err.errors[0].detail?.cause ?? '', /database: read-only/);
      await assert.rejects(pushRandomImage(b.url, 'ro/app', 'v2'), /503 .*database is read-only/);
      await b.stop();

      // With the spool on a writable disk, pulls are served as well; pushes are refused naming the cause.
      b = await startBerth({ dataDir, waitFor: 'listening', config: { audit: { spool: { dir: spool } } } });
      assert.equal((await fetch(`${b.url}/readyz`)).status, 503);
      const manifest = await fetch(`${b.url}/v2/ro/app/manifests/v1`, { headers: { accept: MT.ociManifest } });
      assert.equal(manifest.status, 200);
      assert.equal(manifest.headers.get('docker-content-digest'), img.digest);
      const layer = await fetch(`${b.url}/v2/ro/app/blobs/${layerDigest}`);
      assert.equal(layer.status, 200);
      assert.ok(Buffer.from(await layer.arrayBuffer()).equals(img.layers[0]));
      await assert.rejects(pushRandomImage(b.url, 'ro/app', 'v2'), /503 .*database is read-only/);

      fs.writable();
      const deadline = Date.now() + 20_000;
      let again = await fetch(`${b.url}/readyz`);
      while (again.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        again = await fetch(`${b.url}/readyz`);
      }
      assert.equal(again.status, 200, await again.text());
      const v2 = await pushRandomImage(b.url, 'ro/app', 'v2');
      const res = await fetch(`${b.url}/v2/ro/app/manifests/v2`, { headers: { accept: MT.ociManifest } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), v2.digest);
      assert.equal(b.proc.exitCode, null, 'the same server, never restarted');
      assert.ok(!b.logs.some((l) => l.includes('"msg":"unhandled error"')), 'no unhandled error logged');
    } finally {
      await b?.kill();
      await fs.unmount();
      await removeDir(spool);
    }
  });

  test('after a clean stop SQLite cannot even read there: the start fails and says why', async () => {
    const fs = await mountTmpfs(64);
    const dataDir = fs.dir;
    let b: BerthProcess | undefined;
    try {
      b = await startBerth({ dataDir });
      await pushRandomImage(b.url, 'ro/app', 'v1');
      await b.stop();
      b = undefined;
      fs.readOnly();
      await assert.rejects(startBerth({ dataDir, waitFor: 'listening' }), /read-only filesystem .*-shm file.*make the filesystem writable/s);
    } finally {
      await b?.kill();
      await fs.unmount();
    }
  });
});
