// Large blob transfers: ranges across copy-buffer boundaries, and clients that vanish mid-download.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth.js';
import { pushBlob, sha256 } from '../helpers/oci.js';

describe('large blob transfers', () => {
  let b: BerthProcess;
  let blob: Buffer;
  let digest: string;
  before(async () => {
    b = await startBerth();
    blob = randomBytes(9 * 1024 * 1024 + 12345);
    digest = (await pushBlob(b.url, 'xfer/big', blob)).digest;
  });
  after(async () => { await b.stop(); });

  test('whole blob, and ranges that cross buffer boundaries, come back exact', async () => {
    const whole = await fetch(`${b.url}/v2/xfer/big/blobs/${digest}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-length'), String(blob.length));
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), digest);
    const cases: [string, number, number][] = [
      ['bytes=1000000-4200000', 1000000, 4200000],
      ['bytes=2097151-2097152', 2097151, 2097152],
      ['bytes=300000-', 300000, blob.length - 1],
      [`bytes=-${3 * 1024 * 1024}`, blob.length - 3 * 1024 * 1024, blob.length - 1],
    ];
    for (const [header, start, end] of cases) {
      const res = await fetch(`${b.url}/v2/xfer/big/blobs/${digest}`, { headers: { range: header } });
      assert.equal(res.status, 206, header);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${blob.length}`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, end - start + 1, header);
      assert.ok(body.equals(blob.subarray(start, end + 1)), `${header}: bytes differ`);
    }
  });

  test('clients that disconnect mid-download leave the server healthy', async () => {
    for (let i = 0; i < 25; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get(`${b.url}/v2/xfer/big/blobs/${digest}`, (res) => {
          let got = 0;
          res.on('data', (c: Buffer) => {
            got += c.length;
            if (got > (i % 5) * 200_000 + 1) { req.destroy(); resolve(); }
          });
          res.on('close', () => resolve());
        });
        req.on('error', () => resolve());
      });
    }
    assert.equal((await fetch(`${b.url}/readyz`)).status, 200);
    const res = await fetch(`${b.url}/v2/xfer/big/blobs/${digest}`);
    const h = createHash('sha256');
    h.update(Buffer.from(await res.arrayBuffer()));
    assert.equal(`sha256:${h.digest('hex')}`, digest);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!b.logs.some((l) => l.includes('"level":50') || l.includes('"level":60')), 'no error logged');
    assert.equal(b.proc.exitCode, null, 'server still running');
  });
});
