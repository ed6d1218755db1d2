// Online garbage collection (gc.review) against a running server, on the run's database: the review
// queue is fed in the transaction of the change, due items are removed without `berth gc`, and neither
// the reviewers nor `berth gc --grace 0` beside them ever take a blob that an acknowledged manifest uses.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { openTestDb } from '../helpers/db.js';
import { MT, pushBlob, pushManifest, pushRandomImage, sha256 } from '../helpers/oci.js';
import { waitFor } from '../helpers/receiver.js';

const blobStatus = async (b: BerthProcess, name: string, digest: string) => (await fetch(`${b.url}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status;

/** Whether the repository links the blob, read in the database (a HEAD would touch the link and protect it). */
async function linked(b: BerthProcess, name: string, digest: string): Promise<boolean> {
  const db = openTestDb(b.dataDir, { readonly: true });
  try {
    return (await db.all('select 1 as one from repository_blobs rb join repositories r on r.id = rb.repository_id where r.name = ? and rb.digest = ?', name, digest)).length > 0;
  } finally {
    await db.close();
  }
}

async function blobRow(b: BerthProcess, digest: string): Promise<boolean> {
  const db = openTestDb(b.dataDir, { readonly: true });
  try {
    return (await db.all('select 1 as one from blobs where digest = ?', digest)).length > 0;
  } finally {
    await db.close();
  }
}

async function queued(b: BerthProcess, digest: string): Promise<{ kind: string; reason: string }[]> {
  const db = openTestDb(b.dataDir, { readonly: true });
  try {
    return await db.all<{ kind: string; reason: string }>('select kind, reason from gc_review where digest = ? order by kind', digest);
  } finally {
    await db.close();
  }
}

describe('online garbage collection', () => {
  let b: BerthProcess;
  before(async () => {
    // Reviews every second; an upload's link is reviewed 2 s after it, a deleted manifest's links and an
    // unlinked blob at once; anything touched within the last second is spared.
    b = await startBerth({ config: { gc: { grace: 1, review: { interval: 1, afterUpload: 2, afterManifestDelete: 0, afterUnlink: 0 } } } });
  });
  after(async () => { await b.stop(); });

  test('a blob no manifest references goes without `berth gc`, queued by its upload; referenced ones stay', async () => {
    const lonely = randomBytes(3000);
    const { digest } = await pushBlob(b.url, 'online/app', lonely);
    assert.deepEqual(await queued(b, digest), [{ kind: 'link', reason: 'blob.upload' }], 'the upload queued its link in its own transaction');
    const img = await pushRandomImage(b.url, 'online/app', 'v1');
    await waitFor('the unreferenced blob to be collected', async () => !(await blobRow(b, digest)) || undefined, 30_000, 200);
    assert.equal(await blobStatus(b, 'online/app', digest), 404);
    await waitFor('its review to leave the queue', async () => (await queued(b, digest)).length === 0 || undefined, 30_000, 200);
    await waitFor('the image\'s own reviews to be done', async () => (await queued(b, sha256(img.layers[0]))).length === 0 || undefined, 30_000, 200);
    for (const blob of [img.config, ...img.layers]) assert.equal(await blobStatus(b, 'online/app', sha256(blob)), 200, 'referenced blobs stay');
    assert.equal((await fetch(`${b.url}/v2/online/app/manifests/v1`)).status, 200);
  });

  test('deleting a manifest frees its blobs online, except those another repository links', async () => {
    const img = await pushRandomImage(b.url, 'online/one', 'v1');
    const shared = img.layers[0];
    // The other repository's own image uses the shared layer.
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux","two":true}');
    for (const blob of [cfg, shared]) await pushBlob(b.url, 'online/two', blob);
    const two = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(cfg), size: cfg.length }, layers: [{ mediaType: MT.ociLayer, digest: sha256(shared), size: shared.length }] };
    assert.equal((await pushManifest(b.url, 'online/two', 'v1', two, MT.ociManifest)).res.status, 201);
    await new Promise((r) => setTimeout(r, 2500)); // past the upload delay and the grace: only references protect them now
    const del = await fetch(`${b.url}/v2/online/one/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const own = sha256(img.layers[1]);
    await waitFor('the manifest\'s own layer to be collected', async () => !(await blobRow(b, own)) || undefined, 30_000, 200);
    assert.equal(await linked(b, 'online/one', sha256(shared)), false);
    assert.equal(await blobStatus(b, 'online/one', sha256(shared)), 404, 'unlinked from the repository whose manifest went');
    assert.equal(await blobStatus(b, 'online/two', sha256(shared)), 200, 'still linked by the other repository');
    const body = Buffer.from(await (await fetch(`${b.url}/v2/online/two/blobs/${sha256(shared)}`)).arrayBuffer());
    assert.ok(body.equals(shared));
  });

  test('pushes racing reviews and `berth gc --grace 0`: every acknowledged manifest keeps every blob', { timeout: 180_000 }, async () => {
    // A few shared base layers, so that pushes keep re-using blobs that deletions keep freeing.
    const bases = Array.from({ length: 4 }, () => randomBytes(2048));
    const acknowledged = new Map<string, { name: string; blobs: Buffer[] }>();
    const deleted = new Set<string>();
    let failures = 0, gcRuns = 0;
    const until = Date.now() + 20_000;
    const config = path.join(b.dataDir, '..', `berth-config-${b.port}.yaml`);

    const pusher = async (w: number) => {
      for (let i = 0; Date.now() < until; i++) {
        const name = `race/r${(w + i) % 3}`;
        const layers = [bases[(w + i) % bases.length], randomBytes(512)];
        const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', w, i }));
        try {
          for (const blob of [cfg, ...layers]) {
            // Like a client: upload only what the repository does not answer for.
            if ((await blobStatus(b, name, sha256(blob))) !== 200) await pushBlob(b.url, name, blob);
          }
          const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(cfg), size: cfg.length }, layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: sha256(l), size: l.length })) };
          const r = await pushManifest(b.url, name, `t${w}-${i}`, m, MT.ociManifest);
          if (r.res.status === 201) acknowledged.set(`${name}@${r.digest}`, { name, blobs: [cfg, ...layers] });
          else { failures++; assert.ok([400, 404].includes(r.res.status), `a refused manifest is refused as such, got ${r.res.status} ${await r.res.text()}`); }
        } catch (e) {
          failures++;
          if (!/PUT upload|POST upload/.test(String(e))) throw e;
        }
      }
    };
    const deleter = async () => {
      while (Date.now() < until) {
        const keys = [...acknowledged.keys()].filter((k) => !deleted.has(k));
        if (keys.length > 4) {
          const k = keys[Math.floor(Math.random() * keys.length)];
          const [name, digest] = k.split('@');
          const res = await fetch(`${b.url}/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
          assert.equal(res.status, 202);
          deleted.add(k);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const collector = async () => {
      while (Date.now() < until) {
        const res = await runCli(['gc', '--json', '--grace', '0', '--data', b.dataDir, '--config', config]);
        assert.equal(res.code, 0, res.stderr);
        gcRuns++;
      }
    };
    await Promise.all([pusher(0), pusher(1), pusher(2), deleter(), collector()]);

    let checked = 0;
    for (const [key, { name, blobs }] of acknowledged) {
      if (deleted.has(key)) continue;
      const digest = key.split('@')[1];
      assert.equal((await fetch(`${b.url}/v2/${name}/manifests/${digest}`, { method: 'HEAD', headers: { accept: MT.ociManifest } })).status, 200, `${key} is served`);
      for (const blob of blobs) {
        const res = await fetch(`${b.url}/v2/${name}/blobs/${sha256(blob)}`);
        assert.equal(res.status, 200, `${key}: blob ${sha256(blob)} of an acknowledged manifest is there`);
        const got = Buffer.from(await res.arrayBuffer());
        assert.equal(`sha256:${createHash('sha256').update(got).digest('hex')}`, sha256(blob), 'and whole');
        checked++;
      }
    }
    console.log(`# race: ${acknowledged.size} manifests acknowledged, ${deleted.size} deleted, ${failures} pushes refused, ${gcRuns} gc runs, ${checked} blobs verified`);
    assert.ok(acknowledged.size - deleted.size > 10, 'enough survived to check');
    assert.ok(gcRuns >= 2, 'collections ran beside the pushes');
  });
});
