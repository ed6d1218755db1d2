// Conformance: name / tag / digest grammar, sha512 end to end, hostile names, failed uploads leave
// nothing behind, and a fuzz pass of client mistakes that must never produce a 5xx.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { startBerth, removeDir, tempDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage, type Image } from '../helpers/oci.js';
import {
  expectError, expectStatus, filesWithContent, hex, listFiles, lyingRequest, parseEnvelope, patchChunk, rawRequest,
  repo, resolveLocation, sha512, sleep, startUpload, withQuery, SPEC_CODES,
} from './util.js';

let b: BerthProcess;
let base: string;
let outer: string;

before(async () => {
  outer = await tempDir('berth-conf-names-');
  const dataDir = path.join(outer, 'data');
  await mkdir(dataDir);
  b = await startBerth({ dataDir });
  base = b.url;
});
after(async () => {
  await b?.stop();
  if (outer) await removeDir(outer);
});

async function head(url: string): Promise<number> {
  const res = await fetch(url, { method: 'HEAD' });
  await res.arrayBuffer();
  return res.status;
}

describe('repository names', () => {
  const valid = ['a', '0', 'a.b', 'a_b', 'a__b', 'a-b', 'a--b', 'a---b', 'a/b/c/d', 'x9.y_z-0/q', `${'a'.repeat(63)}/${'b'.repeat(63)}`];
  for (const n of valid) {
    test(`valid name "${n.length > 40 ? `${n.slice(0, 20)}…(${n.length})` : n}" → push and pull work`, async () => {
      const name = `names-ok/${n}`;
      const data = randomBytes(16);
      await pushBlob(base, name, data);
      const res = await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    });
  }

  const invalid = ['Upper', 'a/B', 'a..b', 'a._b', 'a___b', 'a_-b', '-a', 'a-', '.a', 'a.', 'a_', '_a', 'a/-b', 'a/b.'];
  for (const n of invalid) {
    test(`invalid name "${n}" → 400 NAME_INVALID (uploads, manifests, tags/list)`, async () => {
      await expectError(await fetch(`${base}/v2/${n}/blobs/uploads/`, { method: 'POST' }), 400, 'NAME_INVALID');
      await expectError(await fetch(`${base}/v2/${n}/manifests/latest`), 400, 'NAME_INVALID');
      await expectError(await fetch(`${base}/v2/${n}/tags/list`), 400, 'NAME_INVALID');
      const put = await fetch(`${base}/v2/${n}/manifests/latest`, { method: 'PUT', body: '{}', headers: { 'content-type': MT.ociManifest } });
      await expectError(put, 400, 'NAME_INVALID');
    });
  }

  test('a 300-character name → 400 NAME_INVALID or 404, never 5xx', async () => {
    const n = `${'a'.repeat(150)}/${'b'.repeat(149)}`;
    assert.equal(n.length, 300);
    for (const [method, p] of [['POST', `/v2/${n}/blobs/uploads/`], ['GET', `/v2/${n}/tags/list`], ['GET', `/v2/${n}/manifests/latest`]]) {
      const res = await fetch(`${base}${p}`, { method });
      if (res.status === 400) await expectError(res, 400, 'NAME_INVALID', `${method} ${p.slice(0, 20)}`);
      else {
        assert.equal(res.status, 404, `${method}: got ${res.status}`);
        await res.arrayBuffer();
      }
    }
  });
});

