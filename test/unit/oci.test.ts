import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isDigest, parseDigest } from '../../src/oci/digest.js';
import { isValidName, isValidTag, MAX_NAME_LENGTH } from '../../src/oci/reference.js';
import { isManifestProblem, parseManifest, type ManifestProblem, type ParsedManifest } from '../../src/oci/manifest.js';
import { acceptsManifest } from '../../src/oci/accept.js';
import { MediaType } from '../../src/oci/media-types.js';

const hex256 = createHash('sha256').update('berth').digest('hex');
const hex512 = createHash('sha512').update('berth').digest('hex');
const D256 = `sha256:${hex256}`;
const D512 = `sha512:${hex512}`;

describe('parseDigest', () => {
  test('valid sha256 and sha512', () => {
    assert.deepEqual(parseDigest(D256), { algorithm: 'sha256', encoded: hex256, digest: D256 });
    assert.deepEqual(parseDigest(D512), { algorithm: 'sha512', encoded: hex512, digest: D512 });
    assert.equal(isDigest(D256), true);
    assert.equal(isDigest(D512), true);
  });

  test('uppercase hex is malformed', () => {
    assert.equal(parseDigest(`sha256:${hex256.toUpperCase()}`), 'malformed');
    assert.equal(parseDigest(`sha256:${hex256.slice(0, 63)}A`), 'malformed');
    assert.equal(isDigest(`sha256:${hex256.toUpperCase()}`), false);
  });

  test('wrong length is malformed', () => {
    assert.equal(parseDigest(`sha256:${hex256.slice(1)}`), 'malformed');
    assert.equal(parseDigest(`sha256:${hex256}0`), 'malformed');
    assert.equal(parseDigest(`sha256:${hex512}`), 'malformed');
    assert.equal(parseDigest(`sha512:${hex256}`), 'malformed');
  });

  test('a well-formed digest of an unknown algorithm is unsupported', () => {
    assert.equal(parseDigest(`sha384:${'a'.repeat(96)}`), 'unsupported');
    assert.equal(parseDigest('blake3:abc'), 'unsupported');
    assert.equal(parseDigest('multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8'), 'unsupported');
  });

  test('names of Object.prototype members are not algorithms', () => {
    for (const alg of ['constructor', 'tostring', 'valueof', 'hasownproperty']) {
      assert.notEqual(typeof parseDigest(`${alg}:${hex256}`), 'object', alg);
    }
    assert.equal(parseDigest(`__proto__:${hex256}`), 'malformed');
  });

  test('malformed forms', () => {
    for (const v of ['', 'sha256', 'sha256:', `:${hex256}`, hex256, `SHA256:${hex256}`, `sha256::${hex256}`,
      `sha256 :${hex256}`, `sha256:${hex256} `, ` sha256:${hex256}`, `sha256:${hex256}\n`, `sha256-:${hex256}`,
      `sha256:${hex256.slice(0, 32)}/${hex256.slice(33)}`, `sha256:${hex256.slice(0, 63)}g`, `sha_256:${hex256}`.replace('_', '__')]) {
      assert.equal(parseDigest(v), 'malformed', JSON.stringify(v));
    }
  });

  test('overly long input is malformed without further parsing', () => {
    assert.equal(parseDigest(`sha256:${'a'.repeat(300)}`), 'malformed');
    assert.equal(parseDigest(`${'a'.repeat(250)}:${'b'.repeat(64)}`), 'malformed');
    // pathological input finishes quickly (no catastrophic backtracking)
    const start = Date.now();
    parseDigest(`${'a-'.repeat(5000)}!`);
    parseDigest(`${'a'.repeat(100)}-`.repeat(2) + ':');
    assert.ok(Date.now() - start < 500);
  });
});

describe('repository names (isValidName)', () => {
  test('valid names', () => {
    for (const n of ['a', 'a/b', 'a__b', 'a--b', 'a---b', 'a.b', 'a_b', 'a-b', 'library/ubuntu', 'a0/b1/c2', 'x/y.z/w__v-u', '0']) {
      assert.equal(isValidName(n), true, n);
    }
  });

  test('invalid names', () => {
    for (const n of ['', '_a', 'a_', 'A', 'aB', 'a//b', 'a/', '/a', '..', '.', 'a/../b', 'a..b', 'a___b', 'a.-b', '-a', 'a-',
      '.a', 'a.', 'a b', 'a:b', 'a@b', 'a/_b', 'a/b_', 'é', 'a\nb', 'a\\b', 'a/./b']) {
      assert.equal(isValidName(n), false, JSON.stringify(n));
    }
  });

  test('255 characters is the longest valid name', () => {
    assert.equal(MAX_NAME_LENGTH, 255);
    const n255 = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(n255.length, 255);
    assert.equal(isValidName(n255), true);
    assert.equal(isValidName('a'.repeat(255)), true);
    assert.equal(isValidName(`${n255}c`), false);
    assert.equal(isValidName('a'.repeat(256)), false);
  });
});

