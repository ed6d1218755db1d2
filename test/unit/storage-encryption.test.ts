// Encryption at rest: the encrypting driver passes the driver contract over both drivers, stores no
// plaintext, reads ranges across segment boundaries, and refuses altered, truncated, reordered or
// swapped content; re-wrapping and conversion keep every file readable.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem/filesystem-driver.js';
import { MemoryDriver } from '../../src/storage/drivers/memory/memory-driver.js';
import { UnreadableDataError, type StorageDriver } from '../../src/storage/driver.js';
import { EncryptingDriver } from '../../src/storage/encryption/encrypting-driver.js';
import { FileKeyProvider } from '../../src/storage/encryption/file-key-provider.js';
import { Keyring } from '../../src/storage/encryption/keyring.js';
import { HEADER_SIZE, plainSize, RECORD_SIZE, SEGMENT_SIZE, storedSize } from '../../src/storage/encryption/format.js';
import { KeyMismatchError, KeyUnavailableError } from '../../src/storage/encryption/key-provider.js';
import { runDriverSuite, put, readAll, pattern } from './storage-driver.suite.js';

interface Setup { dir: string; fs: FilesystemDriver; provider: FileKeyProvider; keyring: Keyring; driver: EncryptingDriver; current: { id: string }; cleanup(): Promise<void> }

