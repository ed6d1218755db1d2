// Conformance: API version check and the Pull workflow (manifests and blobs, GET and HEAD, content
// negotiation, range requests). OCI distribution-spec v1.1 "Pull" section.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage, type Image } from '../helpers/oci.js';
import { expectError, expectStatus, mediaTypeOf, randomDigest, rawRequest, rawSocket, repo, splitRaw } from './util.js';

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

describe('API version check', () => {
  test('GET /v2/ → 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await fetch(`${base}/v2/`);
    await expectStatus(res, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('GET /v2 (no trailing slash) is not a server error', async () => {
    const res = await fetch(`${base}/v2`);
    await res.arrayBuffer();
    assert.ok(res.status < 500, `got ${res.status}`);
  });
});

describe('pull manifests', () => {
  const name = repo('pull');
  let img: Image;

  before(async () => {
    img = await pushRandomImage(base, name, 'v1');
  });

  test('GET by tag → 200, exact bytes, Docker-Content-Digest, Content-Type, Content-Length', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { headers: { accept: MT.ociManifest } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(img.manifestBytes), 'manifest must be served byte-for-byte as pushed');
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    assert.equal(res.headers.get('content-type'), MT.ociManifest, 'Content-Type is the manifest media type, without parameters');
    assert.equal(res.headers.get('content-length'), String(img.manifestBytes.length));
  });

  test('GET by digest → 200 with the same bytes and headers', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/${img.digest}`, { headers: { accept: MT.ociManifest } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(img.manifestBytes));
    assert.equal(sha256(body), img.digest);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
    assert.equal(res.headers.get('content-length'), String(img.manifestBytes.length));
  });

  test('HEAD by tag → 200 with Docker-Content-Digest, Content-Type, Content-Length', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { method: 'HEAD', headers: { accept: MT.ociManifest } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
    assert.equal(res.headers.get('content-length'), String(img.manifestBytes.length));
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('HEAD by digest → 200 with the same headers', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/${img.digest}`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    assert.equal(res.headers.get('content-length'), String(img.manifestBytes.length));
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
  });

  test('HEAD manifest: no body bytes on the wire', async () => {
    const raw = await rawSocket(base, `HEAD /v2/${name}/manifests/v1 HTTP/1.1\r\nHost: x\r\nAccept: ${MT.ociManifest}\r\nConnection: close\r\n\r\n`);
    const r = splitRaw(raw);
    assert.equal(r.status, 200);
    assert.match(r.head, new RegExp(`\\r\\ncontent-length: ${img.manifestBytes.length}\\r?(\\n|$)`, 'i'));
    assert.equal(r.body.length, 0, `HEAD sent ${r.body.length} body bytes`);
  });

  test('GET without Accept serves the manifest as stored', async () => {
    const res = await rawRequest(base, 'GET', `/v2/${name}/manifests/v1`);
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(String(res.headers['content-type'])), MT.ociManifest);
    assert.ok(res.body.equals(img.manifestBytes));
  });

  test('GET with Accept */* serves the manifest as stored', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { headers: { accept: '*/*' } });
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
    await res.arrayBuffer();
  });

  test('GET with an Accept list that includes the stored type (among others, with q params) → 200', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, {
      headers: { accept: `${MT.dockerManifest}, ${MT.dockerList};q=0.9, ${MT.ociManifest};q=0.5, ${MT.ociIndex}` },
    });
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
    assert.equal(res.headers.get('docker-content-digest'), img.digest);
    await res.arrayBuffer();
  });

  test('Accept given as several separate header lines is honoured', async () => {
    const h = new Headers();
    h.append('accept', MT.dockerManifest);
    h.append('accept', MT.ociManifest);
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { headers: h });
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest);
    await res.arrayBuffer();
  });

  test('OCI manifest by tag with Accept listing only Docker types → 404 MANIFEST_UNKNOWN', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { headers: { accept: `${MT.dockerManifest}, ${MT.dockerList}` } });
    await expectError(res, 404, 'MANIFEST_UNKNOWN');
  });

  test('OCI manifest by tag with Accept listing only the OCI index type → 404 MANIFEST_UNKNOWN', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/v1`, { headers: { accept: MT.ociIndex } });
    await expectError(res, 404, 'MANIFEST_UNKNOWN');
  });

  test('unknown tag → 404 MANIFEST_UNKNOWN (GET) and 404 (HEAD)', async () => {
    await expectError(await fetch(`${base}/v2/${name}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
    const head = await fetch(`${base}/v2/${name}/manifests/nope`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('unknown digest → 404 MANIFEST_UNKNOWN (GET) and 404 (HEAD)', async () => {
    const d = randomDigest();
    await expectError(await fetch(`${base}/v2/${name}/manifests/${d}`), 404, 'MANIFEST_UNKNOWN');
    const head = await fetch(`${base}/v2/${name}/manifests/${d}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('manifest of another repository is not visible here → 404', async () => {
    const other = repo('pull-other');
    await pushBlob(base, other, Buffer.from('x')); // make sure the repository exists
    await expectError(await fetch(`${base}/v2/${other}/manifests/${img.digest}`), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    await expectError(await fetch(`${base}/v2/${other}/manifests/v1`), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
  });

  test('manifest GET on a repository that does not exist → 404 (NAME_UNKNOWN or MANIFEST_UNKNOWN)', async () => {
    await expectError(await fetch(`${base}/v2/${repo('ghost')}/manifests/latest`), 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
  });
});

describe('pull: other manifest media types', () => {
  const name = repo('pull-types');
  let oci: Image;
  let docker: Image;
  let index: { bytes: Buffer; digest: string };
  let list: { bytes: Buffer; digest: string };

  before(async () => {
    oci = await pushRandomImage(base, name, 'oci');
    docker = await pushRandomImage(base, name, 'docker', { mediaType: MT.dockerManifest });
    const idx = {
      schemaVersion: 2, mediaType: MT.ociIndex,
      manifests: [{ mediaType: MT.ociManifest, digest: oci.digest, size: oci.manifestBytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    const p1 = await pushManifest(base, name, 'index', idx, MT.ociIndex);
    assert.equal(p1.res.status, 201, await p1.res.text());
    index = { bytes: p1.body, digest: p1.digest };
    const ml = {
      schemaVersion: 2, mediaType: MT.dockerList,
      manifests: [{ mediaType: MT.dockerManifest, digest: docker.digest, size: docker.manifestBytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    const p2 = await pushManifest(base, name, 'list', ml, MT.dockerList);
    assert.equal(p2.res.status, 201, await p2.res.text());
    list = { bytes: p2.body, digest: p2.digest };
  });

  test('Docker schema2 manifest is served with its media type', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/docker`, { headers: { accept: MT.dockerManifest } });
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.dockerManifest);
    assert.equal(res.headers.get('docker-content-digest'), docker.digest);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(docker.manifestBytes));
  });

  test('OCI index is served with its media type (by tag and by digest)', async () => {
    for (const ref of ['index', index.digest]) {
      const res = await fetch(`${base}/v2/${name}/manifests/${ref}`, { headers: { accept: MT.ociIndex } });
      assert.equal(res.status, 200, ref);
      assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociIndex);
      assert.equal(res.headers.get('docker-content-digest'), index.digest);
      assert.equal(res.headers.get('content-length'), String(index.bytes.length));
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(index.bytes));
    }
  });

  test('Docker manifest list is served with its media type', async () => {
    const res = await fetch(`${base}/v2/${name}/manifests/list`, { headers: { accept: MT.dockerList } });
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.dockerList);
    assert.equal(res.headers.get('docker-content-digest'), list.digest);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(list.bytes));
  });

  test('without Accept each manifest is served as stored', async () => {
    const want: Record<string, string> = { oci: MT.ociManifest, docker: MT.dockerManifest, index: MT.ociIndex, list: MT.dockerList };
    for (const [tag, mt] of Object.entries(want)) {
      const res = await rawRequest(base, 'GET', `/v2/${name}/manifests/${tag}`);
      assert.equal(res.status, 200, tag);
      assert.equal(mediaTypeOf(String(res.headers['content-type'])), mt, tag);
    }
  });

  test('OCI index by tag with Accept: OCI manifest only → 404 MANIFEST_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/${name}/manifests/index`, { headers: { accept: MT.ociManifest } }), 404, 'MANIFEST_UNKNOWN');
  });

  test('Docker manifest list by tag with Accept: OCI index only → 404 MANIFEST_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/${name}/manifests/list`, { headers: { accept: MT.ociIndex } }), 404, 'MANIFEST_UNKNOWN');
  });

  test('Docker schema2 manifest by tag with Accept: OCI manifest only → 404 MANIFEST_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/${name}/manifests/docker`, { headers: { accept: MT.ociManifest } }), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest pushed without a mediaType field is served with the Content-Type it was pushed with', async () => {
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await pushBlob(base, name, cfg);
    const m = { schemaVersion: 2, config: { mediaType: MT.ociConfig, digest: sha256(cfg), size: cfg.length }, layers: [] };
    const p = await pushManifest(base, name, 'nomt', m, MT.ociManifest);
    assert.equal(p.res.status, 201, await p.res.text());
    const res = await rawRequest(base, 'GET', `/v2/${name}/manifests/nomt`);
    assert.equal(res.status, 200);
    assert.equal(mediaTypeOf(String(res.headers['content-type'])), MT.ociManifest);
    assert.ok(res.body.equals(p.body));
  });
});

