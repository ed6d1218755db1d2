// Conformance: pushing blobs — upload sessions, monolithic and chunked uploads, upload status, cancel,
// cross-repository mount, OCI-Chunk-Min-Length. OCI distribution-spec v1.1 "Push" section.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { sha256, pushBlob } from '../helpers/oci.js';
import {
  SPEC_CODES, expectError, expectStatus, patchChunk, randomDigest, repo, resolveLocation, startUpload, withQuery,
} from './util.js';

let b: BerthProcess;
let base: string;

before(async () => {
  b = await startBerth();
  base = b.url;
});
after(async () => {
  await b?.stop();
  if (b) await removeDir(b.dataDir);
});

async function headBlob(name: string, digest: string): Promise<Response> {
  const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
  await res.arrayBuffer();
  return res;
}

async function getBlob(name: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${base}/v2/${name}/blobs/${digest}`);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET blob ${digest}: ${res.status} ${body.toString().slice(0, 200)}`);
  return body;
}

/** Swaps the repository name in an upload URL (keeps the session id and query). */
function underOtherRepo(u: URL, from: string, to: string): URL {
  const c = new URL(u);
  assert.ok(c.pathname.startsWith(`/v2/${from}/blobs/uploads/`), `unexpected upload location ${c.pathname}`);
  c.pathname = `/v2/${to}/blobs/uploads/` + c.pathname.slice(`/v2/${from}/blobs/uploads/`.length);
  return c;
}

describe('starting an upload', () => {
  const name = repo('push-start');

  test('POST /blobs/uploads/ → 202 with Location containing the Docker-Upload-UUID', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    await expectStatus(res, 202);
    const loc = res.headers.get('location');
    assert.ok(loc, 'Location header is required');
    const uuid = res.headers.get('docker-upload-uuid');
    assert.ok(uuid, 'Docker-Upload-UUID header expected');
    assert.ok(loc.includes(uuid), `Location ${loc} should contain the session id ${uuid}`);
    const u = new URL(loc, base);
    assert.ok(u.pathname.startsWith(`/v2/${name}/blobs/uploads/`), `Location path ${u.pathname}`);
    const range = res.headers.get('range');
    if (range !== null) assert.equal(range, '0-0', 'an empty session reports Range 0-0 when it reports one');
  });

  test('two POSTs give two different sessions', async () => {
    const a = await startUpload(base, name);
    const c = await startUpload(base, name);
    assert.notEqual(a.url.href, c.url.href);
  });

  test('POST on a repository that does not exist yet creates the session (202)', async () => {
    const res = await fetch(`${base}/v2/${repo('brand-new')}/blobs/uploads/`, { method: 'POST' });
    await expectStatus(res, 202);
  });

  test('no OCI-Chunk-Min-Length (or 0) when none is configured', async () => {
    const { res } = await startUpload(base, name);
    const v = res.headers.get('oci-chunk-min-length');
    assert.ok(v === null || v === '0', `unexpected OCI-Chunk-Min-Length ${v}`);
  });
});