async function setup(opts: { encryptWrites?: boolean } = {}): Promise<Setup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-enc-'));
  const { provider, keyId } = FileKeyProvider.create(path.join(dir, 'keys', 'storage.keys'));
  const current = { id: keyId };
  const keyring = new Keyring(provider, async () => current.id);
  const fs = new FilesystemDriver(path.join(dir, 'store'));
  const driver = new EncryptingDriver(fs, keyring, { encryptWrites: opts.encryptWrites ?? true });
  return { dir, fs, provider, keyring, driver, current, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

runDriverSuite('encryption over filesystem', async () => {
  const s = await setup();
  return { driver: s.driver, cleanup: s.cleanup };
});

runDriverSuite('encryption over memory', async () => {
  const { provider, keyId } = FileKeyProvider.create(path.join(await mkdtemp(path.join(os.tmpdir(), 'berth-enc-')), 'k'));
  return { driver: new EncryptingDriver(new MemoryDriver(), new Keyring(provider, async () => keyId), { encryptWrites: true }), cleanup: async () => {} };
});

/** Every regular file below dir, recursively. */
async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('stored format', () => {
  test('sizes: the stored size of every plaintext size maps back to it, and nothing else does', () => {
    for (const n of [0, 1, 100, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 3 * SEGMENT_SIZE + 7, 10_000_000]) {
      assert.equal(plainSize(storedSize(n)), n, `plain ${n}`);
    }
    assert.equal(plainSize(HEADER_SIZE + 27), -1);
    assert.equal(plainSize(HEADER_SIZE + RECORD_SIZE + 5), -1); // a record too short to hold a tag
    assert.equal(plainSize(10), -1);
  });

  test('no plaintext on disk: a marker written through the driver is nowhere in the store', async () => {
    const s = await setup();
    try {
      const marker = Buffer.from(`BERTH-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`);
      const data = Buffer.concat([randomBytes(100_000), marker, randomBytes(200_000), marker]);
      await put(s.driver, 'blobs/sha256/ab/abcdef', data);
      // a chunked upload that is left in progress
      const w = await s.driver.write('uploads/u1');
      w.write(marker);
      w.end();
      await new Promise((r) => w.once('finish', r));
      await w.commit({ durable: false });
      assert.deepEqual(await readAll(await s.driver.read('blobs/sha256/ab/abcdef')), data);
      const files = await filesBelow(path.join(s.dir, 'store'));
      assert.equal(files.length, 2);
      for (const f of files) {
        const bytes = await readFile(f);
        assert.equal(bytes.indexOf(marker), -1, `${f} holds the marker`);
        assert.equal(bytes.indexOf(marker.subarray(0, 16)), -1, `${f} holds part of the marker`);
        assert.ok(f.endsWith('.enc'));
      }
      assert.equal((await stat(files.find((f) => f.includes('abcdef'))!)).size, storedSize(data.length));
    } finally {
      await s.cleanup();
    }
  });

  test('ranges at and around every segment boundary decrypt to the right bytes', async () => {
    const s = await setup();
    try {
      const data = pattern(3 * SEGMENT_SIZE + 123, 5);
      await put(s.driver, 'f', data);
      const edges = [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE - 1, 2 * SEGMENT_SIZE, 3 * SEGMENT_SIZE, data.length - 1];
      for (const a of edges) {
        for (const b of edges) {
          if (b < a) continue;
          assert.deepEqual(await readAll(await s.driver.read('f', { start: a, end: b })), data.subarray(a, b + 1), `stream ${a}-${b}`);
          assert.deepEqual(await s.driver.readBuffer('f', { start: a, end: b }), data.subarray(a, b + 1), `buffer ${a}-${b}`);
        }
      }
    } finally {
      await s.cleanup();
    }
  });

  test('openRange copies ranges in batches of segments, and fails at a bad segment (before any byte if it is the first)', async () => {
    const s = await setup();
    try {
      const data = randomBytes(40 * SEGMENT_SIZE + 123);
      await put(s.driver, 'blobs/r', data);
      const copy = async (start: number, end: number) => {
        const src = await s.driver.openRange('blobs/r', start, end);
        const chunks: Buffer[] = [];
        const sink = new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } });
        const n = await src.pipeTo(sink);
        await src.close();
        assert.equal(n, end - start + 1);
        return Buffer.concat(chunks);
      };
      for (const [a, b] of [[0, data.length - 1], [1, SEGMENT_SIZE], [16 * SEGMENT_SIZE - 1, 16 * SEGMENT_SIZE], [5, 33 * SEGMENT_SIZE + 7], [40 * SEGMENT_SIZE, 40 * SEGMENT_SIZE + 122]]) {
        assert.ok((await copy(a, b)).equals(data.subarray(a, b + 1)), `range ${a}-${b}`);
      }
      const file = path.join(s.dir, 'store', 'blobs', 'r.enc');
      const stored = await readFile(file);
      stored[HEADER_SIZE + 20 * RECORD_SIZE + 5] ^= 1;
      await writeFile(file, stored);
      await assert.rejects(copy(0, data.length - 1), (e: unknown) => e instanceof UnreadableDataError && /segment 20/.test(e.message));
      stored[HEADER_SIZE + 5] ^= 1;
      await writeFile(file, stored);
      await assert.rejects(s.driver.openRange('blobs/r', 0, 100), UnreadableDataError);
    } finally {
      await s.cleanup();
    }
  });

  test('appending at any offset (chunked uploads) re-seals the last segment and keeps the bytes', async () => {
    const s = await setup();
    try {
      const data = pattern(5 * SEGMENT_SIZE + 999, 2);
      const cuts = [0, 10, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE - 3, 4 * SEGMENT_SIZE, data.length];
      for (let i = 0; i + 1 < cuts.length; i++) await put(s.driver, 'uploads/x', data.subarray(cuts[i], cuts[i + 1]), cuts[i]);
      assert.deepEqual(await readAll(await s.driver.read('uploads/x')), data);
      // writing at an earlier offset drops what follows, as with any driver
      await put(s.driver, 'uploads/x', Buffer.alloc(0), 2 * SEGMENT_SIZE);
      assert.equal((await s.driver.stat('uploads/x'))?.size, 2 * SEGMENT_SIZE);
      assert.deepEqual(await readAll(await s.driver.read('uploads/x')), data.subarray(0, 2 * SEGMENT_SIZE));
    } finally {
      await s.cleanup();
    }
  });

  test('an aborted write keeps what it took, sealed, so an upload resumes from there', async () => {
    const s = await setup();
    try {
      const w = await s.driver.write('uploads/cut');
      await new Promise<void>((r) => w.write(pattern(SEGMENT_SIZE + 500), () => r()));
      await w.abort();
      assert.equal((await s.driver.stat('uploads/cut'))?.size, SEGMENT_SIZE + 500);
      await put(s.driver, 'uploads/cut', pattern(10, 9), SEGMENT_SIZE + 500);
      assert.deepEqual(await readAll(await s.driver.read('uploads/cut')), Buffer.concat([pattern(SEGMENT_SIZE + 500), pattern(10, 9)]));
    } finally {
      await s.cleanup();
    }
  });
});

