// Conformance: content management — DELETE manifests (by digest and by tag) and blobs, and the
// UNSUPPORTED answers when deletion is disabled.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage } from '../helpers/oci.js';
import { expectError, expectStatus, randomDigest, repo } from './util.js';

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

async function status(url: string, method = 'GET'): Promise<number> {
  const res = await fetch(url, { method, headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('delete manifests', () => {
  test('DELETE by digest → 202; then GET/HEAD by digest and by its tag → 404 MANIFEST_UNKNOWN', async () => {
    const name = repo('del');
    const img = await pushRandomImage(base, name, 'gone');
    const res = await fetch(`${base}/v2/${name}/manifests/${img.digest}`, { method: 'DELETE' });
    await expectStatus(res, 202);
    await expectError(await fetch(`${base}/v2/${name}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    assert.equal(await status(`${base}/v2/${name}/manifests/${img.digest}`, 'HEAD'), 404);
    await expectError(await fetch(`${base}/v2/${name}/manifests/gone`), 404, 'MANIFEST_UNKNOWN');
  });

  test('deleting a manifest by digest removes every tag pointing at it from tags/list', async () => {
    const name = repo('del');
    const keep = await pushRandomImage(base, name, 'keep');
    const img = await pushRandomImage(base, name, 't1');
    await expectStatus((await pushManifest(base, name, 't2', img.manifestBytes, MT.ociManifest)).res, 201);
    await expectStatus(await fetch(`${base}/v2/${name}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
    const list = await fetch(`${base}/v2/${name}/tags/list`);
    const body = JSON.parse(await expectStatus(list, 200)) as { tags: string[] };
    assert.deepEqual(body.tags, ['keep']);
    assert.equal(await status(`${base}/v2/${name}/manifests/${keep.digest}`), 200);
  });

  test('DELETE by tag → 202 and removes only that tag; manifest stays reachable by digest and other tags', async () => {
    const name = repo('del');
    const img = await pushRandomImage(base, name, 'a');
    await expectStatus((await pushManifest(base, name, 'b', img.manifestBytes, MT.ociManifest)).res, 201);
    await expectStatus(await fetch(`${base}/v2/${name}/manifests/a`, { method: 'DELETE' }), 202);
    await expectError(await fetch(`${base}/v2/${name}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
    assert.equal(await status(`${base}/v2/${name}/manifests/${img.digest}`), 200);
    assert.equal(await status(`${base}/v2/${name}/manifests/b`), 200);
    const body = JSON.parse(await expectStatus(await fetch(`${base}/v2/${name}/tags/list`), 200)) as { tags: string[] };
    assert.deepEqual(body.tags, ['b']);
  });

  test('DELETE of an unknown tag → 404 MANIFEST_UNKNOWN', async () => {
    const name = repo('del');
    await pushRandomImage(base, name, 'exists');
    await expectError(await fetch(`${base}/v2/${name}/manifests/missing`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE of an unknown manifest digest → 404 MANIFEST_UNKNOWN', async () => {
    const name = repo('del');
    await pushRandomImage(base, name, 'exists');
    await expectError(await fetch(`${base}/v2/${name}/manifests/${randomDigest()}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE manifest in a repository that does not exist → 404', async () => {
    const res = await fetch(`${base}/v2/${repo('ghost')}/manifests/${randomDigest()}`, { method: 'DELETE' });
    await expectError(res, 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
  });

  test('deleting a manifest in one repository leaves the same manifest in another repository', async () => {
    const r1 = repo('del');
    const r2 = repo('del');
    const img = await pushRandomImage(base, r1, 'x');
    for (const blob of [img.config, ...img.layers]) await pushBlob(base, r2, blob);
    await expectStatus((await pushManifest(base, r2, 'x', img.manifestBytes, MT.ociManifest)).res, 201);
    await expectStatus(await fetch(`${base}/v2/${r1}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
    assert.equal(await status(`${base}/v2/${r1}/manifests/${img.digest}`), 404);
    assert.equal(await status(`${base}/v2/${r2}/manifests/${img.digest}`), 200);
    assert.equal(await status(`${base}/v2/${r2}/manifests/x`), 200);
  });

  test('a deleted manifest can be pushed again', async () => {
    const name = repo('del');
    const img = await pushRandomImage(base, name, 'again');
    await expectStatus(await fetch(`${base}/v2/${name}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
    await expectStatus((await pushManifest(base, name, 'again', img.manifestBytes, MT.ociManifest)).res, 201);
    assert.equal(await status(`${base}/v2/${name}/manifests/again`), 200);
  });
});

describe('delete blobs', () => {
  test('DELETE blob → 202; then HEAD → 404 and GET → 404 BLOB_UNKNOWN', async () => {
    const name = repo('del-blob');
    const data = randomBytes(100);
    await pushBlob(base, name, data);
    const res = await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`, { method: 'DELETE' });
    await expectStatus(res, 202);
    assert.equal(await status(`${base}/v2/${name}/blobs/${sha256(data)}`, 'HEAD'), 404);
    await expectError(await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`), 404, 'BLOB_UNKNOWN');
  });

  test('DELETE unknown blob → 404 BLOB_UNKNOWN', async () => {
    const name = repo('del-blob');
    await pushBlob(base, name, randomBytes(8));
    await expectError(await fetch(`${base}/v2/${name}/blobs/${randomDigest()}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  test('deleting a blob from one repository leaves it in another', async () => {
    const r1 = repo('del-blob');
    const r2 = repo('del-blob');
    const data = randomBytes(200);
    await pushBlob(base, r1, data);
    await pushBlob(base, r2, data);
    await expectStatus(await fetch(`${base}/v2/${r1}/blobs/${sha256(data)}`, { method: 'DELETE' }), 202);
    assert.equal(await status(`${base}/v2/${r1}/blobs/${sha256(data)}`), 404);
    const got = await fetch(`${base}/v2/${r2}/blobs/${sha256(data)}`);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
  });

  test('a deleted blob can be uploaded again', async () => {
    const name = repo('del-blob');
    const data = randomBytes(50);
    await pushBlob(base, name, data);
    await expectStatus(await fetch(`${base}/v2/${name}/blobs/${sha256(data)}`, { method: 'DELETE' }), 202);
    await pushBlob(base, name, data);
    assert.equal(await status(`${base}/v2/${name}/blobs/${sha256(data)}`), 200);
  });
});

describe('deletion disabled (registry.deleteEnabled: false)', () => {
  let db: BerthProcess;
  const name = repo('nodel');
  let img: Awaited<ReturnType<typeof pushRandomImage>>;

  before(async () => {
    db = await startBerth({ config: { registry: { deleteEnabled: false } } });
    img = await pushRandomImage(db.url, name, 'stay');
  });
  after(async () => {
    await db?.stop();
    if (db) await removeDir(db.dataDir);
  });

  test('DELETE manifest by digest → 405 UNSUPPORTED, manifest still there', async () => {
    await expectError(await fetch(`${db.url}/v2/${name}/manifests/${img.digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    assert.equal(await status(`${db.url}/v2/${name}/manifests/${img.digest}`), 200);
  });

  test('DELETE manifest by tag → 405 UNSUPPORTED, tag still there', async () => {
    await expectError(await fetch(`${db.url}/v2/${name}/manifests/stay`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    assert.equal(await status(`${db.url}/v2/${name}/manifests/stay`), 200);
  });

  test('DELETE blob → 405 UNSUPPORTED, blob still there', async () => {
    const d = sha256(img.layers[0]);
    await expectError(await fetch(`${db.url}/v2/${name}/blobs/${d}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    assert.equal(await status(`${db.url}/v2/${name}/blobs/${d}`), 200);
  });

  test('cancelling an upload session is still allowed (204)', async () => {
    const start = await fetch(`${db.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
    await expectStatus(start, 202);
    const loc = new URL(start.headers.get('location')!, db.url);
    await expectStatus(await fetch(loc, { method: 'DELETE' }), 204);
  });
});
