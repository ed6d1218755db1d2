// The browsing side of /api/v1 (what the web UI shows): tags with sizes, push times and platforms, sorted
// and paged; a manifest with its configuration, layers, children and referrers; storage and activity
// statistics limited to what the caller may pull; garbage collection runs with progress.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTestDb } from '../helpers/db.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

const ADMIN = basicAuth('admin', ADMIN_PASSWORD);

async function image(b: BerthProcess, name: string, tag: string | null, layerBytes: number, arch = 'amd64') {
  const headers = { authorization: ADMIN };
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Entrypoint: ['/app'], Env: ['A=1'], Labels: { team: 'core' }, ExposedPorts: { '8080/tcp': {} } }, history: [{ created_by: 'COPY app /app' }], n: randomBytes(4).toString('hex') }));
  const layer = randomBytes(layerBytes);
  await pushBlob(b.url, name, config, headers);
  await pushBlob(b.url, name, layer, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }] };
  const r = await pushManifest(b.url, name, tag ?? sha256(Buffer.from(JSON.stringify(m))), m, MT.ociManifest, headers);
  assert.equal(r.res.status, 201);
  return { digest: r.digest, size: r.body.length + config.length + layer.length, manifestSize: r.body.length };
}

describe('browsing API', () => {
  let b: BerthProcess;
  let admin: ApiClient;
  const pushed: Record<string, { digest: string; size: number; manifestSize: number }> = {};

  before(async () => {
    b = await startBerth({ auth: true });
    admin = new ApiClient(b.url, ADMIN);
    assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);
    assert.equal((await admin.post('/users', { name: 'outsider', password: 'nothing-to-see-here-1' })).status, 201);
    pushed.small = await image(b, 'acme/app', 'small', 100);
    await new Promise((r) => setTimeout(r, 5));
    pushed.big = await image(b, 'acme/app', 'big', 5000);
    await new Promise((r) => setTimeout(r, 5));
    pushed.mid = await image(b, 'acme/app', 'mid', 1000);
    // A multi-arch index over two images, and a signature-like referrer of "big".
    const arm = await image(b, 'acme/app', null, 300, 'arm64');
    const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [
      { mediaType: MT.ociManifest, digest: pushed.small.digest, size: pushed.small.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MT.ociManifest, digest: arm.digest, size: arm.manifestSize, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ] };
    assert.equal((await pushManifest(b.url, 'acme/app', 'multi', index, MT.ociIndex, { authorization: ADMIN })).res.status, 201);
    const empty = Buffer.from('{}');
    await pushBlob(b.url, 'acme/app', empty, { authorization: ADMIN });
    const sig = { schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', config: { mediaType: MT.ociEmpty, digest: sha256(empty), size: 2 }, layers: [], subject: { mediaType: MT.ociManifest, digest: pushed.big.digest, size: pushed.big.manifestSize }, annotations: { 'dev.cosignproject.cosign/signature': 'x' } };
    const sigRes = await pushManifest(b.url, 'acme/app', sha256(Buffer.from(JSON.stringify(sig))), sig, MT.ociManifest, { authorization: ADMIN });
    assert.equal(sigRes.res.status, 201);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/big`, { headers: { authorization: ADMIN, accept: MT.ociManifest } })).status, 200);
  });
  after(async () => { await b.stop(); });

  test('tags: sizes include blobs, platforms of an index, sorting by name, size and push time, paging', async () => {
    const byName = (await admin.get('/repositories/acme%2Fapp/tags')).body;
    assert.deepEqual(byName.items.map((t: any) => t.name), ['big', 'mid', 'multi', 'small']);
    const big = byName.items.find((t: any) => t.name === 'big');
    assert.equal(big.digest, pushed.big.digest);
    assert.equal(big.size, pushed.big.size);
    assert.equal(big.mediaType, MT.ociManifest);
    const multi = byName.items.find((t: any) => t.name === 'multi');
    assert.deepEqual(multi.platforms, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }]);
    assert.ok(multi.size > pushed.small.size, 'an index counts its children');
    // A single-platform image: its platform from its configuration; an artifact (the signature) has none.
    assert.deepEqual(big.platforms, [{ os: 'linux', architecture: 'amd64' }]);
    const second = (await admin.get('/repositories/acme%2Fapp/tags?n=2&last=mid')).body.items.find((t: any) => t.name === 'small');
    assert.deepEqual(second.platforms, [{ os: 'linux', architecture: 'amd64' }], 'also on later pages');
    const bySize = (await admin.get('/repositories/acme%2Fapp/tags?sort=size&order=desc')).body.items.map((t: any) => t.name);
    assert.equal(bySize[0], 'big');
    assert.equal(bySize[bySize.length - 1], 'small');
    const byPush = (await admin.get('/repositories/acme%2Fapp/tags?sort=pushed')).body.items.map((t: any) => t.name);
    assert.deepEqual(byPush.slice(0, 3), ['small', 'big', 'mid']);
    const p1 = (await admin.get('/repositories/acme%2Fapp/tags?n=2')).body;
    assert.deepEqual(p1.items.map((t: any) => t.name), ['big', 'mid']);
    assert.equal(p1.next, 'mid');
    const p2 = (await admin.get(`/repositories/acme%2Fapp/tags?n=2&last=${p1.next}`)).body;
    assert.deepEqual(p2.items.map((t: any) => t.name), ['multi', 'small']);
    assert.equal(p2.next, null);
    assert.equal(p2.total, 4);
    const filtered = (await admin.get('/repositories/acme%2Fapp/tags?q=i')).body;
    assert.deepEqual(filtered.items.map((t: any) => t.name), ['big', 'mid', 'multi']);
    assert.equal(filtered.total, 3);
    assert.equal((await admin.get('/repositories/acme%2Fnope/tags')).status, 404);
    assert.equal((await new ApiClient(b.url, basicAuth('outsider', 'nothing-to-see-here-1')).get('/repositories/acme%2Fapp/tags')).status, 403);
  });

  test('10,000 tags: served a page at a time, counted, filtered and sorted on the server', async () => {
    const db = openTestDb(b.dataDir);
    try {
      const repo = (await db.get<{ id: number }>("select id from repositories where name = 'acme/app'"))!;
      const m = (await db.get<{ id: number }>("select t.manifest_id as id from tags t where t.repository_id = ? and t.name = 'small'", repo.id))!;
      for (let from = 0; from < 10_000; from += 500) {
        const rows = Array.from({ length: 500 }, (_, k) => [repo.id, `v${String(from + k).padStart(5, '0')}`, m.id, 1_700_000_000_000 + from + k]);
        await db.run(`insert into tags (repository_id, name, manifest_id, updated_at) values ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`, ...rows.flat());
      }
    } finally {
      await db.close();
    }
    const first = (await admin.get('/repositories/acme%2Fapp/tags?n=100')).body;
    assert.equal(first.items.length, 100);
    assert.equal(first.total, 10_004);
    const second = (await admin.get(`/repositories/acme%2Fapp/tags?n=100&last=${first.next}`)).body;
    assert.equal(second.items[0].name > first.items[99].name, true);
    const newest = (await admin.get('/repositories/acme%2Fapp/tags?n=3&sort=pushed&order=desc')).body.items.map((t: any) => t.name);
    assert.equal(newest.length, 3);
    const filtered = (await admin.get('/repositories/acme%2Fapp/tags?q=v0999')).body;
    assert.equal(filtered.total, 10);
    const db2 = openTestDb(b.dataDir);
    try {
      await db2.run("delete from tags where name like 'v%'");
    } finally {
      await db2.close();
    }
  });

  test('following next visits every tag once in every order, and continues after a tag deleted meanwhile', async () => {
    for (const [sort, order] of [['name', 'asc'], ['name', 'desc'], ['pushed', 'asc'], ['pushed', 'desc'], ['size', 'asc'], ['size', 'desc']]) {
      const all = (await admin.get(`/repositories/acme%2Fapp/tags?n=100&sort=${sort}&order=${order}`)).body.items.map((t: any) => t.name);
      const seen: string[] = [];
      let last: string | null = null;
      for (let guard = 0; guard < 10; guard++) {
        const page: any = (await admin.get(`/repositories/acme%2Fapp/tags?n=1&sort=${sort}&order=${order}${last ? `&last=${encodeURIComponent(last)}` : ''}`)).body;
        seen.push(...page.items.map((t: any) => t.name));
        last = page.next;
        if (!last) break;
      }
      assert.deepEqual(seen, all, `${sort} ${order}`);
    }
    // Delete the tag a cursor points at: the next page starts after where it was, not at the first page.
    const extra = await image(b, 'acme/app', 'm-gone', 2000);
    assert.ok(extra.digest);
    // Orders in which m-gone is not the last tag: name (between big and mid), newest first, size (between mid and big).
    for (const [sort, order] of [['name', 'asc'], ['pushed', 'desc'], ['size', 'asc']]) {
      const before = (await admin.get(`/repositories/acme%2Fapp/tags?n=100&sort=${sort}&order=${order}`)).body.items.map((t: any) => t.name);
      const at = before.indexOf('m-gone');
      assert.ok(at >= 0 && at < before.length - 1, `${sort}: ${before}`);
      const page = (await admin.get(`/repositories/acme%2Fapp/tags?n=${at + 1}&sort=${sort}&order=${order}`)).body;
      assert.equal(page.items[at].name, 'm-gone');
      assert.equal((await admin.delete('/repositories/acme%2Fapp/tags/m-gone')).status < 300, true);
      assert.ok(page.next);
      const after = (await admin.get(`/repositories/acme%2Fapp/tags?n=100&sort=${sort}&order=${order}&last=${encodeURIComponent(page.next)}`)).body.items.map((t: any) => t.name);
      assert.deepEqual(after, before.slice(at + 1), `${sort}: continues after the deleted tag`);
      await image(b, 'acme/app', 'm-gone', 2000);
    }
    assert.equal((await admin.delete('/repositories/acme%2Fapp/tags/m-gone')).status < 300, true);
  });

  test('a manifest with its configuration, layers and referrers; an index with its children', async () => {
    const m = (await admin.get('/repositories/acme%2Fapp/manifests/big')).body;
    assert.equal(m.digest, pushed.big.digest);
    assert.deepEqual(m.config.config.Entrypoint, ['/app']);
    assert.deepEqual(m.config.config.Labels, { team: 'core' });
    assert.equal(m.layers.length, 1);
    assert.equal(m.layers[0].size, 5000);
    assert.deepEqual(m.tags, ['big']);
    assert.equal(m.referrers.length, 1);
    assert.equal(m.referrers[0].artifactType, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    const byDigest = (await admin.get(`/repositories/acme%2Fapp/manifests/${pushed.big.digest}`)).body;
    assert.equal(byDigest.digest, pushed.big.digest);
    const idx = (await admin.get('/repositories/acme%2Fapp/manifests/multi')).body;
    assert.equal(idx.config, null);
    assert.equal(idx.children.length, 2);
    assert.equal(idx.children[1].platform.architecture, 'arm64');
    assert.equal((await admin.get('/repositories/acme%2Fapp/manifests/none')).status, 404);
  });

  test('statistics: storage per organization and repository, activity per day, only what the caller may pull', async () => {
    const s = (await admin.get('/stats/storage')).body;
    const acme = s.organizations.find((o: any) => o.name === 'acme');
    assert.ok(acme.bytes >= 6400 && acme.repositories === 1);
    assert.equal(s.repositories[0].name, 'acme/app');
    assert.ok(s.totalBytes >= acme.bytes);
    const outsider = new ApiClient(b.url, basicAuth('outsider', 'nothing-to-see-here-1'));
    assert.deepEqual((await outsider.get('/stats/storage')).body.organizations, []);
    const a = (await admin.get('/stats/activity?days=7')).body.days;
    assert.equal(a.length, 7);
    const today = a[a.length - 1];
    assert.equal(today.date, new Date().toISOString().slice(0, 10));
    assert.ok(today.pushes >= 5 && today.pulls >= 3, JSON.stringify(today));
    assert.ok((await outsider.get('/stats/activity?days=7')).body.days.every((d: any) => d.pushes === 0 && d.pulls === 0));
  });

  test('garbage collection from the API: started, followed to its end, administrators only', async () => {
    assert.equal((await new ApiClient(b.url, basicAuth('outsider', 'nothing-to-see-here-1')).post('/gc', {})).status, 403);
    const started = await admin.post('/gc', { dryRun: true });
    assert.equal(started.status, 202);
    let run = started.body;
    const deadline = Date.now() + 20_000;
    while (run.state === 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      run = (await admin.get(`/gc/${run.id}`)).body;
    }
    assert.equal(run.state, 'done');
    assert.equal(run.dryRun, true);
    assert.equal(typeof run.report.blobsRemoved, 'number');
    assert.ok((await admin.get('/gc')).body.items.some((r: any) => r.id === run.id));
    assert.equal((await admin.get('/gc/no-such-run')).status, 404);
  });
});
