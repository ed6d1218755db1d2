// Berth on an S3-compatible store: Ceph's RADOS Gateway started here (test/helpers/s3.ts), on the run's
// database (so on PostgreSQL too: the scale-out setup). Pushes (monolithic and chunked across parts),
// pulls and ranged reads, garbage collection in the bucket, readiness, and nothing written outside the
// prefix or to the local disk.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ADMIN_PASSWORD, removeDir, runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { pushBlob, pushRandomImage, sha256 } from '../helpers/oci.js';
import { sharedS3Server, stopSharedS3Server, type S3Server } from '../helpers/s3.js';

const PREFIX = 'registry/berth';

async function keys(s3: S3Server, bucket: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out.push(o.Key!);
    token = r.NextContinuationToken;
  } while (token);
  return out;
}

describe('Berth on S3 (RADOS Gateway)', () => {
  let s3: S3Server;
  let b: BerthProcess;
  let bucket: string;

  before(async () => {
    s3 = await sharedS3Server();
    bucket = await s3.createBucket();
    b = await startBerth({
      config: {
        storage: { driver: 's3', s3: { endpoint: s3.endpoint, bucket, region: s3.region, prefix: PREFIX, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, partSize: 5 } },
        gc: { review: { interval: 0 } },
        registry: { uploadExpiry: 1 },
      },
    });
  });
  after(async () => {
    await b?.stop();
    if (b) await removeDir(b.dataDir);
    await stopSharedS3Server();
  });

  test('an image pushed and pulled: blobs in the bucket under the prefix only, nothing on the local disk; ready', async () => {
    const img = await pushRandomImage(b.url, 's3/app', 'v1', { layers: 2, layerSize: 300_000 });
    for (const blob of [img.config, ...img.layers]) {
      const res = await fetch(`${b.url}/v2/s3/app/blobs/${sha256(blob)}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob));
    }
    const ranged = await fetch(`${b.url}/v2/s3/app/blobs/${sha256(img.layers[0])}`, { headers: { range: 'bytes=1000-1999' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(img.layers[0].subarray(1000, 2000)));
    const all = await keys(s3, bucket);
    assert.ok(all.length >= 3, `blobs are in the bucket (${all.length} keys)`);
    assert.deepEqual(all.filter((k) => !k.startsWith(`${PREFIX}/`)), [], 'nothing outside the prefix');
    for (const blob of [img.config, ...img.layers]) {
      const hex = sha256(blob).slice(7);
      assert.ok(all.includes(`${PREFIX}/blobs/sha256/${hex.slice(0, 2)}/${hex}`), 'a blob under its digest');
    }
    const local = path.join(b.dataDir, 'storage');
    assert.ok(!existsSync(local) || readdirSync(local).length === 0, 'no blob on the local disk');
    const ready = await fetch(`${b.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { checks: { storage: string } }).checks.storage, 'ok');
  });

  test('a chunked upload of several parts (the earlier ones kept server side) gives the right blob', async () => {
    const data = randomBytes(13 * 1024 * 1024);
    const start = await fetch(`${b.url}/v2/s3/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    let loc = new URL(start.headers.get('location')!, b.url);
    const chunk = 6 * 1024 * 1024;
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, Math.min(off + chunk, data.length));
      const res = await fetch(loc, { method: 'PATCH', body: new Uint8Array(part), headers: { 'content-type': 'application/octet-stream', 'content-range': `${off}-${off + part.length - 1}` } });
      assert.equal(res.status, 202, await res.text());
      loc = new URL(res.headers.get('location')!, b.url);
    }
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const got = Buffer.from(await (await fetch(`${b.url}/v2/s3/app/blobs/${digest}`)).arrayBuffer());
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data));
    assert.deepEqual((await keys(s3, bucket)).filter((k) => k.includes('/uploads/')), [], 'the upload object is gone after publication');
  });

  test('with storage.s3.redirect a blob GET, once authorized, is sent to a presigned URL of the bucket; HEAD is answered here', async () => {
    const other = await startBerth({
      auth: true,
      config: { storage: { driver: 's3', s3: { endpoint: s3.endpoint, bucket, region: s3.region, prefix: PREFIX, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, redirect: true, redirectExpiry: 60 } }, gc: { review: { interval: 0 } } },
    });
    try {
      const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
      // Its own database: the blob goes in through it (into the administrator's own namespace).
      const { digest } = await pushBlob(other.url, 'admin/app', randomBytes(400_000), { authorization: basic });
      assert.equal((await fetch(`${other.url}/v2/admin/app/blobs/${digest}`, { redirect: 'manual' })).status, 401, 'no redirect before authorization');
      const res = await fetch(`${other.url}/v2/admin/app/blobs/${digest}`, { redirect: 'manual', headers: { authorization: basic } });
      assert.equal(res.status, 307);
      const location = res.headers.get('location')!;
      assert.ok(location.startsWith(s3.endpoint), `to the store: ${location.slice(0, 60)}`);
      assert.ok(/X-Amz-Signature=/.test(location) && /X-Amz-Expires=60/.test(location), 'presigned, for 60 s');
      const bytes = Buffer.from(await (await fetch(location)).arrayBuffer());
      assert.equal(sha256(bytes), digest, 'the URL serves the blob');
      const ranged = await fetch(location, { headers: { range: 'bytes=0-99' } });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(0, 100)));
      const head = await fetch(`${other.url}/v2/admin/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual', headers: { authorization: basic } });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(bytes.length));
    } finally {
      await other.stop();
      await removeDir(other.dataDir);
    }
  });

  test('berth gc --grace 0 removes an unreferenced blob from the bucket and keeps the referenced ones, and gives up stale multipart uploads under the prefix', async () => {
    // A write a killed process left: an incomplete multipart upload under the prefix; and one outside it.
    const stray = (await s3.client().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${PREFIX}/uploads/killed-writer` }))).UploadId!;
    const foreign = (await s3.client().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'someone-else/upload' }))).UploadId!;
    await new Promise((r) => setTimeout(r, 1500)); // past registry.uploadExpiry (1 s)
    const orphan = await pushBlob(b.url, 's3/app', randomBytes(4000));
    const hex = orphan.digest.slice(7);
    const key = `${PREFIX}/blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    assert.ok((await keys(s3, bucket)).includes(key));
    const config = path.join(b.dataDir, '..', `berth-config-${b.port}.yaml`);
    const res = await runCli(['gc', '--json', '--grace', '0', '--data', b.dataDir, '--config', config]);
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(res.stdout) as { blobsRemoved: number; abandonedWrites: number };
    assert.ok(report.blobsRemoved >= 1);
    assert.equal(report.abandonedWrites, 1);
    const left = (await s3.client().send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.map((u) => u.UploadId) ?? [];
    assert.ok(!left.includes(stray), 'the stale upload under the prefix is gone');
    assert.ok(left.includes(foreign), 'nothing outside the prefix is touched');
    assert.ok(!(await keys(s3, bucket)).includes(key), 'its object is gone');
    assert.equal((await fetch(`${b.url}/v2/s3/app/manifests/v1`)).status, 200, 'the image stays');
  });
});