describe('what a crash leaves', () => {
  // The states a kill -9 can leave on disk, made directly: a new driver (a restarted process) must see
  // every acknowledged byte, and the upload must continue from there.
  const acked = pattern(2 * SEGMENT_SIZE + 777, 4);

  for (const [label, sent] of [['before the re-sealed segment is written', 0], ['with part of the next chunk written', SEGMENT_SIZE + 300], ['after every segment but the last', 3 * SEGMENT_SIZE]] as const) {
    test(`an append killed ${label} is undone to what was acknowledged`, async () => {
      const s = await setup();
      try {
        await put(s.driver, 'uploads/a', acked);
        const w = await s.driver.write('uploads/a', { offset: acked.length });
        if (sent) await new Promise<void>((r) => w.write(pattern(sent, 5), () => r()));
        // The inner file gets what the writer has sealed so far, and no last segment: as if the process died.
        await new Promise((r) => setTimeout(r, 50));
        (w as unknown as { inner: { destroy(): void } }).inner.destroy();
        w.destroy();
        await new Promise((r) => setTimeout(r, 50));
        const restarted = new EncryptingDriver(s.fs, new Keyring(s.provider, async () => s.current.id), { encryptWrites: true });
        assert.equal((await restarted.stat('uploads/a'))?.size, acked.length);
        assert.deepEqual(await readAll(await restarted.read('uploads/a')), acked);
        assert.equal(await s.fs.stat('uploads/a.enc.carry'), null, 'the carry is gone once settled');
        await put(restarted, 'uploads/a', pattern(1000, 6), acked.length);
        assert.deepEqual(await readAll(await restarted.read('uploads/a')), Buffer.concat([acked, pattern(1000, 6)]));
        const listed: string[] = [];
        for await (const e of restarted.list('uploads')) listed.push(e.path);
        assert.deepEqual(listed, ['uploads/a']);
      } finally {
        await s.cleanup();
      }
    });
  }

  test('a finished append whose carry was not yet removed keeps the new bytes', async () => {
    const s = await setup();
    try {
      await put(s.driver, 'uploads/b', acked);
      const carry = await s.fs.readBuffer('uploads/b.enc', { start: HEADER_SIZE + 2 * RECORD_SIZE });
      await put(s.driver, 'uploads/b', pattern(5000, 7), acked.length);
      // the carry the append wrote (index 2, the old last record), left behind by a crash before its removal
      const index = Buffer.alloc(8);
      index.writeBigUInt64BE(2n);
      await put(s.fs, 'uploads/b.enc.carry', Buffer.concat([index, carry]));
      assert.equal((await s.driver.stat('uploads/b'))?.size, acked.length + 5000);
      assert.equal(await s.fs.stat('uploads/b.enc.carry'), null);
    } finally {
      await s.cleanup();
    }
  });

  test('a plain upload killed while its next chunk encrypts it: the plain form stays the file', async () => {
    const s = await setup();
    try {
      await put(s.fs, 'uploads/p', acked); // from before encryption was on
      const w = await s.driver.write('uploads/p', { offset: acked.length });
      (w as unknown as { inner: { destroy(): void } }).inner.destroy();
      w.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(await s.fs.stat('uploads/p.enc'), 'the torn encrypted form is there');
      assert.equal((await s.driver.stat('uploads/p'))?.size, acked.length);
      assert.equal(await s.fs.stat('uploads/p.enc'), null, 'and removed');
      await put(s.driver, 'uploads/p', pattern(10, 8), acked.length);
      assert.deepEqual(await readAll(await s.driver.read('uploads/p')), Buffer.concat([acked, pattern(10, 8)]));
      assert.equal(await s.fs.stat('uploads/p'), null);
    } finally {
      await s.cleanup();
    }
  });
});

