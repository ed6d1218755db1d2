// The S3 driver against a real S3 server: Ceph's RADOS Gateway on a throwaway one-node cluster
// (test/helpers/s3.ts), started once for this file. Each test works under a prefix (or bucket) of its own.
// No database is involved: as a unit test it runs once, in the SQLite pass of scripts/run-tests.mjs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { S3Driver, S3StorageError, type S3DriverOptions } from '../../src/storage/drivers/s3/s3-driver.js';
import { NotFoundError } from '../../src/storage/driver.js';
import { sharedS3Server, stopSharedS3Server, type S3Server } from '../helpers/s3.js';
import { listAll, pattern, put, readAll, runDriverSuite } from './storage-driver.suite.js';

const MiB = 1024 * 1024;
let serial = 0;
const drivers: S3Driver[] = [];

after(async () => {
  for (const d of drivers) d.close();
  await stopSharedS3Server();
});

function driverFor(s: S3Server, opts: Partial<S3DriverOptions> = {}): S3Driver {
  const d = new S3Driver({
    endpoint: s.endpoint, region: s.region, bucket: s.bucket, forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey }, ...opts,
  });
  drivers.push(d);
  return d;
}

/** Every key in the bucket (below keyPrefix), from the server itself. */
async function rawKeys(client: S3Client, bucket: string, keyPrefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix || undefined, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function rawDeleteAll(client: S3Client, bucket: string, keyPrefix: string): Promise<void> {
  const keys = await rawKeys(client, bucket, keyPrefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

async function uploadsUnder(client: S3Client, bucket: string, keyPrefix: string) {
  const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: keyPrefix }));
  return r.Uploads ?? [];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function writeChunk(w: NodeJS.WritableStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => w.write(chunk, (e) => (e ? reject(e) : resolve())));
}

function end(w: NodeJS.WritableStream & { once(ev: string, f: (...a: unknown[]) => void): unknown }): Promise<void> {
  return new Promise((resolve, reject) => { w.once('error', reject); w.end(() => resolve()); });
}

runDriverSuite('s3 (Ceph RADOS Gateway)', async () => {
  const s = await sharedS3Server();
  const prefix = `suite/${++serial}`;
  const client = s.client();
  return {
    driver: driverFor(s, { prefix }),
    cleanup: async () => {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    },
  };
});

