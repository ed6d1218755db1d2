// Deleting repositories and tags through the management API and the CLI: who may, what goes (tags,
// manifests, referrers, settings, roles, blob links), what stays (a manifest by digest after a tag delete,
// blobs another repository uses), the audit records and outbox events, and garbage collection afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTestDb } from '../helpers/db.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, removeDir, runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';
import { waitFor } from '../helpers/receiver.js';

const ADMIN = basicAuth('admin', ADMIN_PASSWORD);
const H = { authorization: ADMIN };
const PW = 'delete-tests-password-42';

async function image(b: BerthProcess, name: string, tag: string, layers: Buffer[]) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
  for (const blob of [config, ...layers]) await pushBlob(b.url, name, blob, H);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: sha256(l), size: l.length })) };
  const r = await pushManifest(b.url, name, tag, m, MT.ociManifest, H);
  assert.equal(r.res.status, 201);
  return { digest: r.digest, size: r.body.length, blobs: [sha256(config), ...layers.map(sha256)] };
}

const cliArgs = (b: BerthProcess) => ['--data', b.dataDir, '--config', path.join(b.dataDir, '..', `berth-config-${b.port}.yaml`)];

async function storedBlobs(b: BerthProcess): Promise<Set<string>> {
  const out = new Set<string>();
  const root = path.join(b.dataDir, 'storage', 'blobs', 'sha256');
  for (const prefix of await readdir(root).catch(() => [])) for (const f of await readdir(path.join(root, prefix))) out.add(`sha256:${f}`);
  return out;
}

async function query<T>(b: BerthProcess, sql: string, ...params: unknown[]): Promise<T[]> {
  const db = openTestDb(b.dataDir, { readonly: true });
  try { return await db.all<T>(sql, ...params); } finally { await db.close(); }
}

const tagsList = async (b: BerthProcess, name: string) => fetch(`${b.url}/v2/${name}/tags/list`, { headers: H });
const catalog = async (b: BerthProcess) => ((await (await fetch(`${b.url}/v2/_catalog`, { headers: H })).json()) as { repositories: string[] }).repositories;