describe('tags (isValidTag)', () => {
  test('valid tags', () => {
    for (const t of ['latest', 'v1.2.3', 'A', '_', '_x', '0', 'a-b_c.D', 'x'.repeat(128), 'sha256-abc.sig']) {
      assert.equal(isValidTag(t), true, t);
    }
  });

  test('invalid tags', () => {
    for (const t of ['', '.a', '-a', 'x'.repeat(129), 'a/b', 'a:b', 'a b', 'a@b', 'é', 'a\n', '+a']) {
      assert.equal(isValidTag(t), false, JSON.stringify(t));
    }
  });
});

// ---------------------------------------------------------------------------------------------------

const desc = (mediaType: string, extra: Record<string, unknown> = {}) => ({ mediaType, digest: D256, size: 123, ...extra });
const CONFIG = desc('application/vnd.oci.image.config.v1+json');
const LAYER = desc('application/vnd.oci.image.layer.v1.tar+gzip');

const ociManifest = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2, mediaType: MediaType.ociManifest, config: CONFIG, layers: [LAYER], ...extra,
});
const ociIndex = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [desc(MediaType.ociManifest, { platform: { os: 'linux', architecture: 'amd64' } })], ...extra,
});

function parse(doc: unknown, contentType?: string): ParsedManifest | ManifestProblem {
  return parseManifest(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), contentType);
}
function ok(doc: unknown, contentType?: string): ParsedManifest {
  const r = parse(doc, contentType);
  if (isManifestProblem(r)) assert.fail(`expected a manifest, got ${r.reason}: ${r.detail}`);
  return r;
}
function problem(doc: unknown, contentType: string | undefined, reason: 'invalid' | 'unsupported', detail?: RegExp): ManifestProblem {
  const r = parse(doc, contentType);
  if (!isManifestProblem(r)) assert.fail(`expected a problem, got a ${r.mediaType} manifest`);
  assert.equal(r.reason, reason, r.detail);
  assert.equal(typeof r.detail, 'string');
  if (detail) assert.match(r.detail, detail);
  return r;
}

