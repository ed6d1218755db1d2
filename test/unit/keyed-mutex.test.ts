import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedMutex } from '../../src/lib/keyed-mutex.js';

describe('KeyedMutex', () => {
  test('serializes work on the same key, in call order', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    let inside = 0;
    let maxInside = 0;
    const job = (id: number, ms: number) => m.run('k', async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      log.push(`start ${id}`);
      await sleep(ms);
      log.push(`end ${id}`);
      inside--;
      return id;
    });
    const results = await Promise.all([job(1, 30), job(2, 5), job(3, 15), job(4, 0)]);
    assert.deepEqual(results, [1, 2, 3, 4]);
    assert.equal(maxInside, 1);
    assert.deepEqual(log, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3', 'start 4', 'end 4']);
  });

  test('runs different keys in parallel', async () => {
    const m = new KeyedMutex();
    let inside = 0;
    let maxInside = 0;
    await Promise.all(['a', 'b', 'c', 'd'].map((k) => m.run(k, async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await sleep(50);
      inside--;
    })));
    assert.equal(maxInside, 4, 'all four distinct keys were inside at once');
  });

  test('a held key does not block other keys', async () => {
    const m = new KeyedMutex();
    let release!: () => void;
    const held = m.run('a', () => new Promise<void>((r) => (release = r)));
    const other = await m.run('b', async () => 'b done');
    assert.equal(other, 'b done');
    let secondA = false;
    const waiting = m.run('a', async () => { secondA = true; });
    await sleep(10);
    assert.equal(secondA, false, 'same key waits');
    release();
    await held;
    await waiting;
    assert.equal(secondA, true);
  });

  test('releases the key when the work throws, and propagates the error', async () => {
    const m = new KeyedMutex();
    const boom = m.run('k', async () => { await sleep(5); throw new Error('boom'); });
    const next = m.run('k', async () => 'after');
    await assert.rejects(boom, /boom/);
    assert.equal(await next, 'after');
    // a synchronous throw inside the async function too
    await assert.rejects(m.run('k', () => { throw new Error('sync'); }), /sync/);
    assert.equal(await m.run('k', async () => 42), 42);
  });

  test('a rejection in the middle of a queue does not break the queue', async () => {
    const m = new KeyedMutex();
    const order: number[] = [];
    const p1 = m.run('q', async () => { await sleep(5); order.push(1); });
    const p2 = m.run('q', async () => { order.push(2); throw new Error('two'); });
    const p3 = m.run('q', async () => { await sleep(1); order.push(3); });
    await p1;
    await assert.rejects(p2, /two/);
    await p3;
    assert.deepEqual(order, [1, 2, 3]);
  });

  test('keys are not kept after their work is done', async () => {
    const m = new KeyedMutex();
    await Promise.all(Array.from({ length: 100 }, (_, i) => m.run(`key-${i % 10}`, async () => { await sleep(1); })));
    await m.run('x', async () => { throw new Error('x'); }).catch(() => {});
    const tails = (m as unknown as { tails: Map<string, unknown> }).tails;
    assert.ok(tails instanceof Map, 'internal map still named tails (update this test if renamed)');
    assert.equal(tails.size, 0);
  });
});
