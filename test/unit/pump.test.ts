import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pump } from '../../src/lib/pump.js';

/** A sink whose writes complete after a delay, recording which chunks it has finished. */
function slowSink(delayMs: number) {
  const done: string[] = [];
  const sink = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _enc, cb) {
      setTimeout(() => { done.push(chunk.toString()); cb(); }, delayMs);
    },
  });
  return { sink, done };
}

describe('pump', () => {
  test('sees every chunk, and hands each to `written` only after the sink finished it, in order', async () => {
    const parts = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const { sink, done } = slowSink(2);
    const seen: string[] = [];
    const written: string[] = [];
    await pump(Readable.from(parts.map((p) => Buffer.from(p))), sink, (c) => seen.push(c.toString()), {
      written: (c) => {
        assert.ok(done.includes(c.toString()), `${c} handed on before the sink finished it`);
        written.push(c.toString());
      },
    });
    assert.deepEqual(seen, parts);
    assert.deepEqual(written, parts);
  });

  test('a full hold pauses the source until it is ready again', async () => {
    const source = new PassThrough();
    const { sink } = slowSink(0);
    let full = true;
    let release: (() => void) | undefined;
    const hold = { full: () => full, whenReady: (cb: () => void) => { release = cb; } };
    let count = 0;
    const p = pump(source, sink, () => { count++; }, { hold });
    source.write('a');
    source.write('b');
    await sleep(30);
    assert.equal(count, 1, 'the source kept flowing while the hold was full');
    assert.ok(release, 'whenReady was not asked');
    full = false;
    release!();
    source.end('c');
    await p;
    assert.equal(count, 3);
  });

  test('an exception from `written` fails the pump instead of escaping as an uncaught error', async () => {
    const { sink } = slowSink(1);
    await assert.rejects(
      pump(Readable.from([Buffer.from('x'), Buffer.from('y')]), sink, () => undefined, { written: () => { throw new Error('hash finished'); } }),
      /hash finished/,
    );
  });

  test('a sink that fails (a full disk) rejects, and leaves the source paused for its owner rather than destroyed', async () => {
    const source = new PassThrough();
    const sink = new Writable({ write(_chunk, _enc, cb) { cb(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })); } });
    const p = pump(source, sink, () => undefined);
    source.write('x');
    await assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    // An HTTP request destroyed here would reset its socket before the client read why.
    assert.equal(source.destroyed, false);
    assert.equal(source.isPaused(), true);
    source.end('rest');
    source.resume();
    await new Promise((resolve) => source.once('end', resolve));
  });

  test('a source that ends early rejects with ECONNRESET', async () => {
    const source = new PassThrough();
    const { sink } = slowSink(0);
    const p = pump(source, sink, () => undefined);
    source.write('partial');
    source.destroy();
    await assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
  });
});
