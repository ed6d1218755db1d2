// The one contract suite every StorageDriver (filesystem, memory, and any future one such as S3) must
// pass. Drivers are checked against src/storage/driver.ts only: no driver internals are used here.
// Usage: runDriverSuite('memory', async () => ({ driver: new MemoryDriver(), cleanup: async () => {} }));
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { NotFoundError, type StorageDriver, type StorageEntry } from '../../src/storage/driver.js';

export type DriverFactory = () => Promise<{ driver: StorageDriver; cleanup(): Promise<void> }>;

// ---------------------------------------------------------------------------------------------------
// helpers (exported so driver-specific test files can reuse them)

/** Writes `data` (a buffer, or chunks) at path through the writer protocol, then commits. */
export async function put(driver: StorageDriver, path: string, data: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>, offset?: number): Promise<void> {
  const w = await driver.write(path, offset === undefined ? {} : { offset });
  const source = Buffer.isBuffer(data) ? Readable.from([data]) : Readable.from(data);
  await pipeline(source, w);
  await w.commit();
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(parts);
}

export async function listAll(driver: StorageDriver, prefix: string): Promise<StorageEntry[]> {
  const out: StorageEntry[] = [];
  for await (const e of driver.list(prefix)) out.push(e);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Bytes 0..n-1 with a pattern that makes misplaced or shifted bytes visible. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const isNotFound = (e: unknown) => e instanceof NotFoundError;

/** Unsafe paths must be refused with an error, and not as if they were merely absent. */
const isUnsafeRefusal = (e: unknown) => e instanceof Error && !(e instanceof NotFoundError);

export const UNSAFE_PATHS = ['../x', '/abs', 'a/../b', 'a//b', '', 'a/./b', '..', '.', 'a/', 'a\\..\\b', 'a/b/..'];

// ---------------------------------------------------------------------------------------------------

export function runDriverSuite(name: string, make: DriverFactory): void {
  /** Each test gets a fresh, empty driver. */
  const it = (title: string, fn: (driver: StorageDriver) => Promise<void>, opts: { timeout?: number } = {}) =>
    test(title, { timeout: opts.timeout ?? 60_000 }, async () => {
      const { driver, cleanup } = await make();
      try {
        await fn(driver);
      } finally {
        await cleanup();
      }
    });

  describe(`storage driver contract: ${name}`, () => {
    describe('stat / write / read', () => {
      it('stat of a missing path is null', async (d) => {
        assert.equal(await d.stat('nothing/here'), null);
        assert.equal(await d.stat('top-level-missing'), null);
      });

      it('write + commit, then stat reports the size and read returns the bytes', async (d) => {
        const data = pattern(3000);
        await put(d, 'blobs/ab/data', data);
        const st = await d.stat('blobs/ab/data');
        assert.ok(st, 'stat must find the committed file');
        assert.equal(st.size, 3000);
        assert.ok(st.modifiedAt instanceof Date && !Number.isNaN(st.modifiedAt.getTime()), 'modifiedAt is a valid Date');
        assert.ok(Math.abs(st.modifiedAt.getTime() - Date.now()) < 10 * 60_000, 'modifiedAt is about now');
        assert.deepEqual(await readAll(await d.read('blobs/ab/data')), data);
        assert.deepEqual(await d.readBuffer('blobs/ab/data'), data);
      });

      it('a writer that says it releases chunks keeps its bytes when their memory moves away after each write', async (d) => {
        const w = await d.write('released');
        if (!w.releasesChunks) {
          await w.abort();
          return; // the driver makes no such promise: callers copy
        }
        const chunks = Array.from({ length: 20 }, (_, i) => pattern(65_536, i));
        for (const c of chunks) {
          const mine = Buffer.from(c); // owns its memory, like a socket chunk
          await new Promise<void>((resolve, reject) => w.write(mine, (err) => (err ? reject(err) : resolve())));
          structuredClone(mine.buffer, { transfer: [mine.buffer] }); // moved elsewhere, as to a hashing thread
          assert.equal(mine.length, 0, 'the chunk was detached');
        }
        await new Promise<void>((resolve, reject) => { w.once('error', reject); w.end(resolve); });
        await w.commit();
        assert.deepEqual(await d.readBuffer('released'), Buffer.concat(chunks));
      });

      it('write of many chunks is stored in order', async (d) => {
        const chunks = Array.from({ length: 50 }, (_, i) => pattern(997, i));
        await put(d, 'multi', chunks);
        assert.deepEqual(await d.readBuffer('multi'), Buffer.concat(chunks));
      });

      it('an empty file exists with size 0 and reads empty', async (d) => {
        await put(d, 'empty', Buffer.alloc(0));
        const st = await d.stat('empty');
        assert.ok(st);
        assert.equal(st.size, 0);
        assert.equal((await readAll(await d.read('empty'))).length, 0);
        assert.equal((await d.readBuffer('empty')).length, 0);
      });

      it('write at offset 0 over an existing file replaces it entirely', async (d) => {
        await put(d, 'f', pattern(100));
        await put(d, 'f', Buffer.from('short'));
        assert.equal((await d.stat('f'))?.size, 5);
        assert.equal((await d.readBuffer('f')).toString(), 'short');
      });

      it('write at an offset truncates what was past it and keeps the prefix', async (d) => {
        const original = pattern(100);
        await put(d, 'up/load', original);
        const patch = Buffer.alloc(10, 0xaa);
        await put(d, 'up/load', patch, 40);
        assert.equal((await d.stat('up/load'))?.size, 50);
        const got = await d.readBuffer('up/load');
        assert.equal(got.length, 50);
        assert.deepEqual(got.subarray(0, 40), original.subarray(0, 40), 'prefix intact');
        assert.deepEqual(got.subarray(40), patch, 'new bytes at the offset');
      });

      it('write at offset == size appends', async (d) => {
        const first = pattern(100, 1);
        const second = pattern(20, 2);
        await put(d, 'append', first);
        await put(d, 'append', second, 100);
        assert.deepEqual(await d.readBuffer('append'), Buffer.concat([first, second]));
      });

      it('write at an offset with nothing written truncates to the offset', async (d) => {
        await put(d, 'trunc', pattern(100));
        await put(d, 'trunc', Buffer.alloc(0), 60);
        assert.equal((await d.stat('trunc'))?.size, 60);
        assert.deepEqual(await d.readBuffer('trunc'), pattern(100).subarray(0, 60));
      });
    });

    describe('ranged reads', () => {
      const data = pattern(1000, 3);

      it('read with start and inclusive end', async (d) => {
        await put(d, 'r', data);
        assert.deepEqual(await readAll(await d.read('r', { start: 10, end: 19 })), data.subarray(10, 20));
        assert.deepEqual(await readAll(await d.read('r', { start: 0, end: 0 })), data.subarray(0, 1));
        assert.deepEqual(await readAll(await d.read('r', { start: 999, end: 999 })), data.subarray(999, 1000));
        assert.deepEqual(await readAll(await d.read('r', { start: 0, end: 999 })), data);
      });

      it('read with only start reads to the end; only end reads from 0', async (d) => {
        await put(d, 'r', data);
        assert.deepEqual(await readAll(await d.read('r', { start: 900 })), data.subarray(900));
        assert.deepEqual(await readAll(await d.read('r', { end: 99 })), data.subarray(0, 100));
      });

      it('read with end past the end of the file stops at the end', async (d) => {
        await put(d, 'r', data);
        assert.deepEqual(await readAll(await d.read('r', { start: 990, end: 5000 })), data.subarray(990));
      });

      it('readBuffer whole and ranged', async (d) => {
        await put(d, 'r', data);
        assert.deepEqual(await d.readBuffer('r'), data);
        assert.deepEqual(await d.readBuffer('r', { start: 10, end: 19 }), data.subarray(10, 20));
        assert.deepEqual(await d.readBuffer('r', { start: 500 }), data.subarray(500));
        assert.deepEqual(await d.readBuffer('r', { end: 4 }), data.subarray(0, 5));
        assert.deepEqual(await d.readBuffer('r', { start: 7, end: 7 }), data.subarray(7, 8));
        assert.deepEqual(await d.readBuffer('r', { start: 990, end: 5000 }), data.subarray(990));
      });

      it('readBuffer returns a copy: mutating it does not change what is stored', async (d) => {
        await put(d, 'r', data);
        const b = await d.readBuffer('r');
        b.fill(0);
        assert.deepEqual(await d.readBuffer('r'), data);
      });
    });

    describe('missing paths', () => {
      it('read of a missing path rejects with NotFoundError', async (d) => {
        await assert.rejects(d.read('missing/file'), isNotFound);
        await assert.rejects(d.read('missing/file', { start: 0, end: 10 }), isNotFound);
      });

      it('readBuffer of a missing path rejects with NotFoundError', async (d) => {
        await assert.rejects(d.readBuffer('missing/file'), isNotFound);
        await assert.rejects(d.readBuffer('missing', { start: 1, end: 2 }), isNotFound);
      });

      it('NotFoundError carries the requested path', async (d) => {
        await assert.rejects(d.readBuffer('some/where'), (e: unknown) => e instanceof NotFoundError && e.path === 'some/where');
      });
    });

    describe('move', () => {
      it('move puts the bytes at the target and removes the source', async (d) => {
        const data = pattern(5000, 4);
        await put(d, 'uploads/u1/data', data);
        await d.move('uploads/u1/data', 'blobs/sha256/ab/abcd/data');
        assert.equal(await d.stat('uploads/u1/data'), null, 'source gone');
        await assert.rejects(d.readBuffer('uploads/u1/data'), isNotFound);
        assert.equal((await d.stat('blobs/sha256/ab/abcd/data'))?.size, 5000);
        assert.deepEqual(await d.readBuffer('blobs/sha256/ab/abcd/data'), data);
      });

      it('a move that need not be durable (durable: false) moves all the same', async (d) => {
        const data = pattern(3000, 9);
        await put(d, 'blobs/sha256/cd/cdef/data', data);
        await d.move('blobs/sha256/cd/cdef/data', 'trash/sha256-cdef-1', { durable: false });
        assert.equal(await d.stat('blobs/sha256/cd/cdef/data'), null);
        assert.deepEqual(await d.readBuffer('trash/sha256-cdef-1'), data);
      });

      it('move replaces an existing target', async (d) => {
        await put(d, 'target', pattern(300, 5));
        const fresh = pattern(42, 6);
        await put(d, 'tmp/src', fresh);
        await d.move('tmp/src', 'target');
        assert.deepEqual(await d.readBuffer('target'), fresh);
        assert.equal((await d.stat('target'))?.size, 42);
        assert.equal(await d.stat('tmp/src'), null);
      });

      it('readers never see a missing or partial target while it is replaced', async (d) => {
        const a = pattern(20_000, 7);
        const b = pattern(30_000, 8);
        await put(d, 'live', a);
        let stop = false;
        const seen = new Set<string>();
        const reader = (async () => {
          while (!stop) {
            const buf = await d.readBuffer('live'); // must never reject: the target always exists
            seen.add(sha256(buf));
            await tick();
          }
        })();
        for (let i = 0; i < 10; i++) {
          await put(d, `tmp/${i}`, i % 2 ? a : b);
          await d.move(`tmp/${i}`, 'live');
          await tick();
        }
        stop = true;
        await reader;
        for (const h of seen) assert.ok(h === sha256(a) || h === sha256(b), 'only whole old or whole new content');
      });

      it('move of a missing source rejects with NotFoundError and leaves the target alone', async (d) => {
        await assert.rejects(d.move('no/such', 'dest'), isNotFound);
        assert.equal(await d.stat('dest'), null);
        await put(d, 'dest', Buffer.from('keep'));
        await assert.rejects(d.move('no/such', 'dest'), isNotFound);
        assert.equal((await d.readBuffer('dest')).toString(), 'keep');
      });
    });

    describe('delete', () => {
      it('delete of a file removes it', async (d) => {
        await put(d, 'a/file', Buffer.from('x'));
        await put(d, 'a/other', Buffer.from('y'));
        await d.delete('a/file');
        assert.equal(await d.stat('a/file'), null);
        await assert.rejects(d.readBuffer('a/file'), isNotFound);
        assert.equal((await d.readBuffer('a/other')).toString(), 'y', 'siblings untouched');
      });

      it('delete of a folder prefix removes everything below it, and nothing else', async (d) => {
        await put(d, 'repo/a/1', Buffer.from('1'));
        await put(d, 'repo/a/deep/er/2', Buffer.from('22'));
        await put(d, 'repo/ab/3', Buffer.from('333')); // shares the string prefix "repo/a", not the folder
        await put(d, 'repo/a.txt', Buffer.from('4'));
        await d.delete('repo/a');
        assert.equal(await d.stat('repo/a/1'), null);
        assert.equal(await d.stat('repo/a/deep/er/2'), null);
        assert.deepEqual(await listAll(d, 'repo/a'), []);
        assert.equal((await d.readBuffer('repo/ab/3')).toString(), '333');
        assert.equal((await d.readBuffer('repo/a.txt')).toString(), '4');
      });

      it('delete of a missing path is not an error', async (d) => {
        await d.delete('never/was');
        await d.delete('never');
        await put(d, 'x/y', Buffer.from('z'));
        await d.delete('x/y');
        await d.delete('x/y'); // twice
        assert.equal(await d.stat('x/y'), null);
      });
    });

    describe('list', () => {
      it('list yields every file below the prefix, recursively, with sizes, and nothing outside', async (d) => {
        await put(d, 'p/1', pattern(1));
        await put(d, 'p/q/2', pattern(2));
        await put(d, 'p/q/r/s/3', pattern(3));
        await put(d, 'p/t/4', pattern(4));
        await put(d, 'pq/5', pattern(5)); // string prefix, other folder
        await put(d, 'p.txt', pattern(6));
        await put(d, 'other/7', pattern(7));
        const all = await listAll(d, 'p');
        assert.deepEqual(all.map((e) => [e.path, e.size]), [['p/1', 1], ['p/q/2', 2], ['p/q/r/s/3', 3], ['p/t/4', 4]]);
        for (const e of all) {
          assert.ok(e.modifiedAt instanceof Date, 'modifiedAt is a Date');
          assert.equal((await d.stat(e.path))?.size, e.size, 'listed paths are usable driver paths');
        }
        assert.deepEqual((await listAll(d, 'p/q')).map((e) => e.path), ['p/q/2', 'p/q/r/s/3']);
        assert.deepEqual((await listAll(d, 'other')).map((e) => [e.path, e.size]), [['other/7', 7]]);
      });

      it('list of a missing prefix yields nothing', async (d) => {
        assert.deepEqual(await listAll(d, 'nothing'), []);
        await put(d, 'some/file', Buffer.from('x'));
        assert.deepEqual(await listAll(d, 'some/file/below'), []);
        assert.deepEqual(await listAll(d, 'som'), []);
      });

      it('list reflects deletes and moves', async (d) => {
        await put(d, 'l/a', pattern(10));
        await put(d, 'l/b', pattern(11));
        await d.delete('l/a');
        await d.move('l/b', 'l/c/d');
        assert.deepEqual((await listAll(d, 'l')).map((e) => [e.path, e.size]), [['l/c/d', 11]]);
      });
    });

    describe('unsafe paths', () => {
      for (const p of UNSAFE_PATHS) {
        it(`every method refuses ${JSON.stringify(p)}`, async (d) => {
          await put(d, 'a/b', Buffer.from('keep'));
          await put(d, 'x', Buffer.from('keep'));
          await assert.rejects(d.stat(p), isUnsafeRefusal, 'stat');
          await assert.rejects(d.read(p), isUnsafeRefusal, 'read');
          await assert.rejects(d.readBuffer(p), isUnsafeRefusal, 'readBuffer');
          await assert.rejects(d.write(p), isUnsafeRefusal, 'write');
          await assert.rejects(d.write(p, { offset: 1 }), isUnsafeRefusal, 'write at offset');
          await assert.rejects(d.move(p, 'moved'), isUnsafeRefusal, 'move from');
          await assert.rejects(d.move('x', p), isUnsafeRefusal, 'move to');
          await assert.rejects(d.delete(p), isUnsafeRefusal, 'delete');
          await assert.rejects(listAll(d, p), isUnsafeRefusal, 'list');
          // nothing was disturbed by the refused calls
          assert.equal((await d.readBuffer('a/b')).toString(), 'keep');
          assert.equal((await d.readBuffer('x')).toString(), 'keep');
          assert.equal(await d.stat('moved'), null);
        });
      }

      it('ordinary names with dots, dashes and underscores are accepted', async (d) => {
        const p = 'blobs/sha256/ab/ab.c-d_e/.hidden/data..x';
        await put(d, p, Buffer.from('ok'));
        assert.equal((await d.readBuffer(p)).toString(), 'ok');
      });
    });

    describe('streaming and concurrency', () => {
      it('a 64 MiB streamed write and read round-trip with matching sha256', async (d) => {
        const CHUNK = 1024 * 1024;
        const N = 64;
        const inHash = createHash('sha256');
        async function* chunks() {
          for (let i = 0; i < N; i++) {
            const c = randomBytes(CHUNK);
            inHash.update(c);
            yield c;
          }
        }
        await put(d, 'big/blob', chunks());
        assert.equal((await d.stat('big/blob'))?.size, N * CHUNK);
        const outHash = createHash('sha256');
        let n = 0;
        for await (const c of await d.read('big/blob')) {
          outHash.update(c as Buffer);
          n += (c as Buffer).length;
        }
        assert.equal(n, N * CHUNK);
        assert.equal(outHash.digest('hex'), inHash.digest('hex'));
        // a range in the middle of the big file is served too
        const mid = await d.readBuffer('big/blob', { start: 33 * CHUNK - 5, end: 33 * CHUNK + 4 });
        assert.equal(mid.length, 10);
      }, { timeout: 300_000 });

      it('concurrent writes to different paths do not interfere', async (d) => {
        const N = 16;
        const contents = Array.from({ length: N }, (_, i) => Array.from({ length: 8 }, (_, j) => pattern(4096 + i * 13, i * 100 + j)));
        await Promise.all(contents.map((chunks, i) => (async () => {
          const w = await d.write(`c/${i}/data`);
          await pipeline(Readable.from((async function* () {
            for (const c of chunks) { yield c; await tick(); }
          })()), w);
          await w.commit();
        })()));
        for (let i = 0; i < N; i++) {
          assert.deepEqual(await d.readBuffer(`c/${i}/data`), Buffer.concat(contents[i]), `file ${i}`);
        }
        assert.equal((await listAll(d, 'c')).length, N);
      });

      it('abort() leaves no writer holding the file: a later write to the same path works', async (d) => {
        const w = await d.write('ab/orted');
        await new Promise<void>((resolve, reject) => w.write(pattern(1000, 9), (e) => (e ? reject(e) : resolve())));
        await w.abort();
        assert.ok(w.destroyed, 'the aborted writer is destroyed');
        const fresh = Buffer.from('fresh content');
        await put(d, 'ab/orted', fresh);
        await tick();
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(await d.readBuffer('ab/orted'), fresh, 'nothing from the aborted writer lands later');
        assert.equal((await d.stat('ab/orted'))?.size, fresh.length);
      });

      it('abort() right after write() (nothing written) releases the path too', async (d) => {
        const w = await d.write('ab/early');
        await w.abort();
        await put(d, 'ab/early', Buffer.from('ok'));
        assert.equal((await d.readBuffer('ab/early')).toString(), 'ok');
      });

      it('abort() of an offset write then a retry at the same offset works', async (d) => {
        const base = pattern(100, 10);
        await put(d, 'ab/off', base);
        const w = await d.write('ab/off', { offset: 100 });
        await new Promise<void>((resolve, reject) => w.write(pattern(50, 11), (e) => (e ? reject(e) : resolve())));
        await w.abort();
        const tail = pattern(30, 12);
        await put(d, 'ab/off', tail, 100);
        assert.deepEqual(await d.readBuffer('ab/off'), Buffer.concat([base, tail]));
      });

      it('a write whose signal aborts fails the pipeline, and the path can be written again', async (d) => {
        const ac = new AbortController();
        const w = await d.write('sig/x', { signal: ac.signal });
        const source = Readable.from((async function* () {
          yield pattern(100);
          await tick();
          ac.abort();
          await tick();
          yield pattern(100);
        })());
        await assert.rejects(pipeline(source, w));
        await w.abort();
        await put(d, 'sig/x', Buffer.from('again'));
        assert.equal((await d.readBuffer('sig/x')).toString(), 'again');
      });
    });

    describe('paths that name no stored file behave as absent', () => {
      it('a folder is not a file: stat null, read/readBuffer NotFoundError', async (d) => {
        await put(d, 'dir/child', Buffer.from('x'));
        assert.equal(await d.stat('dir'), null);
        await assert.rejects(d.readBuffer('dir'), isNotFound);
        await assert.rejects(async () => readAll(await d.read('dir')), isNotFound);
      });

      it('a path below a file: stat null, read/readBuffer NotFoundError, delete no error', async (d) => {
        await put(d, 'file', Buffer.from('x'));
        assert.equal(await d.stat('file/below'), null);
        await assert.rejects(d.readBuffer('file/below'), isNotFound);
        await assert.rejects(async () => readAll(await d.read('file/below')), isNotFound);
        await d.delete('file/below');
        assert.equal((await d.readBuffer('file')).toString(), 'x');
      });
    });
  });
}