describe('repository and tag deletion', () => {
  let b: BerthProcess;
  let admin: ApiClient;
  let dev: ApiClient;
  let maint: ApiClient;
  const shared = randomBytes(3000);
  let app1: Awaited<ReturnType<typeof image>>;
  let app2: Awaited<ReturnType<typeof image>>;
  let other: Awaited<ReturnType<typeof image>>;
  let referrer: string;

  before(async () => {
    b = await startBerth({ auth: true });
    admin = new ApiClient(b.url, ADMIN);
    assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);
    for (const [u, role] of [['dev1', 'developer'], ['maint1', 'maintainer']] as const) {
      assert.equal((await admin.post('/users', { name: u, password: PW })).status, 201);
      assert.equal((await admin.put(`/organizations/acme/members/${u}`, { role })).status, 204);
    }
    dev = new ApiClient(b.url, basicAuth('dev1', PW));
    maint = new ApiClient(b.url, basicAuth('maint1', PW));
    app1 = await image(b, 'acme/app', 'v1', [randomBytes(2000), shared]);
    app2 = await image(b, 'acme/app', 'v2', [randomBytes(2500)]);
    other = await image(b, 'acme/other', 'v1', [shared]);
    // A referrer (a signature) of v1, a visibility setting and a role on the repository.
    const empty = Buffer.from('{}');
    await pushBlob(b.url, 'acme/app', empty, H);
    const sig = { schemaVersion: 2, mediaType: MT.ociManifest, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', config: { mediaType: MT.ociEmpty, digest: sha256(empty), size: 2 }, layers: [], subject: { mediaType: MT.ociManifest, digest: app1.digest, size: app1.size } };
    const s = await pushManifest(b.url, 'acme/app', sha256(Buffer.from(JSON.stringify(sig))), sig, MT.ociManifest, H);
    assert.equal(s.res.status, 201);
    referrer = s.digest;
    assert.equal((await admin.patch('/repositories/acme%2Fapp', { visibility: 'public' })).status, 204);
    assert.equal((await admin.put('/repositories/acme%2Fapp/members/dev1', { role: 'reader' })).status, 204);
  });
  after(async () => {
    await b?.stop();
    if (b) await removeDir(b.dataDir);
  });

  test('a developer may not delete a tag or the repository; the denial is on record', async () => {
    const t = await dev.delete('/repositories/acme%2Fapp/tags/v2');
    assert.equal(t.status, 403);
    assert.equal(t.body.error.code, 'DENIED');
    assert.equal((await dev.delete('/repositories/acme%2Fapp')).status, 403);
    assert.equal((await new ApiClient(b.url).delete('/repositories/acme%2Fapp')).status, 401);
    const tags = (await (await tagsList(b, 'acme/app')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1', 'v2'], 'nothing was deleted');
    // A denial changes nothing: its record reaches the chain through the spool, just after the answer.
    await waitFor('the denied repository delete is audited', async () => (await query<{ detail: string }>(b, "select detail from audit_log where action = 'access.denied' and actor = 'dev1'"))
      .some((d) => JSON.parse(d.detail).route === 'DELETE /repositories/:name') || undefined);
  });

  test('a maintainer deletes a tag: gone from tags/list, the manifest still pulls by digest; audit record and event', async () => {
    const r = await maint.delete('/repositories/acme%2Fapp/tags/v2');
    assert.equal(r.status, 204, JSON.stringify(r.body));
    assert.deepEqual(((await (await tagsList(b, 'acme/app')).json()) as { tags: string[] }).tags, ['v1']);
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v2`, { headers: { ...H, accept: MT.ociManifest } })).status, 404);
    const byDigest = await fetch(`${b.url}/v2/acme/app/manifests/${app2.digest}`, { headers: { ...H, accept: MT.ociManifest } });
    assert.equal(byDigest.status, 200, 'the manifest stays reachable by digest');
    const audit = (await query<{ actor: string; detail: string }>(b, "select actor, detail from audit_log where action = 'tag.delete' and resource = 'repository:acme/app:v2'"));
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor, 'maint1');
    assert.equal(JSON.parse(audit[0].detail).digest, app2.digest);
    const events = (await query<{ payload: string }>(b, "select payload from events where type = 'tag.deleted' and repository = 'acme/app'"));
    assert.equal(events.length, 1);
    assert.deepEqual({ tag: JSON.parse(events[0].payload).target.tag, digest: JSON.parse(events[0].payload).target.digest }, { tag: 'v2', digest: app2.digest });

    const again = await maint.delete('/repositories/acme%2Fapp/tags/v2');
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'NOT_FOUND');
    assert.equal((await maint.delete('/repositories/acme%2Fnope/tags/v1')).status, 404);
    assert.equal((await maint.delete('/repositories/acme%2Fapp/tags/bad%20tag')).status, 400);
  });

  test('a maintainer deletes the repository: tags, catalog entry, manifests, referrers, settings and roles go in one step', async () => {
    const before = (await query<{ id: number }>(b, "select id from repositories where name = 'acme/app'"));
    assert.equal(before.length, 1);
    const r = await maint.delete('/repositories/acme%2Fapp');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { tags: 1, manifests: 3, blobLinks: 6 });

    const list = await tagsList(b, 'acme/app');
    assert.equal(list.status, 404, 'tags/list knows no such repository');
    assert.ok(!(await catalog(b)).includes('acme/app'), 'gone from the catalog');
    assert.ok((await catalog(b)).includes('acme/other'));
    for (const d of [app1.digest, app2.digest, referrer]) {
      assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/${d}`, { headers: { ...H, accept: MT.ociManifest } })).status, 404);
    }
    assert.equal((await fetch(`${b.url}/v2/acme/app/blobs/${app1.blobs[1]}`, { headers: H })).status, 404, 'the repository no longer serves its blobs');
    const id = before[0].id;
    for (const table of ['tags', 'manifests', 'manifest_blobs', 'manifest_children', 'repository_blobs', 'uploads']) {
      assert.equal((await query(b, `select 1 from ${table} where repository_id = ?`, id)).length, 0, `${table} rows are gone`);
    }
    assert.equal((await query(b, "select 1 from repository_settings where name = 'acme/app'")).length, 0);
    assert.equal((await query(b, "select 1 from repository_members where repository_name = 'acme/app'")).length, 0);
    const shown = await admin.get('/repositories/acme%2Fapp');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.exists, false, 'the API tells that it does not exist');
    assert.equal(shown.body.visibility, 'inherit', 'its visibility setting went with it');
    assert.equal((await admin.get('/repositories/acme%2Fother')).body.exists, true);

    const audit = (await query<{ actor: string; detail: string }>(b, "select actor, detail from audit_log where action = 'repository.delete' and resource = 'repository:acme/app'"));
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor, 'maint1');
    assert.deepEqual(JSON.parse(audit[0].detail), { tags: 1, manifests: 3, blobLinks: 6, uploads: 0 });
    const events = (await query<{ payload: string }>(b, "select payload from events where type = 'repository.deleted' and repository = 'acme/app'"));
    assert.equal(events.length, 1);
    const ev = JSON.parse(events[0].payload);
    assert.deepEqual(ev.target, { repository: 'acme/app' });
    assert.equal(ev.actor.name, 'maint1');

    const again = await maint.delete('/repositories/acme%2Fapp');
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'NOT_FOUND');
  });

  test('berth gc then frees the blobs only that repository used and keeps those another repository uses', async () => {
    const onlyApp = [app1.blobs[0], app1.blobs[1], app2.blobs[0], app2.blobs[1]];
    const stored = await storedBlobs(b);
    for (const d of onlyApp) assert.ok(stored.has(d), 'blobs are not removed by the delete itself');
    const res = await runCli(['gc', ...cliArgs(b), '--grace', '0']);
    assert.equal(res.code, 0, res.stderr);
    const after = await storedBlobs(b);
    for (const d of onlyApp) assert.ok(!after.has(d), `gc removed ${d}`);
    assert.ok(after.has(sha256(shared)), 'the layer acme/other uses stays');
    for (const d of other.blobs) {
      const got = await fetch(`${b.url}/v2/acme/other/blobs/${d}`, { headers: H });
      assert.equal(got.status, 200);
      if (d === sha256(shared)) assert.equal(sha256(Buffer.from(await got.arrayBuffer())), d);
    }
    assert.equal((await fetch(`${b.url}/v2/acme/other/manifests/v1`, { headers: { ...H, accept: MT.ociManifest } })).status, 200);
  });

  test('CLI: tag delete, and repo delete refuses without --yes when not on a terminal', async () => {
    const t = await runCli(['tag', 'delete', 'acme/other', 'v1', ...cliArgs(b)]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /deleted tag acme\/other:v1/);
    assert.deepEqual(((await (await tagsList(b, 'acme/other')).json()) as { tags: string[] }).tags, []);
    assert.equal((await fetch(`${b.url}/v2/acme/other/manifests/${other.digest}`, { headers: { ...H, accept: MT.ociManifest } })).status, 200);
    const missing = await runCli(['tag', 'delete', 'acme/other', 'v1', ...cliArgs(b)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no tag v1 in acme\/other/);

    const refused = await runCli(['repo', 'delete', 'acme/other', ...cliArgs(b)], {}, '');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /without confirmation: pass --yes/);
    assert.equal((await admin.get('/repositories/acme%2Fother')).body.exists, true, 'nothing was deleted');

    const done = await runCli(['repo', 'delete', 'acme/other', '--yes', ...cliArgs(b)]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /deleted repository acme\/other: 0 tags, 1 manifests/);
    assert.equal((await tagsList(b, 'acme/other')).status, 404);
    const audit = (await query<{ actor_source: string }>(b, "select actor_source from audit_log where action = 'repository.delete' and resource = 'repository:acme/other'"));
    assert.deepEqual(audit.map((a) => a.actor_source), ['cli']);
    assert.equal((await query(b, "select 1 from events where type = 'repository.deleted' and repository = 'acme/other'")).length, 1);
  });

  test('the OpenAPI document lists both routes with the delete action they need', async () => {
    const doc = (await admin.get('/openapi.json')).body;
    assert.match(doc.paths['/api/v1/repositories/{name}'].delete['x-berth-authorization'], /^delete on repository/);
    assert.ok(doc.paths['/api/v1/repositories/{name}/tags/{tag}'].delete);
    assert.ok(doc.components.schemas.RepositoryDeleted);
  });
});

