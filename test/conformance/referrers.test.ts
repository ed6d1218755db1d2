// Conformance: the OCI 1.1 referrers API — OCI-Subject on push, GET /v2/<name>/referrers/<digest>,
// artifactType derivation, annotation copying, filtering, unknown/invalid digests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage, type Image } from '../helpers/oci.js';
import { expectError, expectStatus, mediaTypeOf, randomDigest, repo } from './util.js';

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

const EMPTY = Buffer.from('{}');
const emptyDesc = { mediaType: MT.ociEmpty, digest: sha256(EMPTY), size: 2 };
const SBOM = 'application/vnd.example.sbom.v1';
const SIG_CONFIG = 'application/vnd.example.signature.config.v1+json';
const IDX_TYPE = 'application/vnd.example.bundle.v1';

interface IndexBody { schemaVersion: number; mediaType?: string; manifests: Array<Record<string, unknown>> }

async function referrers(name: string, digest: string, query = ''): Promise<{ res: Response; index: IndexBody }> {
  const res = await fetch(`${base}/v2/${name}/referrers/${digest}${query}`);
  const text = await expectStatus(res, 200, `referrers ${digest}${query}`);
  assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociIndex);
  const index = JSON.parse(text) as IndexBody;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, MT.ociIndex);
  assert.ok(Array.isArray(index.manifests), 'manifests must be an array');
  return { res, index };
}

function find(index: IndexBody, digest: string): Record<string, unknown> | undefined {
  return index.manifests.find((d) => d.digest === digest);
}