describe('parseManifest', () => {
  test('a valid OCI image manifest', () => {
    const m = ok(ociManifest({ annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }), MediaType.ociManifest);
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.kind, 'image');
    assert.equal(m.config?.digest, D256);
    assert.equal(m.config?.mediaType, CONFIG.mediaType);
    assert.equal(m.layers.length, 1);
    assert.equal(m.layers[0].mediaType, LAYER.mediaType);
    assert.deepEqual(m.manifests, []);
    assert.equal(m.subject, undefined);
    assert.deepEqual(m.annotations, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  });

  test('Content-Type parameters and case are ignored', () => {
    assert.equal(ok(ociManifest(), `${MediaType.ociManifest}; charset=utf-8`).mediaType, MediaType.ociManifest);
    assert.equal(ok(ociManifest(), MediaType.ociManifest.toUpperCase()).mediaType, MediaType.ociManifest);
  });

  test('a valid OCI index', () => {
    const m = ok(ociIndex(), MediaType.ociIndex);
    assert.equal(m.kind, 'index');
    assert.equal(m.mediaType, MediaType.ociIndex);
    assert.equal(m.manifests.length, 1);
    assert.equal(m.manifests[0].mediaType, MediaType.ociManifest);
    assert.deepEqual(m.layers, []);
    assert.equal(m.config, undefined);
  });

  test('an index with artifactType reports it', () => {
    assert.equal(ok(ociIndex({ artifactType: 'application/vnd.example+type' })).artifactType, 'application/vnd.example+type');
  });

  test('an index may not carry config or layers', () => {
    problem(ociIndex({ config: CONFIG }), MediaType.ociIndex, 'invalid');
    problem(ociIndex({ layers: [LAYER] }), MediaType.ociIndex, 'invalid');
  });

  test('an image manifest may not carry a manifests list', () => {
    problem(ociManifest({ manifests: [] }), MediaType.ociManifest, 'invalid');
  });

  test('a valid Docker v2 manifest and manifest list', () => {
    const docker = {
      schemaVersion: 2, mediaType: MediaType.dockerManifest,
      config: desc('application/vnd.docker.container.image.v1+json'),
      layers: [desc('application/vnd.docker.image.rootfs.diff.tar.gzip')],
    };
    const m = ok(docker, MediaType.dockerManifest);
    assert.equal(m.kind, 'image');
    assert.equal(m.mediaType, MediaType.dockerManifest);
    assert.equal(m.artifactType, 'application/vnd.docker.container.image.v1+json');
    const list = {
      schemaVersion: 2, mediaType: MediaType.dockerManifestList,
      manifests: [desc(MediaType.dockerManifest, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })],
    };
    const l = ok(list, MediaType.dockerManifestList);
    assert.equal(l.kind, 'index');
    assert.equal(l.mediaType, MediaType.dockerManifestList);
    assert.equal(l.manifests.length, 1);
  });

  test('Docker manifests must carry their mediaType field', () => {
    problem({ schemaVersion: 2, config: desc('application/vnd.docker.container.image.v1+json'), layers: [] }, MediaType.dockerManifest, 'invalid');
  });

  test('Docker schema 1 is unsupported, however it is recognised', () => {
    const s1 = { schemaVersion: 1, name: 'a/b', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] };
    problem(s1, MediaType.dockerSchema1, 'unsupported');
    problem(s1, MediaType.dockerSchema1Signed, 'unsupported');
    problem(s1, undefined, 'unsupported');
    problem(s1, 'application/json', 'unsupported');
    problem({ ...s1, mediaType: MediaType.dockerSchema1 }, undefined, 'unsupported');
    problem(ociManifest(), MediaType.dockerSchema1Signed, 'unsupported');
  });

  test('invalid JSON, and JSON that is not an object', () => {
    problem('{"schemaVersion": 2,', MediaType.ociManifest, 'invalid', /JSON/);
    problem('', MediaType.ociManifest, 'invalid');
    problem('\u00ff\u00fe', MediaType.ociManifest, 'invalid');
    problem('[]', MediaType.ociManifest, 'invalid');
    problem('null', MediaType.ociManifest, 'invalid');
    problem('"text"', MediaType.ociManifest, 'invalid');
    problem('42', MediaType.ociManifest, 'invalid');
  });

  test('schemaVersion must be 2', () => {
    problem(ociManifest({ schemaVersion: 3 }), MediaType.ociManifest, 'invalid', /schemaVersion/);
    problem(ociManifest({ schemaVersion: '2' }), MediaType.ociManifest, 'invalid', /schemaVersion/);
    const { schemaVersion: _omit, ...noVersion } = ociManifest();
    problem(noVersion, MediaType.ociManifest, 'invalid', /schemaVersion/);
  });

  test('mediaType field and a specific Content-Type must agree', () => {
    problem(ociManifest(), MediaType.ociIndex, 'invalid', /does not match/);
    problem(ociManifest(), MediaType.dockerManifest, 'invalid', /does not match/);
    problem(ociIndex(), MediaType.ociManifest, 'invalid', /does not match/);
    // a generic Content-Type does not conflict with the document's mediaType
    assert.equal(ok(ociManifest(), 'application/json').mediaType, MediaType.ociManifest);
    assert.equal(ok(ociManifest(), 'application/octet-stream').mediaType, MediaType.ociManifest);
  });

  test('mediaType field must be a string', () => {
    problem(ociManifest({ mediaType: 5 }), undefined, 'invalid');
    problem(ociManifest({ mediaType: null }), undefined, 'invalid');
  });

  test('a missing or malformed config is invalid', () => {
    const { config: _c, ...noConfig } = ociManifest();
    problem(noConfig, MediaType.ociManifest, 'invalid', /config/);
    problem(ociManifest({ config: null }), MediaType.ociManifest, 'invalid', /config/);
    problem(ociManifest({ config: 'sha256:x' }), MediaType.ociManifest, 'invalid', /config/);
    problem(ociManifest({ config: [CONFIG] }), MediaType.ociManifest, 'invalid', /config/);
  });

  test('bad descriptor digest is invalid', () => {
    for (const digest of ['sha256:abc', `sha256:${hex256.toUpperCase()}`, hex256, `md5:${'a'.repeat(32)}`, 42, undefined]) {
      problem(ociManifest({ layers: [LAYER, { ...LAYER, digest }] }), MediaType.ociManifest, 'invalid', /layers\[1\]\.digest/);
    }
    problem(ociManifest({ config: { ...CONFIG, digest: 'sha256:zz' } }), MediaType.ociManifest, 'invalid', /config\.digest/);
    problem(ociIndex({ manifests: [{ ...desc(MediaType.ociManifest), digest: 'nope' }] }), MediaType.ociIndex, 'invalid', /manifests\[0\]\.digest/);
  });

  test('bad descriptor size is invalid', () => {
    for (const size of [-1, 1.5, '123', null, undefined, Number.MAX_SAFE_INTEGER + 2, 1e400]) {
      const doc = JSON.stringify(ociManifest({ layers: [{ ...LAYER, size: 0 }] })).replace('"size":0', `"size":${size === undefined ? 'null' : typeof size === 'string' ? `"${size}"` : size === 1e400 ? '1e400' : String(size)}`);
      problem(doc, MediaType.ociManifest, 'invalid', /layers\[0\]\.size/);
    }
    assert.equal(ok(ociManifest({ layers: [{ ...LAYER, size: 0 }] })).layers[0].size, 0, 'size 0 is fine');
  });

  test('bad descriptor mediaType is invalid', () => {
    for (const mediaType of ['', 'noslash', 'a/b/c', 5, undefined, 'a /b']) {
      problem(ociManifest({ layers: [{ ...LAYER, mediaType }] }), MediaType.ociManifest, 'invalid', /layers\[0\]\.mediaType/);
    }
  });

  test('layers must be an array of descriptors', () => {
    problem(ociManifest({ layers: LAYER }), MediaType.ociManifest, 'invalid', /layers/);
    problem(ociManifest({ layers: [null] }), MediaType.ociManifest, 'invalid', /layers\[0\]/);
    problem(ociIndex({ manifests: {} }), MediaType.ociIndex, 'invalid', /manifests/);
  });

  test('artifactType defaults to the config media type', () => {
    assert.equal(ok(ociManifest()).artifactType, CONFIG.mediaType);
    const art = ok(ociManifest({ config: desc(MediaType.ociEmpty, { size: 2 }), layers: [], artifactType: 'application/vnd.example.sbom+json' }));
    assert.equal(art.artifactType, 'application/vnd.example.sbom+json');
    const noType = ok(ociManifest({ config: desc('application/vnd.example.thing.config+json'), layers: [] }));
    assert.equal(noType.artifactType, 'application/vnd.example.thing.config+json');
  });

  test('a malformed artifactType is invalid', () => {
    problem(ociManifest({ artifactType: 'not a media type' }), MediaType.ociManifest, 'invalid', /artifactType/);
    problem(ociManifest({ artifactType: 7 }), MediaType.ociManifest, 'invalid', /artifactType/);
  });

  test('subject is captured', () => {
    const subject = desc(MediaType.ociManifest, { digest: D512, size: 999 });
    const m = ok(ociManifest({ subject, artifactType: 'application/vnd.example.sig' }), MediaType.ociManifest);
    assert.deepEqual(m.subject, subject);
    const i = ok(ociIndex({ subject }), MediaType.ociIndex);
    assert.equal(i.subject?.digest, D512);
    problem(ociManifest({ subject: { ...subject, digest: 'sha256:bad' } }), MediaType.ociManifest, 'invalid', /subject/);
    problem(ociManifest({ subject: 'sha256:x' }), MediaType.ociManifest, 'invalid', /subject/);
  });

  test('annotations must map strings to strings', () => {
    problem(ociManifest({ annotations: { a: 1 } }), MediaType.ociManifest, 'invalid', /annotations/);
    problem(ociManifest({ annotations: { a: null } }), MediaType.ociManifest, 'invalid', /annotations/);
    problem(ociManifest({ annotations: ['a'] }), MediaType.ociManifest, 'invalid', /annotations/);
    problem(ociManifest({ annotations: 'a' }), MediaType.ociManifest, 'invalid', /annotations/);
    problem(ociManifest({ layers: [{ ...LAYER, annotations: { x: true } }] }), MediaType.ociManifest, 'invalid', /layers\[0\]\.annotations/);
    problem(ociIndex({ annotations: { a: {} } }), MediaType.ociIndex, 'invalid', /annotations/);
    assert.deepEqual(ok(ociManifest({ annotations: {} })).annotations, {});
  });

  test('an unknown media type is rejected', () => {
    problem(ociManifest({ mediaType: 'application/vnd.example.manifest+json' }), undefined, 'invalid', /media type/);
    problem(ociManifest({ mediaType: MediaType.ociEmpty }), undefined, 'invalid');
    problem(ociManifest({ mediaType: 'application/vnd.example.manifest+json' }), 'application/vnd.example.manifest+json', 'invalid');
    // a Content-Type naming a manifest type must match the document
    problem(ociManifest({ mediaType: 'application/vnd.example.manifest+json' }), MediaType.ociManifest, 'invalid');
  });

  test('the media type comes from Content-Type when the document has none', () => {
    const { mediaType: _m, ...bare } = ociManifest();
    assert.equal(ok(bare, MediaType.ociManifest).mediaType, MediaType.ociManifest);
    const { mediaType: _i, ...bareIndex } = ociIndex();
    assert.equal(ok(bareIndex, MediaType.ociIndex).mediaType, MediaType.ociIndex);
    // Content-Type says index, body is an image manifest: rejected, not silently re-typed
    problem(bare, MediaType.ociIndex, 'invalid');
  });

  test('the media type is inferred when neither mediaType nor a manifest Content-Type is given', () => {
    const { mediaType: _m, ...bare } = ociManifest();
    const m = ok(bare, undefined);
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.kind, 'image');
    assert.equal(ok(bare, 'application/json').mediaType, MediaType.ociManifest);
    const { mediaType: _i, ...bareIndex } = ociIndex();
    const i = ok(bareIndex, undefined);
    assert.equal(i.mediaType, MediaType.ociIndex);
    assert.equal(i.kind, 'index');
    problem({ schemaVersion: 2 }, undefined, 'invalid', /media type/);
    problem({ schemaVersion: 2, layers: [] }, '', 'invalid');
  });
});