describe('hostile names never escape the data dir', () => {
  const hostile = [
    '../x', '../../x', 'a/../../x', '%2e%2e/x', '%2E%2E/%2E%2E/x', 'a/%2e%2e/%2e%2e/x', '..%2f..%2fx', '..%2F..%2Fescape',
    'a//b', 'a/', '/a', 'a/./b', '.', '..', 'a%00b', 'a%5c..%5cx', '%2fetc%2fpasswd', 'a/b/', `${'x'.repeat(300)}`,
  ];
  const routes = (n: string) => [
    ['POST', `/v2/${n}/blobs/uploads/`], ['GET', `/v2/${n}/tags/list`], ['GET', `/v2/${n}/manifests/latest`],
    ['PUT', `/v2/${n}/manifests/latest`], ['GET', `/v2/${n}/blobs/${sha256('x')}`], ['POST', `/v2/${n}/blobs/uploads/?digest=${sha256('escape')}`],
    ['DELETE', `/v2/${n}/manifests/latest`], ['GET', `/v2/${n}/referrers/${sha256('x')}`],
  ] as const;

  for (const n of hostile) {
    test(`hostile name ${JSON.stringify(n.length > 30 ? `${n.slice(0, 10)}…(${n.length})` : n)} → 400 NAME_INVALID or 404 on every route`, async () => {
      for (const [method, p] of routes(n)) {
        const body = method === 'PUT' ? '{"schemaVersion":2}' : method === 'POST' && p.includes('digest') ? 'escape' : undefined;
        const res = await rawRequest(base, method, p, { body, headers: body ? { 'content-type': MT.ociManifest } : {} });
        assert.ok(res.status === 400 || res.status === 404, `${method} ${p}: expected 400/404, got ${res.status} ${res.body.toString().slice(0, 200)}`);
        if (res.status === 400) {
          const errs = parseEnvelope(res.body.toString(), `${method} ${p}`);
          assert.ok(errs.some((e) => e.code === 'NAME_INVALID'), `${method} ${p}: 400 must be NAME_INVALID, got ${res.body.toString().slice(0, 200)}`);
        }
      }
    });
  }

  test('hostile upload session ids → 404 BLOB_UPLOAD_UNKNOWN or 400, never 5xx', async () => {
    const n = repo('hostile-session');
    const ids = ['..%2F..%2F..%2Fetc%2Fpasswd', '%2e%2e', '..', '.', '%00', 'a%2Fb', `${'f'.repeat(500)}`, '..%5C..%5Cx'];
    for (const id of ids) {
      for (const [method, suffix, body] of [['GET', '', undefined], ['PATCH', '', 'escape'], ['PUT', `?digest=${sha256('escape')}`, 'escape'], ['DELETE', '', undefined]] as const) {
        const p = `/v2/${n}/blobs/uploads/${id}${suffix}`;
        const res = await rawRequest(base, method, p, { body, headers: body ? { 'content-type': 'application/octet-stream' } : {} });
        assert.ok(res.status === 404 || res.status === 400, `${method} ${p}: got ${res.status} ${res.body.toString().slice(0, 200)}`);
        if (res.status === 404 && res.body.length) {
          const errs = parseEnvelope(res.body.toString(), `${method} ${p}`);
          assert.ok(errs.some((e) => e.code === 'BLOB_UPLOAD_UNKNOWN' || e.code === 'NAME_UNKNOWN'), `${method} ${p}: ${res.body.toString().slice(0, 200)}`);
        }
      }
    }
    assert.equal(await head(`${base}/v2/${n}/blobs/${sha256('escape')}`), 404);
  });

  test('nothing was written outside the data dir, and no file contains the escape payload', async () => {
    const dataDir = path.join(outer, 'data');
    for (const f of await listFiles(outer)) {
      assert.ok(f.startsWith(dataDir + path.sep) || /berth-config-\d+\.yaml$/.test(f), `unexpected file outside the data dir: ${f}`);
    }
    assert.deepEqual(await filesWithContent(outer, [sha256('escape')]), []);
    for (const f of await listFiles(dataDir)) assert.ok(!f.split(path.sep).includes('..'), f);
  });
});

describe('tags', () => {
  const name = repo('tags');
  let img: Image;
  before(async () => {
    img = await pushRandomImage(base, name, 'seed');
  });

  const valid = ['a', 'A', '_a', '0', 'a.b-c_D', 'v1.2.3-rc.1', '__', 'x'.repeat(128)];
  for (const t of valid) {
    test(`valid tag "${t.length > 20 ? `x…(${t.length})` : t}" → PUT 201 and GET 200`, async () => {
      const { res } = await pushManifest(base, name, t, img.manifestBytes, MT.ociManifest);
      await expectStatus(res, 201);
      const got = await fetch(`${base}/v2/${name}/manifests/${t}`, { headers: { accept: MT.ociManifest } });
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('docker-content-digest'), img.digest);
      await got.arrayBuffer();
    });
  }

  const invalid = ['.a', '-a', 'x'.repeat(129), 'a+b', 'a@b', 'a%20b', 'a~b', 'a!b'];
  for (const t of invalid) {
    test(`invalid tag "${t.length > 20 ? `x…(${t.length})` : t}" → PUT 400 TAG_INVALID`, async () => {
      const { res } = await pushManifest(base, name, t, img.manifestBytes, MT.ociManifest);
      await expectError(res, 400, 'TAG_INVALID');
      const got = await fetch(`${base}/v2/${name}/manifests/${t}`);
      const text = await got.text();
      assert.ok(got.status === 400 || got.status === 404, `GET invalid tag: ${got.status} ${text}`);
    });
  }
});