describe('referrers', () => {
  const name = repo('refs');
  let subject: Image;
  let subjectDesc: { mediaType: string; digest: string; size: number };
  const sbomLayer = randomBytes(128);
  const sigConfig = Buffer.from(JSON.stringify({ sig: randomBytes(8).toString('hex') }));
  let sbom: { digest: string; body: Buffer; res: Response };
  let sig: { digest: string; body: Buffer; res: Response };
  let bundle: { digest: string; body: Buffer; res: Response };
  let plainIndex: { digest: string; body: Buffer; res: Response };

  before(async () => {
    subject = await pushRandomImage(base, name, 'app');
    subjectDesc = { mediaType: MT.ociManifest, digest: subject.digest, size: subject.manifestBytes.length };
    await pushBlob(base, name, EMPTY);
    await pushBlob(base, name, sbomLayer);
    await pushBlob(base, name, sigConfig);

    const sbomManifest = {
      schemaVersion: 2, mediaType: MT.ociManifest, artifactType: SBOM, config: emptyDesc,
      layers: [{ mediaType: 'application/spdx+json', digest: sha256(sbomLayer), size: sbomLayer.length }],
      subject: subjectDesc, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.sbom.format': 'json' },
    };
    const sbomBody = Buffer.from(JSON.stringify(sbomManifest));
    sbom = await pushManifest(base, name, sha256(sbomBody), sbomBody, MT.ociManifest);

    // no artifactType: the descriptor's artifactType comes from config.mediaType
    sig = await pushManifest(base, name, 'sig', {
      schemaVersion: 2, mediaType: MT.ociManifest,
      config: { mediaType: SIG_CONFIG, digest: sha256(sigConfig), size: sigConfig.length },
      layers: [emptyDesc], subject: subjectDesc, annotations: { 'org.example.signature.fingerprint': 'abcd' },
    }, MT.ociManifest);

    // an image index with a subject and an artifactType is a referrer too
    bundle = await pushManifest(base, name, 'bundle', {
      schemaVersion: 2, mediaType: MT.ociIndex, artifactType: IDX_TYPE,
      manifests: [{ mediaType: MT.ociManifest, digest: sbom.digest, size: sbom.body.length }],
      subject: subjectDesc, annotations: { 'org.example.kind': 'bundle' },
    }, MT.ociIndex);

    // an index with a subject and no artifactType: the descriptor has no artifactType
    plainIndex = await pushManifest(base, name, 'plain-index', {
      schemaVersion: 2, mediaType: MT.ociIndex,
      manifests: [{ mediaType: MT.ociManifest, digest: sig.digest, size: sig.body.length }],
      subject: subjectDesc, annotations: { 'org.example.kind': 'plain' },
    }, MT.ociIndex);
  });

  test('pushing a manifest with subject → 201 with OCI-Subject: <subject digest>', async () => {
    for (const p of [sbom, sig]) {
      await expectStatus(p.res, 201);
      assert.equal(p.res.headers.get('oci-subject'), subject.digest);
      assert.equal(p.res.headers.get('docker-content-digest'), p.digest);
    }
  });

  test('pushing an index with subject → 201 with OCI-Subject', async () => {
    for (const p of [bundle, plainIndex]) {
      await expectStatus(p.res, 201);
      assert.equal(p.res.headers.get('oci-subject'), subject.digest);
    }
  });

  test('a manifest without subject gets no OCI-Subject header', async () => {
    const { res } = await pushManifest(base, name, 'plain', subject.manifest, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('oci-subject'), null);
  });

  test('GET referrers → 200 OCI index listing every referrer with mediaType, digest, size', async () => {
    const { index } = await referrers(name, subject.digest);
    assert.equal(index.manifests.length, 4, JSON.stringify(index));
    for (const [p, mt] of [[sbom, MT.ociManifest], [sig, MT.ociManifest], [bundle, MT.ociIndex], [plainIndex, MT.ociIndex]] as const) {
      const d = find(index, p.digest);
      assert.ok(d, `referrer ${p.digest} missing`);
      assert.equal(d.mediaType, mt);
      assert.equal(d.size, p.body.length);
    }
    assert.equal(find(index, subject.digest), undefined, 'the subject is not its own referrer');
  });

  test('descriptor artifactType = the manifest artifactType when set, annotations copied', async () => {
    const { index } = await referrers(name, subject.digest);
    const d = find(index, sbom.digest)!;
    assert.equal(d.artifactType, SBOM);
    assert.deepEqual(d.annotations, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.sbom.format': 'json' });
  });

  test('descriptor artifactType = config.mediaType when the manifest has no artifactType', async () => {
    const { index } = await referrers(name, subject.digest);
    const d = find(index, sig.digest)!;
    assert.equal(d.artifactType, SIG_CONFIG);
    assert.deepEqual(d.annotations, { 'org.example.signature.fingerprint': 'abcd' });
  });

  test('index referrer: artifactType copied when set, omitted when not; annotations copied', async () => {
    const { index } = await referrers(name, subject.digest);
    const withType = find(index, bundle.digest)!;
    assert.equal(withType.artifactType, IDX_TYPE);
    assert.deepEqual(withType.annotations, { 'org.example.kind': 'bundle' });
    const without = find(index, plainIndex.digest)!;
    assert.ok(without.artifactType === undefined, `artifactType must be omitted, got ${JSON.stringify(without.artifactType)}`);
    assert.deepEqual(without.annotations, { 'org.example.kind': 'plain' });
  });

  test('?artifactType= filters and sets OCI-Filters-Applied: artifactType', async () => {
    const { res, index } = await referrers(name, subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests.map((d) => d.digest), [sbom.digest]);
  });

  test('?artifactType= matching the config-derived type returns that referrer only', async () => {
    const { res, index } = await referrers(name, subject.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests.map((d) => d.digest), [sig.digest]);
  });

  test('?artifactType= with no match → 200 with empty manifests', async () => {
    const { res, index } = await referrers(name, subject.digest, '?artifactType=application%2Fvnd.nothing');
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests, []);
  });

  test('no filter → no OCI-Filters-Applied header', async () => {
    const { res } = await referrers(name, subject.digest);
    assert.equal(res.headers.get('oci-filters-applied'), null);
  });

  test('unknown digest → 200 with an empty manifests list', async () => {
    const { index } = await referrers(name, randomDigest());
    assert.deepEqual(index.manifests, []);
  });

  test('invalid digest → 400 DIGEST_INVALID', async () => {
    await expectError(await fetch(`${base}/v2/${name}/referrers/sha256:not-a-digest`), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${base}/v2/${name}/referrers/latest`), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${base}/v2/${name}/referrers/sha256:${'a'.repeat(63)}`), 400, 'DIGEST_INVALID');
  });

  test('a referrer whose subject does not exist is accepted (201) and listed', async () => {
    const ghost = randomDigest();
    const { res, digest } = await pushManifest(base, name, 'dangling', {
      schemaVersion: 2, mediaType: MT.ociManifest, artifactType: SBOM, config: emptyDesc, layers: [emptyDesc],
      subject: { mediaType: MT.ociManifest, digest: ghost, size: 1234 },
    }, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal(res.headers.get('oci-subject'), ghost);
    const { index } = await referrers(name, ghost);
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0].digest, digest);
    assert.equal(index.manifests[0].artifactType, SBOM);
  });

  test('a referrer pushed by digest only (no tag) is listed', async () => {
    const target = await pushRandomImage(base, name, 'target2');
    const m = {
      schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.example.attestation',
      config: emptyDesc, layers: [emptyDesc], subject: { mediaType: MT.ociManifest, digest: target.digest, size: target.manifestBytes.length },
    };
    const body = Buffer.from(JSON.stringify(m));
    const { res } = await pushManifest(base, name, sha256(body), body, MT.ociManifest);
    await expectStatus(res, 201);
    const { index } = await referrers(name, target.digest);
    assert.deepEqual(index.manifests.map((d) => d.digest), [sha256(body)]);
  });

  test('referrers are scoped to the repository', async () => {
    const other = repo('refs-other');
    await pushBlob(base, other, EMPTY);
    const { res, digest } = await pushManifest(base, other, 'x', {
      schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.example.elsewhere',
      config: emptyDesc, layers: [emptyDesc], subject: subjectDesc,
    }, MT.ociManifest);
    await expectStatus(res, 201);
    const here = await referrers(name, subject.digest);
    assert.equal(find(here.index, digest), undefined, 'a referrer from another repository leaked in');
    const there = await referrers(other, subject.digest);
    assert.deepEqual(there.index.manifests.map((d) => d.digest), [digest]);
  });

  test('a deleted referrer disappears from the list', async () => {
    const target = await pushRandomImage(base, name, 'target3');
    const { res, digest } = await pushManifest(base, name, 'to-delete', {
      schemaVersion: 2, mediaType: MT.ociManifest, artifactType: SBOM, config: emptyDesc, layers: [emptyDesc],
      subject: { mediaType: MT.ociManifest, digest: target.digest, size: target.manifestBytes.length },
    }, MT.ociManifest);
    await expectStatus(res, 201);
    assert.equal((await referrers(name, target.digest)).index.manifests.length, 1);
    await expectStatus(await fetch(`${base}/v2/${name}/manifests/${digest}`, { method: 'DELETE' }), 202);
    assert.deepEqual((await referrers(name, target.digest)).index.manifests, []);
  });
});