// ---------------------------------------------------------------------------------------------------

describe('acceptsManifest', () => {
  const M = MediaType.ociManifest;

  test('no Accept header: anything is served', () => {
    assert.equal(acceptsManifest(undefined, M), true);
    assert.equal(acceptsManifest(undefined, MediaType.dockerManifestList), true);
  });

  test('an empty Accept is treated like none', () => {
    assert.equal(acceptsManifest('', M), true);
    assert.equal(acceptsManifest([], M), true);
    assert.equal(acceptsManifest(' , ', M), true);
  });

  test('wildcards accept anything', () => {
    assert.equal(acceptsManifest('*/*', M), true);
    assert.equal(acceptsManifest('application/*', M), true);
    assert.equal(acceptsManifest(`${MediaType.dockerManifest}, */*;q=0.1`, M), true);
  });

  test('a listed type is accepted, case and parameters aside', () => {
    assert.equal(acceptsManifest(M, M), true);
    assert.equal(acceptsManifest(M.toUpperCase(), M), true);
    assert.equal(acceptsManifest(`${M}; q=0.5`, M), true);
    assert.equal(acceptsManifest(`  ${M}  `, M), true);
  });

  test('an unlisted type is refused', () => {
    assert.equal(acceptsManifest(MediaType.dockerManifest, M), false);
    assert.equal(acceptsManifest('application/json', M), false);
    assert.equal(acceptsManifest('text/*', M), false);
    assert.equal(acceptsManifest(`${M}x`, M), false);
  });

  test('comma-separated lists and repeated headers', () => {
    assert.equal(acceptsManifest(`${MediaType.dockerManifest}, ${MediaType.ociIndex},${M}`, M), true);
    assert.equal(acceptsManifest(`${MediaType.dockerManifest}, ${MediaType.ociIndex}`, M), false);
    assert.equal(acceptsManifest([MediaType.dockerManifest, `${MediaType.ociIndex}, ${M}`], M), true);
    assert.equal(acceptsManifest([MediaType.dockerManifest, MediaType.ociIndex], M), false);
  });

  test('q=0 means "not acceptable"', () => {
    assert.equal(acceptsManifest(`${M};q=0`, M), false);
    assert.equal(acceptsManifest(`${M}; q=0.0`, M), false);
    assert.equal(acceptsManifest(`${M};q=0.000`, M), false);
    assert.equal(acceptsManifest(`${M};q=0;foo=bar`, M), false);
    assert.equal(acceptsManifest(`*/*;q=0`, M), false);
    assert.equal(acceptsManifest(`${M};q=0, ${MediaType.dockerManifest}`, M), false);
    // but a non-zero weight is acceptable
    assert.equal(acceptsManifest(`${M};q=0.001`, M), true);
    assert.equal(acceptsManifest(`${M};q=1`, M), true);
    // q=0 on one entry does not cancel a wildcard that accepts
    assert.equal(acceptsManifest(`${MediaType.dockerManifest};q=0, */*`, M), true);
  });

  test('the "q" parameter name is case-insensitive (RFC 9110 §5.6.6: parameter names are case-insensitive)', () => {
    assert.equal(acceptsManifest(`${M};Q=0`, M), false);
  });
});