describe('digests', () => {
  const name = repo('digests');
  const badDigests = [
    'sha256:xyz', 'sha256:abc', `sha256:${'a'.repeat(63)}`, `sha256:${'a'.repeat(65)}`, `sha256:${'A'.repeat(64)}`,
    `sha512:${'a'.repeat(64)}`, 'nodigest', `sha256${'a'.repeat(64)}`, `:${'a'.repeat(64)}`, `SHA256:${'a'.repeat(64)}`,
  ];
  before(async () => {
    await pushBlob(base, name, Buffer.from('exists'));
  });

  for (const d of badDigests) {
    test(`invalid digest ${JSON.stringify(d.length > 24 ? `${d.slice(0, 14)}…(${d.length})` : d)} → 400 DIGEST_INVALID (GET/DELETE blob, PUT upload)`, async () => {
      await expectError(await fetch(`${base}/v2/${name}/blobs/${d}`), 400, 'DIGEST_INVALID', 'GET blob');
      assert.equal(await head(`${base}/v2/${name}/blobs/${d}`), 400, 'HEAD blob');
      await expectError(await fetch(`${base}/v2/${name}/blobs/${d}`, { method: 'DELETE' }), 400, 'DIGEST_INVALID', 'DELETE blob');
      const { url } = await startUpload(base, name);
      await expectError(await fetch(withQuery(url, { digest: d }), { method: 'PUT', body: 'data' }), 400, 'DIGEST_INVALID', 'PUT upload');
    });
  }

  test('invalid digest-shaped manifest reference → 400 DIGEST_INVALID', async () => {
    await expectError(await fetch(`${base}/v2/${name}/manifests/sha256:xyz`), 400, ['DIGEST_INVALID', 'TAG_INVALID']);
    await expectError(await fetch(`${base}/v2/${name}/manifests/sha256:${'a'.repeat(63)}`), 400, ['DIGEST_INVALID', 'TAG_INVALID']);
  });

  test('sha512 blob: upload with ?digest=sha512:…, HEAD/GET by sha512 digest', async () => {
    const data = randomBytes(3000);
    const d = sha512(data);
    const { url } = await startUpload(base, name);
    const put = await fetch(withQuery(url, { digest: d }), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    await expectStatus(put, 201);
    assert.equal(resolveLocation(base, put).pathname, `/v2/${name}/blobs/${d}`);
    const h = await fetch(`${base}/v2/${name}/blobs/${d}`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-length'), String(data.length));
    assert.ok([d, sha256(data)].includes(h.headers.get('docker-content-digest') ?? ''), `Docker-Content-Digest ${h.headers.get('docker-content-digest')}`);
    const g = await fetch(`${base}/v2/${name}/blobs/${d}`);
    assert.equal(g.status, 200);
    assert.ok(Buffer.from(await g.arrayBuffer()).equals(data));
  });

  test('sha512 blob: chunked upload and single-POST upload', async () => {
    const data = randomBytes(2048);
    const { url } = await startUpload(base, name);
    const p = await patchChunk(url, data.subarray(0, 1000), '0-999');
    await expectStatus(p, 202);
    const put = await fetch(withQuery(resolveLocation(base, p), { digest: sha512(data) }), {
      method: 'PUT', body: data.subarray(1000), headers: { 'content-range': `1000-${data.length - 1}`, 'content-type': 'application/octet-stream' },
    });
    await expectStatus(put, 201);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha512(data)}`), 200);
    const other = randomBytes(99);
    const post = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${sha512(other)}`, { method: 'POST', body: other, headers: { 'content-type': 'application/octet-stream' } });
    await expectStatus(post, 201);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha512(other)}`), 200);
  });

  test('sha512 blob with the wrong sha512 digest → 400 DIGEST_INVALID, nothing stored', async () => {
    const data = randomBytes(100);
    const wrong = sha512(Buffer.from('other'));
    const { url } = await startUpload(base, name);
    await expectError(await fetch(withQuery(url, { digest: wrong }), { method: 'PUT', body: data }), 400, 'DIGEST_INVALID');
    assert.equal(await head(`${base}/v2/${name}/blobs/${wrong}`), 404);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha512(data)}`), 404);
  });

  test('sha512 manifest: references sha512 blobs, PUT and GET by sha512 digest', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', r: randomBytes(4).toString('hex') }));
    const layer = randomBytes(500);
    for (const blob of [config, layer]) {
      const { url } = await startUpload(base, name);
      await expectStatus(await fetch(withQuery(url, { digest: sha512(blob) }), { method: 'PUT', body: blob }), 201);
    }
    const m = {
      schemaVersion: 2, mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha512(config), size: config.length },
      layers: [{ mediaType: MT.ociLayer, digest: sha512(layer), size: layer.length }],
    };
    const body = Buffer.from(JSON.stringify(m));
    const d = sha512(body);
    const { res } = await pushManifest(base, name, d, body, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), d, 'Docker-Content-Digest must match the digest the client provided');
    assert.equal(resolveLocation(base, res).pathname, `/v2/${name}/manifests/${d}`);
    const got = await fetch(`${base}/v2/${name}/manifests/${d}`, { headers: { accept: MT.ociManifest } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(body));
    assert.equal(await head(`${base}/v2/${name}/manifests/${d}`), 200);
    const tagged = await pushManifest(base, name, 'sha512-tag', body, MT.ociManifest);
    await expectStatus(tagged.res, 201);
  });

  test('sha512 manifest PUT with a mismatching sha512 reference → 400 DIGEST_INVALID', async () => {
    const img = await pushRandomImage(base, name, 'for512');
    const { res } = await pushManifest(base, name, sha512(Buffer.from('nope')), img.manifestBytes, MT.ociManifest);
    await expectError(res, 400, 'DIGEST_INVALID');
  });

  test('valid-looking but unsupported algorithm (sha384) → 400 DIGEST_INVALID or UNSUPPORTED', async () => {
    const d = `sha384:${'ab'.repeat(48)}`;
    const { url } = await startUpload(base, name);
    const put = await fetch(withQuery(url, { digest: d }), { method: 'PUT', body: 'data' });
    await expectError(put, 400, ['DIGEST_INVALID', 'UNSUPPORTED']);
    const img = await pushRandomImage(base, name, 'for384');
    await expectError((await pushManifest(base, name, d, img.manifestBytes, MT.ociManifest)).res, 400, ['DIGEST_INVALID', 'UNSUPPORTED']);
    const g = await fetch(`${base}/v2/${name}/blobs/${d}`);
    const text = await g.text();
    assert.ok(g.status >= 400 && g.status < 500, `GET sha384 blob: ${g.status}`);
    parseEnvelope(text, 'GET sha384 blob');
  });
});