describe('what is refused', () => {
  const name = 'blobs/sha256/cd/cdef';
  const stored = (s: Setup) => path.join(s.dir, 'store', `${name}.enc`);
  async function withFile(fn: (s: Setup, data: Buffer) => Promise<void>, size = 3 * SEGMENT_SIZE + 10): Promise<void> {
    const s = await setup();
    try {
      const data = randomBytes(size);
      await put(s.driver, name, data);
      await fn(s, data);
    } finally {
      await s.cleanup();
    }
  }
  /** Both read paths fail with UnreadableDataError for the whole file. */
  async function assertUnreadable(d: StorageDriver, p: string, re: RegExp): Promise<void> {
    await assert.rejects(async () => readAll(await d.read(p)), (e: unknown) => e instanceof UnreadableDataError && re.test(e.message));
    await assert.rejects(d.readBuffer(p), (e: unknown) => e instanceof UnreadableDataError && re.test(e.message));
  }

  test('one altered byte in a segment', async () => withFile(async (s, data) => {
    const f = await readFile(stored(s));
    f[HEADER_SIZE + RECORD_SIZE + 100] ^= 1;
    await writeFile(stored(s), f);
    await assertUnreadable(s.driver, name, /segment 1 fails authentication/);
    // what the altered segment does not touch is still served
    assert.deepEqual(await s.driver.readBuffer(name, { start: 0, end: 99 }), data.subarray(0, 100));
  }));

  test('two segments swapped', async () => withFile(async (s) => {
    const f = await readFile(stored(s));
    const a = Buffer.from(f.subarray(HEADER_SIZE, HEADER_SIZE + RECORD_SIZE));
    f.copy(f, HEADER_SIZE, HEADER_SIZE + RECORD_SIZE, HEADER_SIZE + 2 * RECORD_SIZE);
    a.copy(f, HEADER_SIZE + RECORD_SIZE);
    await writeFile(stored(s), f);
    await assertUnreadable(s.driver, name, /segment 0 fails authentication/);
  }));

  test('truncated at a segment boundary, and mid-segment', async () => withFile(async (s) => {
    const f = await readFile(stored(s));
    await writeFile(stored(s), f.subarray(0, HEADER_SIZE + 2 * RECORD_SIZE));
    await assertUnreadable(s.driver, name, /segment 1 fails authentication as the last segment/);
    await writeFile(stored(s), f.subarray(0, HEADER_SIZE + 2 * RECORD_SIZE + 500));
    await assertUnreadable(s.driver, name, /segment 2 fails authentication as the last segment/);
  }));

  test('a segment taken from another file at the same position', async () => withFile(async (s) => {
    await put(s.driver, 'other', randomBytes(3 * SEGMENT_SIZE + 10));
    const f = await readFile(stored(s));
    const g = await readFile(path.join(s.dir, 'store', 'other.enc'));
    g.copy(f, HEADER_SIZE + RECORD_SIZE, HEADER_SIZE + RECORD_SIZE, HEADER_SIZE + 2 * RECORD_SIZE);
    await writeFile(stored(s), f);
    await assertUnreadable(s.driver, name, /segment 1 fails authentication/);
  }));

  test('an altered header: the wrapped key, or the file id', async () => withFile(async (s) => {
    const f = await readFile(stored(s));
    const g = Buffer.from(f);
    g[32 + 80] ^= 0x40; // inside slot 0's wrapped key: its CRC fails, so no slot is left
    await writeFile(stored(s), g);
    await assertUnreadable(s.driver, name, /no valid key slot/);
    const h = Buffer.from(f);
    h[20] ^= 1; // the file id: the data key no longer unwraps (it is bound to it)
    await writeFile(stored(s), h);
    await assertUnreadable(s.driver, name, /does not open this data key/);
  }));

  test('a key missing from the provider, and a wrong key under the right id', async () => withFile(async (s) => {
    const keyFile = path.join(s.dir, 'keys', 'storage.keys');
    const body = JSON.parse(await readFile(keyFile, 'utf8'));
    body.keys[0].key = randomBytes(32).toString('base64');
    await writeFile(keyFile, JSON.stringify(body), { mode: 0o600 });
    const wrong = new EncryptingDriver(s.fs, new Keyring(FileKeyProvider.open(keyFile), async () => s.current.id), { encryptWrites: true });
    await assertUnreadable(wrong, name, /does not open this data key/);
    body.keys = [];
    await writeFile(keyFile, JSON.stringify(body), { mode: 0o600 });
    const fresh = new Keyring(FileKeyProvider.open(keyFile), async () => s.current.id);
    await assertUnreadable(new EncryptingDriver(s.fs, fresh, { encryptWrites: true }), name, /is unavailable/);
    await assert.rejects(FileKeyProvider.open(keyFile).unwrap('kek-none', randomBytes(60), Buffer.alloc(0)), KeyUnavailableError);
  }));

  test('a key file others may read is refused', async () => withFile(async (s) => {
    const keyFile = path.join(s.dir, 'keys', 'storage.keys');
    await writeFile(keyFile, await readFile(keyFile), { mode: 0o644 });
    const { chmod } = await import('node:fs/promises');
    await chmod(keyFile, 0o644);
    assert.throws(() => FileKeyProvider.open(keyFile), /may be read by other users .*chmod 600/);
  }));
});

