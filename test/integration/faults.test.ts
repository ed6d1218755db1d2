// Faults answered clearly: another process holding the database's write lock freezes nothing (health,
// pulls) and writes that wait too long get 503 DATABASE_UNAVAILABLE naming the cause; once the lock is
// free everything works again without a restart.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushRandomImage } from '../helpers/oci.js';

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
