// Conformance: pushing manifests (PUT /v2/<name>/manifests/<reference>) — success headers, digest
// checks, validation errors, missing blobs, size limits, schema1 refusal, tag moves.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage } from '../helpers/oci.js';
import { expectError, expectStatus, mediaTypeOf, randomDigest, repo, resolveLocation } from './util.js';

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

/** Pushes a config and one layer to `name`; returns an OCI manifest object referencing them. */
async function blobsFor(name: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(256);
  await pushBlob(base, name, config);
  await pushBlob(base, name, layer);
  return {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }],
    ...extra,
  };
}

async function getManifest(name: string, ref: string): Promise<Response> {
  return fetch(`${base}/v2/${name}/manifests/${ref}`, { headers: { accept: [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ') } });
}

describe('successful manifest push', () => {
  const name = repo('mf-ok');

  test('PUT by tag → 201 with Location (pullable) and Docker-Content-Digest', async () => {
    const m = await blobsFor(name);
    const { res, digest, body } = await pushManifest(base, name, 'one', m, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const loc = resolveLocation(base, res);
    assert.ok(loc.pathname === `/v2/${name}/manifests/${digest}` || loc.pathname === `/v2/${name}/manifests/one`, `Location ${loc.pathname}`);
    const got = await fetch(loc, { headers: { accept: MT.ociManifest } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(body));
  });

  test('PUT by digest → 201 with Location /v2/<name>/manifests/<digest> and Docker-Content-Digest', async () => {
    const m = await blobsFor(name);
    const body = Buffer.from(JSON.stringify(m));
    const digest = sha256(body);
    const { res } = await pushManifest(base, name, digest, body, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(resolveLocation(base, res).pathname, `/v2/${name}/manifests/${digest}`);
    const got = await getManifest(name, digest);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(body));
  });

  test('the registry stores the exact bytes (unusual whitespace and key order preserved)', async () => {
    const m = await blobsFor(name);
    const body = Buffer.from(`{\n   "layers" : ${JSON.stringify(m.layers)},\n\t"config":${JSON.stringify(m.config)} ,"schemaVersion":2,"mediaType":"${MT.ociManifest}"   }\n`);
    const { res, digest } = await pushManifest(base, name, 'ws', body, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const got = await getManifest(name, 'ws');
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(body));
    assert.equal(got.headers.get('docker-content-digest'), digest);
  });

  test('the same manifest can be pushed twice (idempotent) and under several tags', async () => {
    const m = await blobsFor(name);
    const a = await pushManifest(base, name, 'twice', m, MT.ociManifest);
    await expectStatus(a.res, 201);
    const c = await pushManifest(base, name, 'twice', m, MT.ociManifest);
    await expectStatus(c.res, 201);
    const d = await pushManifest(base, name, 'thrice', m, MT.ociManifest);
    await expectStatus(d.res, 201);
    for (const t of ['twice', 'thrice']) {
      const got = await getManifest(name, t);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('docker-content-digest'), a.digest);
      await got.arrayBuffer();
    }
  });

  test('Content-Type parameters are ignored on PUT', async () => {
    const m = await blobsFor(name);
    const { res, digest } = await pushManifest(base, name, 'params', m, `${MT.ociManifest}; charset=utf-8`);
    await expectStatus(res, 201);
    const got = await getManifest(name, 'params');
    assert.equal(got.headers.get('docker-content-digest'), digest);
    assert.equal(mediaTypeOf(got.headers.get('content-type')), MT.ociManifest);
    await got.arrayBuffer();
  });

  test('PUT by tag moves the tag; the old manifest stays reachable by digest', async () => {
    const first = await pushRandomImage(base, name, 'moving');
    const second = await pushRandomImage(base, name, 'moving');
    assert.notEqual(first.digest, second.digest);
    const got = await getManifest(name, 'moving');
    assert.equal(got.headers.get('docker-content-digest'), second.digest);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(second.manifestBytes));
    const old = await getManifest(name, first.digest);
    assert.equal(old.status, 200);
    assert.ok(Buffer.from(await old.arrayBuffer()).equals(first.manifestBytes));
  });

  test('a manifest with an empty layers list is accepted', async () => {
    const m = await blobsFor(name);
    const { res } = await pushManifest(base, name, 'nolayers', { ...m, layers: [] }, MT.ociManifest);
    await expectStatus(res, 201);
  });

  test('an index whose children exist in the repository is accepted', async () => {
    const img = await pushRandomImage(base, name, 'child');
    const idx = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: img.digest, size: img.manifestBytes.length }] };
    const { res, digest } = await pushManifest(base, name, 'idx', idx, MT.ociIndex);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
  });
});

describe('manifest push errors', () => {
  const name = repo('mf-bad');

  test('PUT by digest with a body that does not match → 400 DIGEST_INVALID, nothing stored', async () => {
    const m = await blobsFor(name);
    const wrong = randomDigest();
    const { res } = await pushManifest(base, name, wrong, m, MT.ociManifest);
    await expectError(res, 400, 'DIGEST_INVALID');
    const g = await getManifest(name, wrong);
    assert.equal(g.status, 404);
    await g.arrayBuffer();
    const g2 = await getManifest(name, sha256(Buffer.from(JSON.stringify(m))));
    assert.equal(g2.status, 404, 'the manifest must not be stored under its real digest either');
    await g2.arrayBuffer();
  });

  test('malformed JSON → 400 MANIFEST_INVALID', async () => {
    const { res } = await pushManifest(base, name, 'broken', Buffer.from('{"schemaVersion": 2, "mediaType": '), MT.ociManifest);
    await expectError(res, 400, 'MANIFEST_INVALID');
    const g = await getManifest(name, 'broken');
    assert.equal(g.status, 404);
    await g.arrayBuffer();
  });

  test('mediaType field disagrees with Content-Type → 400 MANIFEST_INVALID', async () => {
    const m = await blobsFor(name);
    await expectError((await pushManifest(base, name, 'mismatch', m, MT.ociIndex)).res, 400, 'MANIFEST_INVALID');
    await expectError((await pushManifest(base, name, 'mismatch', m, MT.dockerManifest)).res, 400, 'MANIFEST_INVALID');
  });

  test('OCI manifest without a config → 400 MANIFEST_INVALID', async () => {
    const m = await blobsFor(name);
    delete m.config;
    await expectError((await pushManifest(base, name, 'noconfig', m, MT.ociManifest)).res, 400, 'MANIFEST_INVALID');
  });

  test('layers that is not an array → 400 MANIFEST_INVALID', async () => {
    const m = await blobsFor(name);
    await expectError((await pushManifest(base, name, 'badlayers', { ...m, layers: 'nope' }, MT.ociManifest)).res, 400, 'MANIFEST_INVALID');
  });

  test('schemaVersion other than 2 → 400 MANIFEST_INVALID', async () => {
    const m = await blobsFor(name);
    await expectError((await pushManifest(base, name, 'v3', { ...m, schemaVersion: 3 }, MT.ociManifest)).res, 400, 'MANIFEST_INVALID');
  });

  test('a descriptor with an invalid digest → 400 (MANIFEST_INVALID or DIGEST_INVALID)', async () => {
    const m = await blobsFor(name);
    const bad = { ...m, layers: [{ mediaType: MT.ociLayer, digest: 'sha256:nothex', size: 3 }] };
    await expectError((await pushManifest(base, name, 'baddesc', bad, MT.ociManifest)).res, 400, ['MANIFEST_INVALID', 'DIGEST_INVALID']);
  });

  test('config blob missing → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const m = await blobsFor(name);
    const missing = { ...m, config: { mediaType: MT.ociConfig, digest: randomDigest(), size: 10 } };
    await expectError((await pushManifest(base, name, 'nocfg', missing, MT.ociManifest)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('layer blob missing → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const m = await blobsFor(name);
    const layers = [...(m.layers as object[]), { mediaType: MT.ociLayer, digest: randomDigest(), size: 99 }];
    await expectError((await pushManifest(base, name, 'nolayer', { ...m, layers }, MT.ociManifest)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
    const g = await getManifest(name, 'nolayer');
    assert.equal(g.status, 404);
    await g.arrayBuffer();
  });

  test('blobs pushed only to ANOTHER repository count as missing → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const other = repo('mf-bad-other');
    const m = await blobsFor(other);
    await pushBlob(base, name, Buffer.from('make the target repository exist'));
    await expectError((await pushManifest(base, name, 'foreign', m, MT.ociManifest)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('index whose child manifest is absent → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const idx = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: randomDigest(), size: 500 }] };
    await expectError((await pushManifest(base, name, 'orphan-idx', idx, MT.ociIndex)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('index whose child manifest exists only in another repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const other = repo('mf-bad-other');
    const img = await pushRandomImage(base, other, 'x');
    const idx = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: img.digest, size: img.manifestBytes.length }] };
    await expectError((await pushManifest(base, name, 'foreign-idx', idx, MT.ociIndex)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('Docker manifest list whose child is absent → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const ml = { schemaVersion: 2, mediaType: MT.dockerList, manifests: [{ mediaType: MT.dockerManifest, digest: randomDigest(), size: 500, platform: { architecture: 'amd64', os: 'linux' } }] };
    await expectError((await pushManifest(base, name, 'orphan-list', ml, MT.dockerList)).res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('schema1 signed (application/vnd.docker.distribution.manifest.v1+prettyjws) → 400 MANIFEST_INVALID mentioning schema1/unsupported', async () => {
    const s1 = {
      schemaVersion: 1, name, tag: 'old', architecture: 'amd64',
      fsLayers: [{ blobSum: randomDigest() }], history: [{ v1Compatibility: '{}' }],
      signatures: [{ header: { alg: 'ES256' }, signature: 'abc', protected: 'def' }],
    };
    const { res } = await pushManifest(base, name, 'old', s1, 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    const errs = await expectError(res, 400, 'MANIFEST_INVALID');
    assert.match(JSON.stringify(errs.map((e) => e.detail ?? null)), /schema ?1|schemaVersion|unsupported/i, 'detail should say schema1 is unsupported');
  });

  test('schema1 unsigned (application/vnd.docker.distribution.manifest.v1+json) → 400 MANIFEST_INVALID', async () => {
    const s1 = { schemaVersion: 1, name, tag: 'old', architecture: 'amd64', fsLayers: [], history: [] };
    const { res } = await pushManifest(base, name, 'old', s1, 'application/vnd.docker.distribution.manifest.v1+json');
    const errs = await expectError(res, 400, 'MANIFEST_INVALID');
    assert.match(JSON.stringify(errs.map((e) => e.detail ?? null)), /schema ?1|schemaVersion|unsupported/i);
  });

  test('JSON with schemaVersion 1 under a generic JSON content type → 400 MANIFEST_INVALID mentioning schema1', async () => {
    const s1 = { schemaVersion: 1, name, tag: 'old', architecture: 'amd64', fsLayers: [], history: [] };
    const { res } = await pushManifest(base, name, 'old', s1, 'application/json');
    const errs = await expectError(res, 400, 'MANIFEST_INVALID');
    assert.match(JSON.stringify(errs.map((e) => e.detail ?? null)), /schema ?1|schemaVersion|unsupported/i);
    const g = await getManifest(name, 'old');
    assert.equal(g.status, 404);
    await g.arrayBuffer();
  });
});

describe('manifest size limit (default 4 MiB)', () => {
  const name = repo('mf-size');
  const LIMIT = 4 * 1024 * 1024;

  async function sized(target: number): Promise<Buffer> {
    const m = await blobsFor(name);
    const probe = Buffer.from(JSON.stringify({ ...m, annotations: { pad: '' } }));
    const body = Buffer.from(JSON.stringify({ ...m, annotations: { pad: 'x'.repeat(target - probe.length) } }));
    assert.equal(body.length, target);
    return body;
  }

  test('a manifest of exactly 4 MiB is accepted (201)', async () => {
    const body = await sized(LIMIT);
    const { res, digest } = await pushManifest(base, name, 'exact', body, MT.ociManifest);
    await expectStatus(res, 201);
    const got = await getManifest(name, 'exact');
    assert.equal(got.headers.get('docker-content-digest'), digest);
    assert.equal(got.headers.get('content-length'), String(LIMIT));
    await got.arrayBuffer();
  });

  test('a manifest over 4 MiB → 413 with an OCI error envelope (SIZE_INVALID or MANIFEST_INVALID)', async () => {
    const body = await sized(LIMIT + 1);
    const { res } = await pushManifest(base, name, 'toobig', body, MT.ociManifest);
    await expectError(res, 413, ['SIZE_INVALID', 'MANIFEST_INVALID']);
    const g = await getManifest(name, 'toobig');
    assert.equal(g.status, 404);
    await g.arrayBuffer();
  });
});

describe('manifest size limit (configured maxManifestBytes)', () => {
  const MAX = 4096;
  let sb: BerthProcess;
  const name = repo('mf-size-cfg');

  before(async () => {
    sb = await startBerth({ config: { registry: { maxManifestBytes: MAX } } });
  });
  after(async () => {
    await sb?.stop();
    if (sb) await removeDir(sb.dataDir);
  });

  async function sizedOn(target: number): Promise<Buffer> {
    const config = Buffer.from('{}');
    await pushBlob(sb.url, name, config);
    const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: 2 }, layers: [] };
    const probe = Buffer.from(JSON.stringify({ ...m, annotations: { pad: '' } }));
    return Buffer.from(JSON.stringify({ ...m, annotations: { pad: 'y'.repeat(target - probe.length) } }));
  }

  test('exactly maxManifestBytes → 201', async () => {
    const { res } = await pushManifest(sb.url, name, 'max', await sizedOn(MAX), MT.ociManifest);
    await expectStatus(res, 201);
  });

  test('maxManifestBytes + 1 → 413 with an OCI error envelope', async () => {
    const { res } = await pushManifest(sb.url, name, 'over', await sizedOn(MAX + 1), MT.ociManifest);
    await expectError(res, 413, ['SIZE_INVALID', 'MANIFEST_INVALID']);
  });

  test('far over the limit (1 MiB) → 413, server still healthy', async () => {
    const { res } = await pushManifest(sb.url, name, 'way-over', await sizedOn(1024 * 1024), MT.ociManifest);
    await expectError(res, 413, ['SIZE_INVALID', 'MANIFEST_INVALID']);
    const v2 = await fetch(`${sb.url}/v2/`);
    assert.equal(v2.status, 200);
  });
});