describe('monolithic upload', () => {
  const name = repo('push-mono');

  test('POST then PUT ?digest= → 201, Location /v2/<name>/blobs/<digest>, Docker-Content-Digest', async () => {
    const data = randomBytes(2048);
    const digest = sha256(data);
    const { url } = await startUpload(base, name);
    const res = await fetch(withQuery(url, { digest }), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    await expectStatus(res, 201);
    const loc = resolveLocation(base, res);
    assert.equal(loc.pathname, `/v2/${name}/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const got = await fetch(loc);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
  });

  test('single POST ?digest= with body → 201 with Location and Docker-Content-Digest', async () => {
    const data = randomBytes(777);
    const digest = sha256(data);
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
      method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' },
    });
    await expectStatus(res, 201);
    assert.equal(resolveLocation(base, res).pathname, `/v2/${name}/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.ok((await getBlob(name, digest)).equals(data));
  });

  test('single POST ?digest= with the wrong digest → 400 DIGEST_INVALID and nothing stored', async () => {
    const data = randomBytes(300);
    const wrong = sha256(Buffer.from('not the data'));
    const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${wrong}`, {
      method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' },
    });
    await expectError(res, 400, 'DIGEST_INVALID');
    assert.equal((await headBlob(name, wrong)).status, 404);
    assert.equal((await headBlob(name, sha256(data))).status, 404);
  });

  test('PUT with the wrong digest → 400 DIGEST_INVALID and the blob does not exist afterwards', async () => {
    const data = randomBytes(1500);
    const wrong = randomDigest();
    const { url } = await startUpload(base, name);
    const res = await fetch(withQuery(url, { digest: wrong }), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    await expectError(res, 400, 'DIGEST_INVALID');
    assert.equal((await headBlob(name, wrong)).status, 404);
    assert.equal((await headBlob(name, sha256(data))).status, 404);
    await expectError(await fetch(`${base}/v2/${name}/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
  });

  test('PUT without ?digest= → 400 DIGEST_INVALID', async () => {
    const { url } = await startUpload(base, name);
    const res = await fetch(url, { method: 'PUT', body: randomBytes(10), headers: { 'content-type': 'application/octet-stream' } });
    await expectError(res, 400, 'DIGEST_INVALID');
  });

  test('empty blob (0 bytes) can be uploaded and pulled', async () => {
    const data = Buffer.alloc(0);
    const digest = sha256(data);
    const { url } = await startUpload(base, name);
    const res = await fetch(withQuery(url, { digest }), { method: 'PUT', headers: { 'content-length': '0' } });
    await expectStatus(res, 201);
    const got = await fetch(`${base}/v2/${name}/blobs/${digest}`);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-length'), '0');
    assert.equal((await got.arrayBuffer()).byteLength, 0);
  });

  test('uploading a blob that already exists succeeds again (201) and content is unchanged', async () => {
    const data = randomBytes(64);
    await pushBlob(base, name, data);
    const again = await pushBlob(base, name, data);
    assert.equal(again.digest, sha256(data));
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('concurrent uploads of the same content in two sessions both succeed (201) and the blob is intact', async () => {
    const data = randomBytes(256 * 1024);
    const digest = sha256(data);
    const [a, c] = await Promise.all([startUpload(base, name), startUpload(base, name)]);
    const puts = await Promise.all([a, c].map((s) => fetch(withQuery(s.url, { digest }), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } })));
    for (const p of puts) await expectStatus(p, 201);
    assert.ok((await getBlob(name, digest)).equals(data));
  });

  test('the session is gone after a successful PUT → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const data = randomBytes(10);
    const { url } = await startUpload(base, name);
    const put = await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT', body: data });
    await expectStatus(put, 201);
    await expectError(await fetch(url), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patchChunk(url, Buffer.from('more')), 404, 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('chunked upload', () => {
  const name = repo('push-chunk');

  test('streamed PATCH (no Content-Range) → 202, Location, Range 0-<last>; then PUT → 201', async () => {
    const data = randomBytes(5000);
    const { url } = await startUpload(base, name);
    const res = await fetch(url, { method: 'PATCH', body: data, headers: { 'content-type': 'application/octet-stream' } });
    await expectStatus(res, 202);
    assert.equal(res.headers.get('range'), '0-4999');
    const next = resolveLocation(base, res);
    const put = await fetch(withQuery(next, { digest: sha256(data) }), { method: 'PUT' });
    await expectStatus(put, 201);
    assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('PATCH chunks with Content-Range and Content-Length → 202 each with Location and Range; final chunk in PUT → 201', async () => {
    const data = randomBytes(3000);
    let { url } = await startUpload(base, name);
    const parts: Array<[number, number]> = [[0, 1000], [1000, 2200]];
    for (const [s, e] of parts) {
      const res = await patchChunk(url, data.subarray(s, e), `${s}-${e - 1}`);
      await expectStatus(res, 202, `chunk ${s}-${e - 1}`);
      assert.equal(res.headers.get('range'), `0-${e - 1}`);
      url = resolveLocation(base, res);
    }
    const last = data.subarray(2200);
    const put = await fetch(withQuery(url, { digest: sha256(data) }), {
      method: 'PUT', body: last,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `2200-${data.length - 1}`, 'content-length': String(last.length) },
    });
    await expectStatus(put, 201);
    assert.equal(resolveLocation(base, put).pathname, `/v2/${name}/blobs/${sha256(data)}`);
    assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('all chunks by PATCH, then an empty PUT → 201', async () => {
    const data = randomBytes(4096);
    let { url } = await startUpload(base, name);
    for (let s = 0; s < data.length; s += 1024) {
      const res = await patchChunk(url, data.subarray(s, s + 1024), `${s}-${s + 1023}`);
      await expectStatus(res, 202);
      assert.equal(res.headers.get('range'), `0-${s + 1023}`);
      url = resolveLocation(base, res);
    }
    const put = await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT', headers: { 'content-length': '0' } });
    await expectStatus(put, 201);
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('a larger (3 MiB) blob in 1 MiB chunks round-trips byte-exact', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 123);
    let { url } = await startUpload(base, name);
    const step = 1024 * 1024;
    for (let s = 0; s < data.length; s += step) {
      const chunk = data.subarray(s, Math.min(s + step, data.length));
      const res = await patchChunk(url, chunk, `${s}-${s + chunk.length - 1}`);
      await expectStatus(res, 202);
      url = resolveLocation(base, res);
    }
    const put = await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT' });
    await expectStatus(put, 201);
    const head = await headBlob(name, sha256(data));
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('out-of-order chunk (gap) → 416; the session survives and can be completed', async () => {
    const data = randomBytes(30);
    let { url } = await startUpload(base, name);
    const first = await patchChunk(url, data.subarray(0, 10), '0-9');
    await expectStatus(first, 202);
    url = resolveLocation(base, first);
    const gap = await patchChunk(url, data.subarray(20, 30), '20-29');
    await expectError(gap, 416, SPEC_CODES);
    const status = await fetch(url);
    await expectStatus(status, 204);
    assert.equal(status.headers.get('range'), '0-9');
    const ok = await patchChunk(resolveLocation(base, status), data.subarray(10, 30), '10-29');
    await expectStatus(ok, 202);
    const put = await fetch(withQuery(resolveLocation(base, ok), { digest: sha256(data) }), { method: 'PUT' });
    await expectStatus(put, 201);
    assert.ok((await getBlob(name, sha256(data))).equals(data));
  });

  test('repeated chunk (same range again) → 416', async () => {
    const data = randomBytes(20);
    let { url } = await startUpload(base, name);
    const first = await patchChunk(url, data.subarray(0, 10), '0-9');
    await expectStatus(first, 202);
    url = resolveLocation(base, first);
    await expectError(await patchChunk(url, data.subarray(0, 10), '0-9'), 416, SPEC_CODES);
    const status = await fetch(url);
    await expectStatus(status, 204);
    assert.equal(status.headers.get('range'), '0-9', 'the refused chunk must not have been appended');
  });

  test('first chunk not starting at 0 → 416', async () => {
    const { url } = await startUpload(base, name);
    await expectError(await patchChunk(url, randomBytes(10), '5-14'), 416, SPEC_CODES);
  });

  test('final chunk in PUT with a Content-Range that does not continue the upload → 416 and no blob', async () => {
    const data = randomBytes(20);
    const { url } = await startUpload(base, name);
    const first = await patchChunk(url, data.subarray(0, 10), '0-9');
    await expectStatus(first, 202);
    const put = await fetch(withQuery(resolveLocation(base, first), { digest: sha256(data) }), {
      method: 'PUT', body: data.subarray(10), headers: { 'content-range': '12-21', 'content-type': 'application/octet-stream' },
    });
    await expectError(put, 416, SPEC_CODES);
    assert.equal((await headBlob(name, sha256(data))).status, 404);
  });

  test('PUT with a wrong digest after chunks → 400 DIGEST_INVALID and no blob under either digest', async () => {
    const data = randomBytes(64);
    const { url } = await startUpload(base, name);
    const first = await patchChunk(url, data, '0-63');
    await expectStatus(first, 202);
    const wrong = randomDigest();
    const put = await fetch(withQuery(resolveLocation(base, first), { digest: wrong }), { method: 'PUT' });
    await expectError(put, 400, 'DIGEST_INVALID');
    assert.equal((await headBlob(name, wrong)).status, 404);
    assert.equal((await headBlob(name, sha256(data))).status, 404);
  });
});

describe('upload status and cancel', () => {
  const name = repo('push-status');

  test('GET upload status → 204 with Range 0-<last> and Location', async () => {
    const { url } = await startUpload(base, name);
    const p = await patchChunk(url, randomBytes(100), '0-99');
    await expectStatus(p, 202);
    const loc = resolveLocation(base, p);
    const res = await fetch(loc);
    const body = await expectStatus(res, 204);
    assert.equal(body, '');
    assert.equal(res.headers.get('range'), '0-99');
    const l2 = resolveLocation(base, res);
    assert.ok(l2.pathname.startsWith(`/v2/${name}/blobs/uploads/`), l2.pathname);
  });

  test('GET status of a fresh session → 204 with Location', async () => {
    const { url } = await startUpload(base, name);
    const res = await fetch(url);
    await expectStatus(res, 204);
    assert.ok(res.headers.get('location'));
  });

  test('DELETE upload → 204, then the session is gone (404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT, DELETE)', async () => {
    const data = randomBytes(50);
    const { url } = await startUpload(base, name);
    await expectStatus(await patchChunk(url, data, '0-49'), 202);
    await expectStatus(await fetch(url, { method: 'DELETE' }), 204);
    await expectError(await fetch(url), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patchChunk(url, randomBytes(5)), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(url, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await headBlob(name, sha256(data))).status, 404);
  });

  test('unknown session id → 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT, DELETE', async () => {
    const u = new URL(`${base}/v2/${name}/blobs/uploads/${randomUUID()}`);
    await expectError(await fetch(u), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patchChunk(u, randomBytes(5), '0-4'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(withQuery(u, { digest: randomDigest() }), { method: 'PUT', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(u, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a session id that is not even UUID-shaped → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/${name}/blobs/uploads/not-a-session`), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a session id used under another repository name → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const other = repo('push-status-other');
    await pushBlob(base, other, Buffer.from('exists')); // the other repository exists
    const data = randomBytes(40);
    const { url } = await startUpload(base, name);
    await expectStatus(await patchChunk(url, data.subarray(0, 20), '0-19'), 202);
    const foreign = underOtherRepo(url, name, other);
    await expectError(await fetch(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patchChunk(foreign, data.subarray(20), '20-39'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(withQuery(foreign, { digest: sha256(data.subarray(0, 20)) }), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(foreign, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await headBlob(other, sha256(data.subarray(0, 20)))).status, 404);
    // the session is untouched in its own repository
    const st = await fetch(url);
    await expectStatus(st, 204);
    assert.equal(st.headers.get('range'), '0-19');
  });
});

describe('cross-repository mount', () => {
  const src = repo('mount-src');
  const data = randomBytes(512);
  const digest = sha256(data);

  before(async () => {
    await pushBlob(base, src, data);
  });

  test('mount from a repository holding the blob → 201, Location, Docker-Content-Digest; blob visible in target', async () => {
    const dst = repo('mount-dst');
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${digest}&from=${src}`, { method: 'POST' });
    await expectStatus(res, 201);
    assert.equal(resolveLocation(base, res).pathname, `/v2/${dst}/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.ok((await getBlob(dst, digest)).equals(data));
  });

  test('mount from a repository without the blob → 202 with a new usable session; nothing mounted', async () => {
    const dst = repo('mount-dst');
    const other = repo('mount-empty');
    await pushBlob(base, other, Buffer.from('unrelated'));
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${digest}&from=${other}`, { method: 'POST' });
    await expectStatus(res, 202);
    const loc = resolveLocation(base, res);
    assert.ok(loc.pathname.startsWith(`/v2/${dst}/blobs/uploads/`), loc.pathname);
    assert.equal((await headBlob(dst, digest)).status, 404);
    const put = await fetch(withQuery(loc, { digest }), { method: 'PUT', body: data });
    await expectStatus(put, 201);
    assert.ok((await getBlob(dst, digest)).equals(data));
  });

  test('mount of an unknown digest → 202 with a session', async () => {
    const dst = repo('mount-dst');
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${randomDigest()}&from=${src}`, { method: 'POST' });
    await expectStatus(res, 202);
    assert.ok(resolveLocation(base, res).pathname.startsWith(`/v2/${dst}/blobs/uploads/`));
  });

  test('mount from a repository that does not exist → 202 with a session', async () => {
    const dst = repo('mount-dst');
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${digest}&from=${repo('nowhere')}`, { method: 'POST' });
    await expectStatus(res, 202);
    assert.ok(res.headers.get('location'));
  });

  test('mount without from → 201 (blob found and mounted) or 202 (new session)', async () => {
    const dst = repo('mount-dst');
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    await expectStatus(res, [201, 202]);
    if (res.status === 201) {
      assert.equal(resolveLocation(base, res).pathname, `/v2/${dst}/blobs/${digest}`);
      assert.ok((await getBlob(dst, digest)).equals(data));
    } else {
      assert.ok(resolveLocation(base, res).pathname.startsWith(`/v2/${dst}/blobs/uploads/`));
      assert.equal((await headBlob(dst, digest)).status, 404);
    }
  });

  test('the source keeps its blob after a mount', async () => {
    const dst = repo('mount-dst');
    const res = await fetch(`${base}/v2/${dst}/blobs/uploads/?mount=${digest}&from=${src}`, { method: 'POST' });
    await expectStatus(res, 201);
    assert.ok((await getBlob(src, digest)).equals(data));
  });
});

describe('OCI-Chunk-Min-Length', () => {
  const MIN = 1024;
  let cb: BerthProcess;
  let cbase: string;
  const name = repo('push-min');

  before(async () => {
    cb = await startBerth({ config: { registry: { chunkMinLength: MIN } } });
    cbase = cb.url;
  });
  after(async () => {
    await cb?.stop();
    if (cb) await removeDir(cb.dataDir);
  });

  test('POST → 202 advertises OCI-Chunk-Min-Length', async () => {
    const { res } = await startUpload(cbase, name);
    assert.equal(res.headers.get('oci-chunk-min-length'), String(MIN));
  });

  test('chunks ≥ the minimum plus a short final PATCH chunk are accepted (the final chunk may have any length)', async () => {
    const data = randomBytes(MIN * 2 + 10);
    let { url } = await startUpload(cbase, name);
    for (const [s, e] of [[0, MIN], [MIN, 2 * MIN], [2 * MIN, data.length]] as Array<[number, number]>) {
      const res = await patchChunk(url, data.subarray(s, e), `${s}-${e - 1}`);
      await expectStatus(res, 202, `chunk ${s}-${e - 1}`);
      url = new URL(res.headers.get('location')!, cbase);
    }
    const put = await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT' });
    await expectStatus(put, 201);
  });

  test('a short final chunk sent in the closing PUT is accepted', async () => {
    const data = randomBytes(MIN + 5);
    const { url } = await startUpload(cbase, name);
    const p = await patchChunk(url, data.subarray(0, MIN), `0-${MIN - 1}`);
    await expectStatus(p, 202);
    const put = await fetch(withQuery(new URL(p.headers.get('location')!, cbase), { digest: sha256(data) }), {
      method: 'PUT', body: data.subarray(MIN), headers: { 'content-range': `${MIN}-${data.length - 1}`, 'content-type': 'application/octet-stream' },
    });
    await expectStatus(put, 201);
  });

  test('a monolithic upload smaller than the minimum is accepted', async () => {
    const data = randomBytes(10);
    const { url } = await startUpload(cbase, name);
    await expectStatus(await fetch(withQuery(url, { digest: sha256(data) }), { method: 'PUT', body: data }), 201);
  });

  test('a chunk below the minimum that turns out not to be the last is refused (416 or 400)', async () => {
    const data = randomBytes(MIN * 2);
    const { url } = await startUpload(cbase, name);
    const small = await patchChunk(url, data.subarray(0, 100), '0-99');
    if (small.status === 202) {
      const next = await patchChunk(new URL(small.headers.get('location')!, cbase), data.subarray(100, 100 + MIN), `100-${99 + MIN}`);
      await expectError(next, [416, 400], SPEC_CODES);
    } else {
      await expectError(small, [416, 400], SPEC_CODES);
    }
  });
});
