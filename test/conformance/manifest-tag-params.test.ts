// end-7b: PUT /v2/<name>/manifests/<digest>?tag=a&tag=b applies the tags with the push and echoes OCI-Tag.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

describe('manifest push by digest with tag parameters (end-7b)', () => {
  let b: BerthProcess;
  let manifest: Buffer;
  before(async () => {
    b = await startBerth();
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = Buffer.from('layer-bytes');
    await pushBlob(b.url, 'c/tagparams', config);
    await pushBlob(b.url, 'c/tagparams', layer);
    manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }],
    }));
  });
  after(async () => { await b.stop(); });

  test('tags are created and listed in OCI-Tag', async () => {
    const digest = sha256(manifest);
    const res = await fetch(`${b.url}/v2/c/tagparams/manifests/${digest}?tag=1.0&tag=latest`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': MT.ociManifest } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.deepEqual(res.headers.get('oci-tag')?.split(/,\s*/).sort(), ['1.0', 'latest']);
    for (const t of ['1.0', 'latest']) {
      const get = await fetch(`${b.url}/v2/c/tagparams/manifests/${t}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('docker-content-digest'), digest);
    }
    const list = await (await fetch(`${b.url}/v2/c/tagparams/tags/list`)).json() as { tags: string[] };
    assert.deepEqual(list.tags, ['1.0', 'latest']);
  });

  test('an invalid tag parameter fails the whole push with TAG_INVALID and creates nothing', async () => {
    const other = Buffer.from(manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2,"annotations":{"x":"y"}'));
    const digest = sha256(other);
    const res = await fetch(`${b.url}/v2/c/tagparams/manifests/${digest}?tag=ok&tag=-bad`, { method: 'PUT', body: new Uint8Array(other), headers: { 'content-type': MT.ociManifest } });
    assert.equal(res.status, 400);
    const body = await res.json() as { errors: { code: string }[] };
    assert.equal(body.errors[0].code, 'TAG_INVALID');
    assert.equal((await fetch(`${b.url}/v2/c/tagparams/manifests/${digest}`)).status, 404);
    assert.equal((await fetch(`${b.url}/v2/c/tagparams/manifests/ok`)).status, 404);
  });

  test('tag parameters on a push by tag are refused', async () => {
    const { res } = await pushManifest(b.url, 'c/tagparams', 'v1?tag=v2', manifest, MT.ociManifest);
    assert.equal(res.status, 400);
    assert.equal((await res.json() as { errors: { code: string }[] }).errors[0].code, 'TAG_INVALID');
  });

  test('too many tag parameters answer 414', async () => {
    const qs = Array.from({ length: 60 }, (_, i) => `tag=t${i}`).join('&');
    const res = await fetch(`${b.url}/v2/c/tagparams/manifests/${sha256(manifest)}?${qs}`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': MT.ociManifest } });
    assert.equal(res.status, 414);
  });
});