describe('rotation and conversion', () => {
  test('re-wrapping moves every file to the new key without touching its data; the old key can then go', async () => {
    const s = await setup();
    try {
      const data = randomBytes(2 * SEGMENT_SIZE + 3);
      await put(s.driver, 'a', data);
      const before = await readFile(path.join(s.dir, 'store', 'a.enc'));
      const old = s.current.id;
      s.current.id = await s.provider.create();
      assert.deepEqual(await s.driver.inspect('a'), { encrypted: true, keyId: old });
      assert.equal(await s.driver.rewrap('a'), 'rewrapped');
      assert.equal(await s.driver.rewrap('a'), 'current');
      assert.deepEqual(await s.driver.inspect('a'), { encrypted: true, keyId: s.current.id });
      const after = await readFile(path.join(s.dir, 'store', 'a.enc'));
      assert.deepEqual(after.subarray(HEADER_SIZE), before.subarray(HEADER_SIZE), 'segments unchanged');
      await s.provider.destroy(old);
      s.keyring.forget();
      assert.deepEqual(await readAll(await s.driver.read('a')), data);
      // a second rotation writes the other slot
      const second = await s.provider.create();
      s.current.id = second;
      assert.equal(await s.driver.rewrap('a'), 'rewrapped');
      assert.deepEqual(await s.driver.inspect('a'), { encrypted: true, keyId: second });
    } finally {
      await s.cleanup();
    }
  });

  test('a torn slot write leaves the file readable through the other slot', async () => {
    const s = await setup();
    try {
      const data = randomBytes(1000);
      await put(s.driver, 'a', data);
      const old = s.current.id;
      s.current.id = await s.provider.create();
      await s.driver.rewrap('a');
      const f = await readFile(path.join(s.dir, 'store', 'a.enc'));
      f.fill(0xee, 272 + 10, 272 + 100); // half of the new slot 1 written over garbage
      await writeFile(path.join(s.dir, 'store', 'a.enc'), f);
      assert.deepEqual(await s.driver.readBuffer('a'), data);
      assert.deepEqual(await s.driver.inspect('a'), { encrypted: true, keyId: old });
      assert.equal(await s.driver.rewrap('a'), 'rewrapped');
      assert.deepEqual(await s.driver.inspect('a'), { encrypted: true, keyId: s.current.id });
    } finally {
      await s.cleanup();
    }
  });

  test('plain files stay readable beside encrypted ones and convert both ways, checked against their digest', async () => {
    const s = await setup();
    try {
      const data = randomBytes(3 * SEGMENT_SIZE);
      await put(s.fs, 'blobs/p', data); // written before encryption was on
      assert.deepEqual(await s.driver.readBuffer('blobs/p'), data);
      assert.deepEqual(await s.driver.inspect('blobs/p'), { encrypted: false });
      await assert.rejects(s.driver.convert('blobs/p', 'encrypted', '0'.repeat(64)), /does not match its digest/);
      assert.equal(await s.fs.stat('blobs/p.enc'), null);
      assert.equal(await s.driver.convert('blobs/p', 'encrypted', sha256(data)), true);
      assert.equal(await s.fs.stat('blobs/p'), null);
      assert.deepEqual(await readAll(await s.driver.read('blobs/p')), data);
      assert.equal(await s.driver.convert('blobs/p', 'encrypted'), false);
      assert.deepEqual((await (async () => { const o = []; for await (const e of s.driver.list('blobs')) o.push(e); return o; })()).map((e) => [e.path, e.size]), [['blobs/p', data.length]]);
      const off = new EncryptingDriver(s.fs, s.keyring, { encryptWrites: false });
      assert.equal(await off.convert('blobs/p', 'plain', sha256(data)), true);
      assert.deepEqual(await readFile(path.join(s.dir, 'store', 'blobs', 'p')), data);
      assert.equal(await s.fs.stat('blobs/p.enc'), null);
      assert.equal(await s.driver.cleanConversions(0), 0);
    } finally {
      await s.cleanup();
    }
  });

  test('the file key provider: wrap and unwrap, bound to their AAD', async () => {
    const s = await setup();
    try {
      const dk = randomBytes(32);
      const w = await s.provider.wrap(s.current.id, dk, Buffer.from('a'));
      assert.deepEqual(await s.provider.unwrap(s.current.id, w, Buffer.from('a')), dk);
      await assert.rejects(s.provider.unwrap(s.current.id, w, Buffer.from('b')), KeyMismatchError);
      assert.throws(() => FileKeyProvider.create(path.join(s.dir, 'keys', 'storage.keys')), /EEXIST/);
      assert.equal(((await stat(path.join(s.dir, 'keys', 'storage.keys'))).mode & 0o777), 0o600);
    } finally {
      await s.cleanup();
    }
  });
});

describe('file key provider beside another process', () => {
  test('a key destroyed through another provider of the same file (berth keys retire) is no longer usable here', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-enc-retire-'));
    const { provider: here, keyId: old } = FileKeyProvider.create(path.join(dir, 'storage.keys'));
    const other = FileKeyProvider.open(path.join(dir, 'storage.keys'));
    try {
      const fresh = await other.create();
      const aad = Buffer.from('file-id');
      const wrapped = await here.wrap(old, randomBytes(32), aad);
      // The other process adds a key and destroys the old one: this one sees both without a restart.
      await other.destroy(old);
      await assert.rejects(here.unwrap(old, wrapped, aad), KeyUnavailableError);
      assert.deepEqual(await here.list(), [fresh]);
      assert.equal((await here.unwrap(fresh, await here.wrap(fresh, Buffer.alloc(32, 7), aad), aad)).equals(Buffer.alloc(32, 7)), true);
    } finally {
      await here.close();
      await other.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