describe('deletion disabled (registry.deleteEnabled: false)', () => {
  let b: BerthProcess;
  before(async () => {
    b = await startBerth({ auth: true, config: { registry: { deleteEnabled: false } } });
    const org = await runCli(['org', 'create', 'keep', '--data', b.dataDir]);
    assert.equal(org.code, 0, org.stderr);
  });
  after(async () => {
    await b?.stop();
    if (b) await removeDir(b.dataDir);
  });

  test('the API and the CLI refuse to delete, and nothing changes', async () => {
    await image(b, 'keep/app', 'v1', [randomBytes(100)]);
    const admin = new ApiClient(b.url, ADMIN);
    const r = await admin.delete('/repositories/keep%2Fapp');
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'CONFLICT');
    assert.match(r.body.error.message, /deletion is disabled/);
    assert.equal((await admin.delete('/repositories/keep%2Fapp/tags/v1')).status, 409);
    const cli = await runCli(['repo', 'delete', 'keep/app', '--yes', ...cliArgs(b)]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /deletion is disabled/);
    assert.deepEqual(((await (await tagsList(b, 'keep/app')).json()) as { tags: string[] }).tags, ['v1']);
    assert.equal((await query(b, "select 1 from audit_log where action in ('repository.delete', 'tag.delete')")).length, 0);
  });
});
