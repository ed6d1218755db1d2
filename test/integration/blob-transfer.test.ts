// Large blob transfers: ranges across copy-buffer boundaries, and clients that vanish mid-download
// or mid-upload.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
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

  test('clients that disconnect mid-upload leave no blob, no stray upload file, and a resumable session', async () => {
    const body = randomBytes(12 * 1024 * 1024);
    const bodyDigest = sha256(body);
    /** Sends `cut` bytes of the body with the given method, then destroys the connection. */
    const cutUpload = (method: string, location: string, cut: number, headers: Record<string, string>) => new Promise<void>((resolve) => {
      const req = http.request(new URL(location, b.url), { method, headers: { 'content-type': 'application/octet-stream', ...headers } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(body.subarray(0, cut), () => setTimeout(() => req.destroy(), 50));
    });
    const start = async () => {
      const res = await fetch(`${b.url}/v2/xfer/cut/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 202);
      return res.headers.get('location')!;
    };
    // Single-request uploads (POST ?digest=) cut at different points: nothing may stay behind.
    for (let i = 0; i < 6; i++) {
      await cutUpload('POST', `/v2/xfer/cut/blobs/uploads/?digest=${bodyDigest}`, 1 + i * 1_900_000, { 'content-length': String(body.length) });
    }
    // Closing PUTs with the body, cut: the sessions stay open (a client may retry), and cancelling them removes their files.
    const sessions: string[] = [];
    for (let i = 0; i < 6; i++) {
      const loc = await start();
      sessions.push(loc);
      const sep = loc.includes('?') ? '&' : '?';
      await cutUpload('PUT', `${loc}${sep}digest=${bodyDigest}`, 1 + i * 1_900_000, { 'content-length': String(body.length) });
    }
    // A chunked PATCH cut mid-way: the session stays usable from its acknowledged offset.
    const loc = await start();
    await cutUpload('PATCH', loc, 5_000_000, { 'content-length': String(body.length), 'content-range': `0-${body.length - 1}` });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.proc.exitCode, null, 'server still running');
    assert.equal((await fetch(`${b.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${b.url}/v2/xfer/cut/blobs/${bodyDigest}`, { method: 'HEAD' })).status, 404, 'no blob from a cut upload');
    const status = await fetch(new URL(loc, b.url));
    assert.equal(status.status, 204);
    // What reached storage before the cut is kept: the session moved to it, and the client resumes there.
    const last = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -1);
    const offset = last === 0 ? 0 : last + 1;
    assert.ok(offset > 0 && offset <= 5_000_000, `the session kept the bytes received before the cut (offset ${offset})`);
    const resume = await fetch(new URL(loc, b.url), {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${body.length - 1}` },
      body: body.subarray(offset),
    });
    assert.equal(resume.status, 202, await resume.clone().text());
    const sep = resume.headers.get('location')!.includes('?') ? '&' : '?';
    const done = await fetch(new URL(`${resume.headers.get('location')}${sep}digest=${bodyDigest}`, b.url), { method: 'PUT' });
    assert.equal(done.status, 201, await done.clone().text());
    for (const session of sessions) assert.equal((await fetch(new URL(session, b.url), { method: 'DELETE' })).status, 204);
    // The single-request attempts left nothing behind; the sessions' files went with them.
    const uploads = await readdir(path.join(b.dataDir, 'storage', 'uploads')).catch(() => []);
    assert.deepEqual(uploads, [], `stray upload files: ${uploads.join(', ')}`);
    assert.ok(!b.logs.some((l) => l.includes('"level":60')), 'no fatal error logged');
  });
});