describe('bad input leaves nothing behind', () => {
  const name = repo('leftover');
  const storage = () => path.join(b.dataDir, 'storage');

  /** Files (other than the sqlite db) whose content is a non-empty prefix of `data`. */
  async function prefixFiles(data: Buffer): Promise<string[]> {
    const found: string[] = [];
    for (const f of await listFiles(b.dataDir)) {
      if (/\.db(-wal|-shm|-journal)?$/.test(f)) continue;
      try {
        const c = await readFile(f);
        if (c.length > 0 && c.length <= data.length && data.subarray(0, c.length).equals(c)) found.push(f);
      } catch { /* gone */ }
    }
    return found;
  }

  /** Session is either gone (404 BLOB_UPLOAD_UNKNOWN) or resumable (204 with a sane Range); cancel it if alive. */
  async function settleSession(url: URL, maxEnd: number): Promise<'gone' | 'resumable'> {
    const st = await fetch(url);
    if (st.status === 404) {
      await expectError(st, 404, 'BLOB_UPLOAD_UNKNOWN');
      return 'gone';
    }
    await expectStatus(st, 204, 'upload status after a failure');
    const range = st.headers.get('range');
    if (range !== null) {
      const m = /^0-(\d+)$/.exec(range);
      assert.ok(m, `bad Range ${range}`);
      assert.ok(Number(m[1]) <= maxEnd, `Range ${range} claims more than was sent`);
    }
    await expectStatus(await fetch(url, { method: 'DELETE' }), 204);
    return 'resumable';
  }

  async function eventuallyNoLeftovers(data: Buffer, ctx: string): Promise<void> {
    let left: string[] = [];
    for (let i = 0; i < 30; i++) {
      left = [...(await filesWithContent(b.dataDir, [sha256(data)])), ...(await prefixFiles(data))];
      if (left.length === 0) return;
      await sleep(100);
    }
    assert.deepEqual(left, [], `${ctx}: leftover files hold (part of) the rejected upload`);
  }

  test('wrong digest on PUT: no blob, session gone or resumable, no file with the content', async () => {
    const data = randomBytes(4096);
    const wrong = sha256(Buffer.from('definitely different'));
    const { url } = await startUpload(base, name);
    await expectError(await fetch(withQuery(url, { digest: wrong }), { method: 'PUT', body: data }), 400, 'DIGEST_INVALID');
    assert.equal(await head(`${base}/v2/${name}/blobs/${wrong}`), 404);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data)}`), 404);
    await settleSession(url, data.length - 1);
    await eventuallyNoLeftovers(data, 'wrong digest');
    for (const f of await listFiles(storage())) assert.ok(!f.includes(hex(wrong)), `a file is named after the bad digest: ${f}`);
  });

  test('wrong digest after chunked PATCHes: nothing left once the session is settled', async () => {
    const data = randomBytes(3000);
    const { url } = await startUpload(base, name);
    const p = await patchChunk(url, data.subarray(0, 1500), '0-1499');
    await expectStatus(p, 202);
    const loc = resolveLocation(base, p);
    const p2 = await patchChunk(loc, data.subarray(1500), `1500-${data.length - 1}`);
    await expectStatus(p2, 202);
    const loc2 = resolveLocation(base, p2);
    const wrong = sha256(Buffer.from('wrong'));
    await expectError(await fetch(withQuery(loc2, { digest: wrong }), { method: 'PUT' }), 400, 'DIGEST_INVALID');
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data)}`), 404);
    await settleSession(loc2, data.length - 1);
    await eventuallyNoLeftovers(data, 'chunked wrong digest');
  });

  test('PATCH whose Content-Length lies (fewer bytes sent, socket destroyed): session gone or resumable, nothing left', async () => {
    const data = randomBytes(8000);
    const { url } = await startUpload(base, name);
    await lyingRequest(base, 'PATCH', url.pathname + url.search, data.length, data.subarray(0, 4000));
    await sleep(300);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data)}`), 404);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data.subarray(0, 4000))}`), 404);
    await settleSession(url, 3999);
    await eventuallyNoLeftovers(data, 'lying PATCH');
  });

  test('a session interrupted mid-PATCH can be resumed from the Range it reports', async () => {
    const data = randomBytes(8000);
    const { url } = await startUpload(base, name);
    const first = await patchChunk(url, data.subarray(0, 2000), '0-1999');
    await expectStatus(first, 202);
    const loc = resolveLocation(base, first);
    await lyingRequest(base, 'PATCH', loc.pathname + loc.search, 6000, data.subarray(2000, 5000), { 'Content-Range': '2000-7999' });
    await sleep(300);
    const st = await fetch(loc);
    if (st.status === 404) {
      await expectError(st, 404, 'BLOB_UPLOAD_UNKNOWN');
      return; // the registry chose to drop the session: allowed
    }
    await expectStatus(st, 204);
    const m = /^0-(\d+)$/.exec(st.headers.get('range') ?? '');
    assert.ok(m, `Range after interruption: ${st.headers.get('range')}`);
    const next = Number(m[1]) + 1;
    assert.ok(next >= 2000 && next <= 5000, `resume offset ${next} must be between the committed 2000 and the 5000 sent`);
    const rest = await patchChunk(resolveLocation(base, st), data.subarray(next), `${next}-${data.length - 1}`);
    await expectStatus(rest, 202);
    const put = await fetch(withQuery(resolveLocation(base, rest), { digest: sha256(data) }), { method: 'PUT' });
    await expectStatus(put, 201);
    const got = await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
  });

  test('monolithic PUT whose Content-Length lies: no blob, nothing left', async () => {
    const data = randomBytes(6000);
    const { url } = await startUpload(base, name);
    const q = withQuery(url, { digest: sha256(data) });
    await lyingRequest(base, 'PUT', q.pathname + q.search, data.length, data.subarray(0, 2500));
    await sleep(300);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data)}`), 404);
    await settleSession(url, 2499);
    await eventuallyNoLeftovers(data, 'lying PUT');
  });

  test('single POST ?digest= whose Content-Length lies: no blob, nothing left', async () => {
    const data = randomBytes(5000);
    await lyingRequest(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, data.length, data.subarray(0, 1000));
    await sleep(300);
    assert.equal(await head(`${base}/v2/${name}/blobs/${sha256(data)}`), 404);
    await eventuallyNoLeftovers(data, 'lying POST');
  });

  test('finished and cancelled sessions leave exactly one copy of the blob and no temp files', async () => {
    const data = randomBytes(5000);
    const { url } = await startUpload(base, name);
    const p = await patchChunk(url, data.subarray(0, 2500), '0-2499');
    await expectStatus(p, 202);
    const put = await fetch(withQuery(resolveLocation(base, p), { digest: sha256(data) }), { method: 'PUT', body: data.subarray(2500), headers: { 'content-range': `2500-${data.length - 1}` } });
    await expectStatus(put, 201);
    const cancelled = await startUpload(base, name);
    await expectStatus(await patchChunk(cancelled.url, data.subarray(0, 1234), '0-1233'), 202);
    await expectStatus(await fetch(cancelled.url, { method: 'DELETE' }), 204);
    let copies: string[] = [];
    let partial: string[] = [];
    for (let i = 0; i < 30; i++) {
      copies = await filesWithContent(b.dataDir, [sha256(data)]);
      partial = (await prefixFiles(data)).filter((f) => !copies.includes(f));
      if (copies.length === 1 && partial.length === 0) break;
      await sleep(100);
    }
    assert.equal(copies.length, 1, `expected exactly one stored copy, found ${JSON.stringify(copies)}`);
    assert.ok(copies[0].startsWith(storage() + path.sep), `blob stored outside <data>/storage: ${copies[0]}`);
    assert.deepEqual(partial, [], 'temp files of finished/cancelled sessions remain');
  });
});

describe('client mistakes never cause a 5xx', () => {
  const name = repo('fuzz');
  let img: Image;
  let blob: string;

  before(async () => {
    img = await pushRandomImage(base, name, 'latest');
    blob = sha256(img.layers[0]);
  });

  type Ctx = { session: () => Promise<URL> };
  interface Case { label: string; envelope?: boolean; run: (c: Ctx) => Promise<{ status: number; body: string }> }

  const viaFetch = async (url: string | URL, init: RequestInit = {}) => {
    const res = await fetch(url, init);
    return { status: res.status, body: await res.text() };
  };
  const viaRaw = async (method: string, p: string, headers: Record<string, string> = {}, body?: string | Buffer) => {
    const res = await rawRequest(base, method, p, { headers, body });
    return { status: res.status, body: res.body.toString() };
  };
  const patchWith = (contentRange: string, body: Buffer = Buffer.from('0123456789')) => async (c: Ctx) =>
    viaRaw('PATCH', (await c.session()).pathname + (await c.session()).search, { 'content-range': contentRange, 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body);
  const putManifest = (body: () => string | Buffer, contentType?: string) => async () =>
    viaRaw('PUT', `/v2/${name}/manifests/fz`, contentType === undefined ? {} : { 'content-type': contentType }, body());
  const desc = (extra: Record<string, unknown>) => JSON.stringify({ ...img.manifest, ...extra });

  const cases: Case[] = [
    { label: 'PATCH Content-Range "bytes=0-9"', run: patchWith('bytes=0-9') },
    { label: 'PATCH Content-Range "abc"', run: patchWith('abc') },
    { label: 'PATCH Content-Range "5-2" (end before start)', run: patchWith('5-2') },
    { label: 'PATCH Content-Range "-1-8" (negative)', run: patchWith('-1-8') },
    { label: 'PATCH Content-Range "0-" (open)', run: patchWith('0-') },
    { label: 'PATCH Content-Range "" (empty)', run: patchWith('') },
    { label: 'PATCH Content-Range huge numbers', run: patchWith('0-99999999999999999999999') },
    { label: 'PATCH Content-Range 0-9 with 3 body bytes', run: patchWith('0-9', Buffer.from('abc')) },
    { label: 'PATCH Content-Range 0-2 with 10 body bytes', run: patchWith('0-2') },
    { label: 'PUT upload ?digest=garbage', run: async (c) => viaFetch(withQuery(await c.session(), { digest: 'garbage' }), { method: 'PUT', body: 'x' }) },
    { label: 'PUT upload ?digest= (empty)', run: async (c) => viaFetch(withQuery(await c.session(), { digest: '' }), { method: 'PUT', body: 'x' }) },
    {
      label: 'PUT upload with two digest params', run: async (c) => {
        const u = await c.session();
        u.searchParams.append('digest', sha256('x'));
        u.searchParams.append('digest', sha256('y'));
        return viaFetch(u, { method: 'PUT', body: 'x' });
      },
    },
    { label: 'PUT upload with Content-Range "zz"', run: async (c) => viaFetch(withQuery(await c.session(), { digest: sha256('x') }), { method: 'PUT', body: 'x', headers: { 'content-range': 'zz' } }) },
    { label: 'GET blob Range "bytes=abc"', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=abc' } }) },
    { label: 'GET blob Range "bytes=-0"', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=-0' } }) },
    { label: 'GET blob Range "bytes=5-2"', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=5-2' } }) },
    { label: 'GET blob Range "bytes=-1-5"', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=-1-5' } }) },
    { label: 'GET blob multi-range', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=0-1,5-6' } }) },
    { label: 'GET blob Range "items=0-5"', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'items=0-5' } }) },
    { label: 'GET blob Range huge start', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/${blob}`, { headers: { range: 'bytes=99999999999999999999-' } }) },
    { label: 'tags/list?n=abc', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=abc`) },
    { label: 'tags/list?n=-1', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=-1`) },
    { label: 'tags/list?n=1.5', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=1.5`) },
    { label: 'tags/list?n=huge', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=99999999999999999999999`) },
    { label: 'tags/list?n= (empty)', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=`) },
    { label: 'tags/list?n=1e400', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=1e400`) },
    { label: 'tags/list?n=10&n=20', run: async () => viaFetch(`${base}/v2/${name}/tags/list?n=10&n=20`) },
    { label: 'tags/list?last= (empty)', run: async () => viaFetch(`${base}/v2/${name}/tags/list?last=`) },
    { label: 'tags/list?last=<invalid tag>', run: async () => viaFetch(`${base}/v2/${name}/tags/list?last=%00%ff`) },
    { label: '_catalog?n=abc', run: async () => viaFetch(`${base}/v2/_catalog?n=abc`) },
    { label: '_catalog?n=-5', run: async () => viaFetch(`${base}/v2/_catalog?n=-5`) },
    { label: '_catalog?n=huge', run: async () => viaFetch(`${base}/v2/_catalog?n=99999999999999999999999`) },
    { label: '_catalog?last=<garbage>', run: async () => viaFetch(`${base}/v2/_catalog?last=%2e%2e%2f%2e%2e`) },
    { label: 'GET manifest Accept garbage', run: async () => viaFetch(`${base}/v2/${name}/manifests/latest`, { headers: { accept: ';;;,,,=;q' } }) },
    { label: 'GET manifest Accept with bad q', run: async () => viaFetch(`${base}/v2/${name}/manifests/latest`, { headers: { accept: `${MT.ociManifest};q=abc` } }) },
    { label: 'GET manifest Accept 4000 chars', run: async () => viaFetch(`${base}/v2/${name}/manifests/latest`, { headers: { accept: 'x'.repeat(4000) } }) },
    { label: 'PUT manifest without Content-Type', run: putManifest(() => img.manifestBytes) },
    { label: 'PUT manifest empty body', run: putManifest(() => '', MT.ociManifest) },
    { label: 'PUT manifest empty body, no Content-Type', run: putManifest(() => '') },
    { label: 'PUT manifest body "null"', run: putManifest(() => 'null', MT.ociManifest) },
    { label: 'PUT manifest body "[]"', run: putManifest(() => '[]', MT.ociManifest) },
    { label: 'PUT manifest body a JSON string', run: putManifest(() => '"manifest"', MT.ociManifest) },
    { label: 'PUT manifest binary garbage', run: putManifest(() => randomBytes(300), MT.ociManifest) },
    { label: 'PUT manifest schemaVersion as string', run: putManifest(() => desc({ schemaVersion: '2' }), MT.ociManifest) },
    { label: 'PUT manifest config null', run: putManifest(() => desc({ config: null }), MT.ociManifest) },
    { label: 'PUT manifest layers [null]', run: putManifest(() => desc({ layers: [null] }), MT.ociManifest) },
    { label: 'PUT manifest negative size', run: putManifest(() => desc({ layers: [{ mediaType: MT.ociLayer, digest: blob, size: -1 }] }), MT.ociManifest) },
    { label: 'PUT manifest size as string', run: putManifest(() => desc({ layers: [{ mediaType: MT.ociLayer, digest: blob, size: '10' }] }), MT.ociManifest) },
    { label: 'PUT manifest huge size', run: putManifest(() => desc({ layers: [{ mediaType: MT.ociLayer, digest: blob, size: 1e300 }] }), MT.ociManifest) },
    { label: 'PUT manifest annotations not strings', run: putManifest(() => desc({ annotations: { a: 1, b: { c: [] } } }), MT.ociManifest) },
    { label: 'PUT manifest subject garbage', run: putManifest(() => desc({ subject: 'nope' }), MT.ociManifest) },
    { label: 'PUT manifest Content-Type text/plain', run: putManifest(() => img.manifestBytes, 'text/plain') },
    { label: 'PUT manifest Content-Type garbage', run: putManifest(() => img.manifestBytes, ';;;') },
    { label: 'PUT manifest deeply nested JSON', run: putManifest(() => '['.repeat(5000) + ']'.repeat(5000), MT.ociManifest) },
    { label: 'PUT index manifests not an array', run: putManifest(() => JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: {} }), MT.ociIndex) },
    { label: 'POST uploads ?mount=garbage&from=x', run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/?mount=garbage&from=x`, { method: 'POST' }) },
    { label: 'POST uploads ?mount=<digest>&from=Invalid..Name', run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/?mount=${blob}&from=Invalid..Name`, { method: 'POST' }) },
    { label: 'POST uploads ?mount=<digest>&from=../../etc', run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/?mount=${blob}&from=..%2F..%2Fetc`, { method: 'POST' }) },
    { label: 'POST uploads ?digest=garbage with body', run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/?digest=garbage`, { method: 'POST', body: 'abc' }) },
    { label: 'referrers ?artifactType= (empty)', run: async () => viaFetch(`${base}/v2/${name}/referrers/${img.digest}?artifactType=`) },
    { label: 'referrers/sha256:xyz', run: async () => viaFetch(`${base}/v2/${name}/referrers/sha256:xyz`) },
    { label: 'GET upload with empty session id', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/`) },
    { label: 'PATCH uploads/ without a session id', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'PATCH', body: 'x' }) },
    { label: 'DELETE /v2/<name>/tags/list', envelope: false, run: async () => viaFetch(`${base}/v2/${name}/tags/list`, { method: 'DELETE' }) },
    { label: 'PUT /v2/', envelope: false, run: async () => viaFetch(`${base}/v2/`, { method: 'PUT', body: 'x' }) },
    { label: 'GET /v2/<name>/manifests/ (empty reference)', envelope: false, run: async () => viaRaw('GET', `/v2/${name}/manifests/`) },
    { label: 'GET with %-garbage in the path', envelope: false, run: async () => viaRaw('GET', `/v2/${name}/manifests/%ff%fe%`) },
  ];

  for (const c of cases) {
    test(`fuzz: ${c.label} → < 500${c.envelope === false ? '' : ' (4xx carry an errors envelope with spec codes)'}`, async () => {
      let session: URL | null = null;
      const ctx: Ctx = { session: async () => (session ??= (await startUpload(base, name)).url) };
      const r = await c.run(ctx);
      assert.ok(r.status < 500, `${c.label}: got ${r.status} ${r.body.slice(0, 300)}`);
      if (r.status >= 400 && c.envelope !== false) {
        const errs = parseEnvelope(r.body, c.label);
        assert.ok(errs.some((e) => SPEC_CODES.includes(e.code) || e.code === 'TAG_INVALID'), `${c.label}: non-spec error code(s) ${errs.map((e) => e.code)}`);
      }
    });
  }

  test('after the fuzz the registry is healthy and the image is intact', async () => {
    const v2 = await fetch(`${base}/v2/`);
    assert.equal(v2.status, 200);
    const got = await fetch(`${base}/v2/${name}/manifests/latest`, { headers: { accept: MT.ociManifest } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(img.manifestBytes));
  });
});
