// The audit spool: records of pulls wait in a local file while the database cannot take them, so that a
// locked database stalls no pull; none is lost when the process is killed, none is written twice, and
// when neither the spool nor the database can take a record, audit.failClosed decides.
// berth-test: sqlite-only (the database is made to refuse writes by holding SQLite's write lock from another connection)
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushRandomImage, sha256 } from '../helpers/oci.js';
import { waitFor } from '../helpers/receiver.js';

const dbFile = (b: BerthProcess) => path.join(b.dataDir, 'berth.db');

/** Holds the database's write lock from another connection, as `berth gc` or another worker would. */
function holdLock(b: BerthProcess): { release(): void } {
  const other = new Database(dbFile(b));
  other.exec('begin immediate');
  return { release() { other.exec('rollback'); other.close(); } };
}

function records(b: BerthProcess, action: string): { resource: string; detail: string | null; request_id: string }[] {
  const db = new Database(dbFile(b), { readonly: true });
  try {
    return db.prepare('select resource, detail, request_id from audit_log where action = ? order by seq').all(action) as never;
  } finally {
    db.close();
  }
}

const pull = (b: BerthProcess, name: string, ref: string) => fetch(`${b.url}/v2/${name}/manifests/${ref}`, { headers: { accept: MT.ociManifest } });

async function verifyChain(b: BerthProcess): Promise<void> {
  const v = await runCli(['audit', 'verify', '--data', b.dataDir]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
}

describe('audit spool', () => {
  test('pulls answer while another process holds the write lock past the lock timeout; their records reach the chain once it is free', async () => {
    const b = await startBerth({ config: { database: { sqlite: { lockTimeout: 1 } } } });
    try {
      const img = await pushRandomImage(b.url, 'spool/app', 'v1');
      const lock = holdLock(b);
      let statuses: number[];
      try {
        const answers = await Promise.all([
          pull(b, 'spool/app', 'v1'), pull(b, 'spool/app', img.digest), pull(b, 'spool/app', 'v1'),
          fetch(`${b.url}/v2/spool/app/blobs/${sha256(img.config)}`),
        ]);
        statuses = answers.map((r) => r.status);
        // Still held: nothing above waited for it.
        assert.equal(records(b, 'manifest.pull').length, 0, 'no record could reach the chain yet');
      } finally {
        lock.release();
      }
      assert.deepEqual(statuses, [200, 200, 200, 200]);
      const got = await waitFor('records in the chain', () => { const r = records(b, 'manifest.pull'); return r.length >= 3 ? r : undefined; });
      assert.deepEqual(got.map((r) => r.resource).sort(), ['repository:spool/app:v1', 'repository:spool/app:v1', `repository:spool/app@${img.digest}`].sort());
      await waitFor('the blob pull summary', () => records(b, 'blob.pull').length > 0 || undefined);
      await verifyChain(b);
    } finally {
      await b.stop();
    }
  });

  test('a server killed while its records wait in the spool: the next start puts each into the chain, once', async () => {
    const b = await startBerth({ config: { database: { sqlite: { lockTimeout: 1 } } } });
    const dataDir = b.dataDir;
    let again: BerthProcess | undefined;
    try {
      const img = await pushRandomImage(b.url, 'spool/kill', 'v1');
      const lock = holdLock(b);
      const ids: string[] = [];
      try {
        for (let i = 0; i < 20; i++) {
          const r = await pull(b, 'spool/kill', 'v1');
          assert.equal(r.status, 200);
          ids.push(r.headers.get('x-request-id') ?? String(i));
        }
        // Downloads are summarized over a window: killed inside it, they are only in their spool.
        for (let i = 0; i < 5; i++) assert.equal((await fetch(`${b.url}/v2/spool/kill/blobs/${sha256(img.layers[0])}`)).status, 200);
        await b.kill();
      } finally {
        lock.release();
      }
      assert.equal(records(b, 'manifest.pull').length, 0, 'nothing reached the chain before the kill');
      assert.ok((await readdir(path.join(dataDir, 'audit-spool'))).length > 0, 'the spool files stayed behind');
      again = await startBerth({ dataDir, config: { database: { sqlite: { lockTimeout: 1 } } } });
      // Taken over before the first request is answered.
      const pulls = records(again, 'manifest.pull');
      assert.equal(pulls.length, 20, 'each record once');
      const blobPulls = records(again, 'blob.pull');
      assert.equal(blobPulls.reduce((n, r) => n + (JSON.parse(r.detail!) as { blobs: number }).blobs, 0), 5, 'every download counted once in the summaries');
      assert.deepEqual(await readdir(path.join(dataDir, 'audit-spool')).then((f) => f.filter((n) => !n.includes(`.${again!.proc.pid}.`))), [], 'the dead process\'s files are gone');
      await verifyChain(again);
      // A second restart finds nothing more to take over.
      await again.stop();
      again = await startBerth({ dataDir, config: { database: { sqlite: { lockTimeout: 1 } } } });
      assert.equal(records(again, 'manifest.pull').length, 20);
    } finally {
      await again?.stop();
    }
  });

  test('neither the spool nor the database can take a record: refused with 503 naming both (audit.failClosed), or served and logged when it is off', async () => {
    for (const failClosed of [true, false]) {
      // A spool that takes one record and then waits for the database.
      const b = await startBerth({ config: { database: { sqlite: { lockTimeout: 1 } }, audit: { failClosed, spool: { maxBytes: 1 } } } });
      try {
        await pushRandomImage(b.url, 'spool/closed', 'v1');
        const lock = holdLock(b);
        let first: Response;
        let second: Response;
        try {
          first = await pull(b, 'spool/closed', 'v1');
          second = await pull(b, 'spool/closed', 'v1');
        } finally {
          lock.release();
        }
        assert.equal(first.status, 200, 'the spool took the first record');
        if (failClosed) {
          assert.equal(second.status, 503);
          assert.ok(second.headers.get('retry-after'));
          const body = await second.json() as { errors: { code: string; message: string; detail: { cause: string } }[] };
          assert.equal(body.errors[0].code, 'UNAVAILABLE');
          assert.match(body.errors[0].message, /audit record of this request cannot be written/);
          assert.match(body.errors[0].detail.cause, /spool: .*audit\.spool\.maxBytes.*database: locked by another process/);
        } else {
          assert.equal(second.status, 200, 'served without its record');
          // The log line is written asynchronously: it may trail the answer.
          await waitFor('the missing record is logged', () => b.logs.some((l) => l.includes('audit record not written')) || undefined);
        }
        // Everything works again once the lock is gone.
        assert.equal((await pull(b, 'spool/closed', 'v1')).status, 200);
        await waitFor('records in the chain', () => records(b, 'manifest.pull').length >= 2 || undefined);
        await verifyChain(b);
      } finally {
        await b.stop();
      }
    }
  });
});