describe('pull blobs', () => {
  const name = repo('pull-blob');
  const data = randomBytes(1000);
  const digest = sha256(data);

  before(async () => {
    await pushBlob(base, name, data);
  });

  test('GET blob → 200, exact bytes, Docker-Content-Digest, Content-Length', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('content-length'), String(data.length));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
  });

  test('HEAD blob → 200 with Docker-Content-Digest and Content-Length, no body on the wire', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('content-length'), String(data.length));
    const r = splitRaw(await rawSocket(base, `HEAD /v2/${name}/blobs/${digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0, `HEAD sent ${r.body.length} body bytes`);
  });

  test('Range bytes=0-9 → 206, Content-Range bytes 0-9/total, Content-Length 10', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=0-9' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 0-9/${data.length}`);
    assert.equal(res.headers.get('content-length'), '10');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(0, 10)));
  });

  test('Range in the middle bytes=100-199 → exact slice', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 100-199/${data.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(100, 200)));
  });

  test('open-ended Range bytes=990- → the last 10 bytes', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=990-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 990-999/${data.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(990)));
  });

  test('suffix Range bytes=-5 → the last 5 bytes', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=-5' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 995-999/${data.length}`);
    assert.equal(res.headers.get('content-length'), '5');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(995)));
  });

  test('Range end past the end is clamped: bytes=900-5000 → 900-999', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=900-5000' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 900-999/${data.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(900)));
  });

  test('unsatisfiable Range bytes=1000- → 416 with Content-Range bytes */1000', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: `bytes=${data.length}-` } });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('content-range'), `bytes */${data.length}`);
    await res.arrayBuffer();
  });

  test('unsatisfiable Range bytes=5000-6000 → 416 with Content-Range bytes */1000', async () => {
    const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=5000-6000' } });
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('content-range'), `bytes */${data.length}`);
    await res.arrayBuffer();
  });

  test('unknown blob → 404 BLOB_UNKNOWN (GET) and 404 (HEAD)', async () => {
    const d = randomDigest();
    await expectError(await fetch(`${base}/v2/${name}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    const head = await fetch(`${base}/v2/${name}/blobs/${d}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('a blob pushed only to another repository → 404 BLOB_UNKNOWN here', async () => {
    const other = repo('pull-blob-other');
    await pushBlob(base, other, Buffer.from('something else'));
    await expectError(await fetch(`${base}/v2/${other}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const head = await fetch(`${base}/v2/${other}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('manifests are also retrievable through the blobs endpoint of their repository, or 404 — never 5xx', async () => {
    const img = await pushRandomImage(base, name, 'mb');
    const res = await fetch(`${base}/v2/${name}/blobs/${img.digest}`);
    assert.ok([200, 404].includes(res.status), `got ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 200) assert.equal(sha256(body), img.digest);
  });
});
