import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { HashPool } from '../../src/lib/hash-pool.js';

const reference = (alg: string, parts: Buffer[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('HashPool', () => {
  const pool = new HashPool(2);
  after(() => pool.close());

  test('threaded digests equal node:crypto for many chunk shapes, sha256 and sha512', async () => {
    for (const alg of ['sha256', 'sha512']) {
      const parts = [0, 1, 63, 64, 65, 4096, 65536, 1 << 20, (1 << 20) + 7, 3 << 20, 17].map((n) => randomBytes(n));
      const want = reference(alg, parts);
      const h = pool.create(alg); // unknown size: threaded
      for (const p of parts) h.update(Buffer.from(p), true);
      assert.equal(await h.digest(), want, alg);
      const inline = pool.create(alg, 10); // small: inline
      for (const p of parts) inline.update(p);
      assert.equal(await inline.digest(), want, `${alg} inline`);
    }
  });

  test('interleaved hashes on the same threads stay separate', async () => {
    const data = Array.from({ length: 8 }, () => Array.from({ length: 6 }, () => randomBytes(300_000)));
    const hashes = data.map(() => pool.create('sha256'));
    for (let i = 0; i < 6; i++) for (let k = 0; k < data.length; k++) hashes[k].update(Buffer.from(data[k][i]), i % 2 === 0);
    const got = await Promise.all(hashes.map((h) => h.digest()));
    assert.deepEqual(got, data.map((parts) => reference('sha256', parts)));
  });

  test('a handed-off chunk that owns its memory moves; a slice of shared memory is copied, never detached', async () => {
    const own = Buffer.from(randomBytes(2 << 20)); // Buffer.from(buffer) of this size owns its ArrayBuffer
    const copyOfOwn = Buffer.from(own);
    const shared = Buffer.alloc(3 << 20, 7);
    const slice = shared.subarray(1024, (2 << 20) + 1024);
    const h = pool.create('sha256');
    h.update(own, true);
    h.update(slice, true);
    assert.equal(own.buffer.byteLength, 0, 'the owning chunk was transferred');
    assert.equal(shared.buffer.byteLength, 3 << 20, 'the shared memory stays usable');
    assert.equal(shared[5], 7);
    assert.equal(await h.digest(), reference('sha256', [copyOfOwn, Buffer.alloc(2 << 20, 7)]));
  });

  test('backlog bounds: full() turns true past the limit and whenReady calls back once hashed', async () => {
    const h = pool.create('sha256');
    const chunk = () => Buffer.from(randomBytes(1 << 20));
    let fed = 0;
    while (!h.full()) {
      h.update(chunk(), true);
      fed++;
      assert.ok(fed < 64, 'full() never turned true');
    }
    assert.ok(h.backlog > 4 << 20);
    await new Promise<void>((resolve) => h.whenReady(resolve));
    assert.ok(!h.full());
    assert.match(await h.digest(), /^[0-9a-f]{64}$/);
  });

  test('memory stays bounded while 512 MiB stream through a hashing thread', async () => {
    const h = pool.create('sha256');
    const start = process.memoryUsage().rss;
    let peak = start;
    for (let i = 0; i < 512; i++) {
      const chunk = Buffer.allocUnsafeSlow(1 << 20).fill(i & 0xff);
      h.update(chunk, true);
      if (h.full()) await new Promise<void>((resolve) => h.whenReady(resolve));
      if (i % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    await h.digest();
    const grewMiB = (peak - start) / 1048576;
    assert.ok(grewMiB < 64, `RSS grew ${grewMiB.toFixed(0)} MiB while hashing 512 MiB`);
  });

  test('a finished or disposed hash refuses more input; dispose releases waiters', async () => {
    const h = pool.create('sha256');
    h.update(Buffer.from('abc'));
    assert.equal(await h.digest(), reference('sha256', [Buffer.from('abc')]));
    assert.throws(() => h.update(Buffer.from('x')), /finished/);
    await assert.rejects(h.digest(), /finished/);
    const d = pool.create('sha256');
    d.update(Buffer.alloc(1 << 20));
    d.dispose();
    assert.equal(d.backlog, 0);
    assert.throws(() => d.update(Buffer.from('x')), /finished/);
  });

  test('a hashing thread that dies fails its digests instead of hanging, and the pool starts a new one', async () => {
    const p = new HashPool(1);
    try {
      const h = p.create('sha256');
      h.update(Buffer.alloc(2 << 20, 1));
      // Reach the worker through the pool's private state only to kill it, as a crash would.
      const thread = (p as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads[0];
      await thread.worker.terminate();
      await assert.rejects(h.digest(), /exited|hashing thread/);
      const again = p.create('sha256');
      again.update(Buffer.from('ok'));
      assert.equal(await again.digest(), reference('sha256', [Buffer.from('ok')]));
    } finally {
      await p.close();
    }
  });

  test('zero threads hash everything inline', async () => {
    const p = new HashPool(0);
    const h = p.create('sha256');
    h.update(Buffer.alloc(3 << 20, 9), true);
    assert.equal(h.backlog, 0);
    assert.equal(await h.digest(), reference('sha256', [Buffer.alloc(3 << 20, 9)]));
  });
});