describe('referrers pagination (registry.maxPageSize: 2)', () => {
  let pb: BerthProcess;
  const name = 'refs-page/app';
  const pushed: string[] = [];
  let subject: Image;

  before(async () => {
    pb = await startBerth({ config: { registry: { maxPageSize: 2 } } });
    subject = await pushRandomImage(pb.url, name, 'app', { layers: 1, layerSize: 8 });
    await pushBlob(pb.url, name, EMPTY);
    for (let i = 0; i < 5; i++) {
      const { res, digest } = await pushManifest(pb.url, name, `ref${i}`, {
        schemaVersion: 2, mediaType: MT.ociManifest, artifactType: SBOM, config: emptyDesc, layers: [emptyDesc],
        subject: { mediaType: MT.ociManifest, digest: subject.digest, size: subject.manifestBytes.length }, annotations: { i: String(i) },
      }, MT.ociManifest);
      assert.equal(res.status, 201, await res.text());
      pushed.push(digest);
    }
  });
  after(async () => {
    await pb?.stop();
    if (pb) await removeDir(pb.dataDir);
  });

  test('every referrer is reachable: either in one response, or through Link rel="next" pages', async () => {
    const seen: string[] = [];
    let url: URL | null = new URL(`${pb.url}/v2/${name}/referrers/${subject.digest}`);
    for (let page = 0; url; page++) {
      assert.ok(page < 10, 'referrers pagination does not terminate');
      const res: Response = await fetch(url);
      const body = JSON.parse(await expectStatus(res, 200)) as IndexBody;
      assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociIndex);
      assert.equal(body.schemaVersion, 2);
      seen.push(...body.manifests.map((d) => String(d.digest)));
      const link = res.headers.get('link');
      if (link) {
        const m = /^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$/.exec(link);
        assert.ok(m, `malformed Link ${link}`);
        url = new URL(m[1], pb.url);
        assert.equal(url.pathname, `/v2/${name}/referrers/${subject.digest}`);
      } else {
        url = null;
      }
    }
    assert.deepEqual([...seen].sort(), [...pushed].sort());
    assert.equal(new Set(seen).size, seen.length, 'a referrer appeared on two pages');
  });
});