describe('s3 driver specifics', () => {
  test('nothing is written outside the prefix, and paths come back without it', async () => {
    const s = await sharedS3Server();
    const bucket = await s.createBucket();
    const client = s.client();
    try {
      // a neighbour whose prefix shares ours as a string, and an object at the bucket's root
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tenant/ab/keep', Body: 'n' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tenant/a', Body: 'root-ish' }));
      const d = driverFor(s, { bucket, prefix: '/tenant/a/', partSize: 5 * MiB }); // slashes trimmed
      await put(d, 'blobs/x', pattern(100));
      await put(d, 'big', randomBytes(11 * MiB)); // multipart
      await put(d, 'big', Buffer.from('tail'), 6 * MiB); // UploadPartCopy of the kept prefix
      await put(d, 'uploads/u/data', pattern(10));
      await d.move('uploads/u/data', 'blobs/y');
      await put(d, 'gone/1', pattern(1));
      await d.delete('gone');
      const keys = await rawKeys(client, bucket);
      assert.deepEqual(keys, ['tenant/a', 'tenant/a/big', 'tenant/a/blobs/x', 'tenant/a/blobs/y', 'tenant/ab/keep']);
      assert.deepEqual((await listAll(d, 'blobs')).map((e) => e.path), ['blobs/x', 'blobs/y']);
      assert.equal((await d.stat('big'))?.size, 6 * MiB + 4);
      assert.deepEqual(await uploadsUnder(client, bucket, ''), [], 'no multipart upload left');

      // with no prefix, keys are the driver's paths
      const root = driverFor(s, { bucket, prefix: '' });
      await put(root, 'rootfile', Buffer.from('r'));
      assert.ok((await rawKeys(client, bucket)).includes('rootfile'));
      assert.deepEqual((await listAll(root, 'tenant')).map((e) => e.path), ['tenant/a', 'tenant/a/big', 'tenant/a/blobs/x', 'tenant/a/blobs/y', 'tenant/ab/keep']);
    } finally {
      await rawDeleteAll(client, bucket, '');
      client.destroy();
    }
  });

  test('an object of more than two parts round-trips with the right sha256, parts uploaded as they fill', async () => {
    const s = await sharedS3Server();
    const client = s.client();
    const prefix = `mp/${++serial}`;
    const d = driverFor(s, { prefix, partSize: 5 * MiB });
    try {
      const w = await d.write('blob');
      const hash = createHash('sha256');
      let size = 0;
      let partsSeen = 0;
      // 1 MiB + 3 chunks, so part boundaries fall inside chunks
      for (let i = 0; i < 17; i++) {
        const c = randomBytes(MiB + 3);
        hash.update(c);
        await writeChunk(w, c);
        size += c.length;
        if (i === 10) {
          // past two full parts: the writer held the producer until part 1 was stored
          const [upload] = await uploadsUnder(client, s.bucket, `${prefix}/blob`);
          assert.ok(upload?.UploadId, 'a multipart upload is under way');
          const parts = await client.send(new ListPartsCommand({ Bucket: s.bucket, Key: `${prefix}/blob`, UploadId: upload.UploadId }));
          partsSeen = parts.Parts?.length ?? 0;
        }
      }
      assert.ok(partsSeen >= 1, `part 1 was uploaded while later bytes still came (saw ${partsSeen})`);
      await end(w);
      assert.equal(await d.stat('blob'), null, 'nothing is visible before commit');
      await w.commit();
      const head = await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: `${prefix}/blob` }));
      assert.match(head.ETag ?? '', /-4"$/, 'stored as 4 parts');
      assert.equal((await d.stat('blob'))?.size, size);
      const out = createHash('sha256');
      let n = 0;
      for await (const c of await d.read('blob')) { out.update(c as Buffer); n += (c as Buffer).length; }
      assert.equal(n, size);
      assert.equal(out.digest('hex'), hash.digest('hex'));
    } finally {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    }
  });

  test('an aborted writer leaves no multipart upload and no object behind', async () => {
    const s = await sharedS3Server();
    const client = s.client();
    const prefix = `ab/${++serial}`;
    const d = driverFor(s, { prefix, partSize: 5 * MiB });
    try {
      // abort() after two parts went up
      const w = await d.write('a');
      for (let i = 0; i < 12; i++) await writeChunk(w, randomBytes(MiB));
      assert.equal((await uploadsUnder(client, s.bucket, `${prefix}/`)).length, 1);
      await w.abort();
      assert.ok(w.destroyed);
      assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);
      await assert.rejects(w.commit(), /aborted/);

      // abort() after the stream ended, before commit
      const w2 = await d.write('b');
      await writeChunk(w2, randomBytes(7 * MiB));
      await end(w2);
      await w2.abort();
      assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);

      // a signal that fires mid-upload: the pipeline fails and the upload is aborted without abort()
      const ac = new AbortController();
      const w3 = await d.write('c', { signal: ac.signal });
      const source = Readable.from((async function* () {
        for (let i = 0; i < 8; i++) yield randomBytes(MiB);
        ac.abort();
        yield randomBytes(MiB);
      })());
      await assert.rejects(pipeline(source, w3));
      // the writer aborts the upload before it closes
      if (!w3.closed) await once(w3, 'close');
      assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);

      // an offset write whose kept prefix was copied into an upload, then abandoned
      await put(d, 'o', pattern(6 * MiB));
      const w4 = await d.write('o', { offset: 5 * MiB + 1 });
      await writeChunk(w4, Buffer.from('x'));
      await w4.abort();
      assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);
      assert.equal(sha256(await d.readBuffer('o')), sha256(pattern(6 * MiB)), 'the object is as it was');

      assert.deepEqual(await rawKeys(client, s.bucket, `${prefix}/`), [`${prefix}/o`]);
    } finally {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    }
  });

  test('ranged reads across part boundaries, past the end, of an empty object, and cancelled', async () => {
    const s = await sharedS3Server();
    const client = s.client();
    const prefix = `rr/${++serial}`;
    const d = driverFor(s, { prefix, partSize: 5 * MiB });
    try {
      const data = randomBytes(12 * MiB + 5);
      await put(d, 'r', data);
      for (const [a, b] of [[0, 0], [5 * MiB - 2, 5 * MiB + 1], [10 * MiB - 1, 10 * MiB], [3, 12 * MiB + 4], [12 * MiB + 4, 12 * MiB + 4]]) {
        assert.deepEqual(await d.readBuffer('r', { start: a, end: b }), data.subarray(a, b + 1), `[${a}, ${b}]`);
        assert.equal(sha256(await readAll(await d.read('r', { start: a, end: b }))), sha256(data.subarray(a, b + 1)), `stream [${a}, ${b}]`);
      }
      assert.deepEqual(await d.readBuffer('r', { start: 12 * MiB }), data.subarray(12 * MiB));
      assert.deepEqual(await d.readBuffer('r', { end: 9 }), data.subarray(0, 10));
      // a range that starts at or past the end reads nothing (S3 answers 416)
      assert.equal((await d.readBuffer('r', { start: data.length })).length, 0);
      assert.equal((await readAll(await d.read('r', { start: data.length + 10, end: data.length + 20 }))).length, 0);
      await put(d, 'empty', Buffer.alloc(0));
      assert.equal((await d.readBuffer('empty', { start: 0, end: 10 })).length, 0);
      assert.equal((await d.readBuffer('empty', { start: 0, end: -1 })).length, 0, 'end before start: nothing (S3 would send all)');
      assert.equal((await d.readBuffer('r', { start: 10, end: 9 })).length, 0);
      await assert.rejects(d.readBuffer('absent', { start: 10, end: 9 }), NotFoundError);
      await assert.rejects(d.read('absent', { start: 5, end: 9 }), NotFoundError);

      // the signal ends a body already flowing
      const ac = new AbortController();
      const body = await d.read('r', { signal: ac.signal });
      let got = 0;
      await assert.rejects((async () => {
        for await (const c of body) {
          got += (c as Buffer).length;
          if (got > MiB) ac.abort();
        }
      })(), (e: Error) => e.name === 'AbortError');
      assert.ok(got < data.length, 'stopped early');
      // an aborted signal stops the request before it is sent
      await assert.rejects(d.read('r', { signal: AbortSignal.abort() }), (e: Error) => e.name === 'AbortError');
    } finally {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    }
  });

  for (const uploadPartCopy of [true, false]) {
    test(`a write at an offset keeps [0, offset) and appends (${uploadPartCopy ? 'UploadPartCopy' : 'prefix re-uploaded'})`, async () => {
      const s = await sharedS3Server();
      const client = s.client();
      const prefix = `off/${++serial}`;
      const d = driverFor(s, { prefix, partSize: 5 * MiB, uploadPartCopy });
      try {
        const original = randomBytes(9 * MiB);
        await put(d, 'f', original);
        const tail = randomBytes(6 * MiB + 7);
        const at = 7 * MiB + 3;
        await put(d, 'f', [tail.subarray(0, MiB), tail.subarray(MiB)], at);
        const got = await d.readBuffer('f');
        assert.equal(got.length, at + tail.length);
        assert.equal(sha256(got), sha256(Buffer.concat([original.subarray(0, at), tail])));
        // cut back to exactly the kept bytes (nothing appended), still above one part
        await put(d, 'f', Buffer.alloc(0), 6 * MiB);
        assert.equal(sha256(await d.readBuffer('f')), sha256(original.subarray(0, 6 * MiB)));
        await assert.rejects(d.write('f', { offset: 6 * MiB + 1 }), /cannot write at/);
        await assert.rejects(d.write('missing', { offset: 1 }), NotFoundError);
        assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);
      } finally {
        await rawDeleteAll(client, s.bucket, `${prefix}/`);
        client.destroy();
      }
    });
  }

  test('a move above the multipart copy threshold copies in parts', async () => {
    const s = await sharedS3Server();
    const client = s.client();
    const prefix = `mv/${++serial}`;
    // the 5 GiB threshold, lowered so that the same path runs on a small object
    const d = driverFor(s, { prefix, partSize: 5 * MiB, multipartCopyThreshold: 5 * MiB, copyPartSize: 5 * MiB });
    try {
      const data = randomBytes(12 * MiB + 1);
      await put(d, 'uploads/x', data);
      await put(d, 'blobs/x', Buffer.from('old'));
      await d.move('uploads/x', 'blobs/x');
      assert.equal(await d.stat('uploads/x'), null);
      const head = await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: `${prefix}/blobs/x` }));
      assert.match(head.ETag ?? '', /-3"$/, 'copied as 3 parts');
      assert.equal(sha256(await d.readBuffer('blobs/x')), sha256(data));
      await assert.rejects(d.move('uploads/x', 'blobs/x'), NotFoundError);
      assert.deepEqual(await uploadsUnder(client, s.bucket, `${prefix}/`), []);
    } finally {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    }
  });

  test('list pages and delete batches past 1000 objects', { timeout: 300_000 }, async () => {
    const s = await sharedS3Server();
    const client = s.client();
    const prefix = `many/${++serial}`;
    const d = driverFor(s, { prefix });
    try {
      const N = 1003;
      const names = Array.from({ length: N }, (_, i) => `dir/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < N; i += 32) {
        await Promise.all(names.slice(i, i + 32).map((n) => client.send(new PutObjectCommand({ Bucket: s.bucket, Key: `${prefix}/${n}`, Body: n }))));
      }
      await put(d, 'dirx', Buffer.from('sibling'));
      const listed = await listAll(d, 'dir');
      assert.equal(listed.length, N);
      assert.deepEqual(listed.map((e) => e.path), names);
      await d.delete('dir');
      assert.deepEqual(await rawKeys(client, s.bucket, `${prefix}/`), [`${prefix}/dirx`]);
    } finally {
      await rawDeleteAll(client, s.bucket, `${prefix}/`);
      client.destroy();
    }
  });

  test('failures are clear errors that carry no secret', async () => {
    const s = await sharedS3Server();
    const wrongSecret = `wrong-${randomBytes(12).toString('hex')}`;
    const denied = driverFor(s, { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: wrongSecret } });
    await assert.rejects(denied.stat('x'), (e: Error) => {
      assert.ok(e instanceof S3StorageError, String(e));
      assert.match(e.message, /access denied/);
      assert.ok(!e.message.includes(wrongSecret) && !String(e.stack).includes(wrongSecret), 'no secret in the error');
      return true;
    });
    await assert.rejects(denied.check(), /access denied/);

    const noBucket = driverFor(s, { bucket: `absent-${randomBytes(4).toString('hex')}` });
    await assert.rejects(noBucket.check(), /no bucket absent-/);
    await assert.rejects(noBucket.readBuffer('x'), /no bucket absent-/);
    await driverFor(s).check();

    // a loopback port nothing listens on
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => { const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = (srv.address() as { port: number }).port; srv.close(() => resolve(p)); }); });
    const away = driverFor(s, { endpoint: `http://127.0.0.1:${port}` });
    await assert.rejects(away.stat('x'), (e: Error) => e instanceof S3StorageError && /cannot reach http:\/\/127\.0\.0\.1:\d+\/.*ECONNREFUSED/.test(e.message) && !e.message.includes(s.secretAccessKey));

    assert.throws(() => driverFor(s, { partSize: 4 * MiB }), /partSize/);
    assert.throws(() => driverFor(s, { endpoint: `http://user:${s.secretAccessKey}@127.0.0.1:1` }), (e: Error) => /must not carry credentials/.test(e.message) && !e.message.includes(s.secretAccessKey));
    assert.throws(() => driverFor(s, { prefix: 'a/../b' }), /prefix/);
    assert.throws(() => driverFor(s, { endpoint: 'ftp://127.0.0.1' }), /http/);
  });

  test('without credentials the SDK\'s default chain is used (here: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)', async () => {
    const s = await sharedS3Server();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s.secretAccessKey;
    try {
      const d = driverFor(s, { credentials: undefined, prefix: `env/${++serial}` });
      await put(d, 'f', Buffer.from('from env'));
      assert.equal((await d.readBuffer('f')).toString(), 'from env');
      await d.delete('f');
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID; else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY; else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  test('the server (reported, not asserted)', async (t) => {
    const s = await sharedS3Server();
    t.diagnostic(`Ceph RADOS Gateway: started in ${s.startupMs} ms; daemons' resident memory now ${(s.rss() / MiB).toFixed(0)} MiB, at most ${(s.peakRss() / MiB).toFixed(0)} MiB`);
  });
});
