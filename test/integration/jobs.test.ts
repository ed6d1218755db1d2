// The job runtime in real Berth processes, and the garbage collection it runs: batches, a clean stop in the
// middle of a collection, blobs protected by a check, runs visible across processes, and background jobs
// that survive the worker running them being killed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ADMIN_PASSWORD, removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';
import { openTestDb, openTestStore } from '../helpers/db.js';
import { GarbageCollector } from '../../src/registry/garbage-collector.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem/filesystem-driver.js';
import { blobPath } from '../../src/registry/paths.js';
import { parseDigest, type ParsedDigest } from '../../src/oci/digest.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface RunRow { id: string; job: string; trigger: string; state: string; holder: string | null; attempt: number; created_at: number; finished_at: number | null; progress: string | null }

/** Reads job_runs from the outside, as an operator would (the server keeps running). */
async function jobRuns(dataDir: string, job: string): Promise<RunRow[]> {
  const db = openTestDb(dataDir, { readonly: true });
  try {
    return await db.all<RunRow>('select id, job, trigger, state, holder, attempt, created_at, finished_at, progress from job_runs where job = ? order by created_at', job);
  } finally {
    await db.close();
  }
}

const pidOf = (holder: string | null) => Number(holder?.split('/')[2]);

/** Blob rows and link rows (and, for some, files) straight into the database: many orphans, quickly. */
async function seedOrphans(dataDir: string, n: number, opts: { files?: number; touchedAt?: number } = {}): Promise<ParsedDigest[]> {
  const db = openTestDb(dataDir);
  const digests: ParsedDigest[] = [];
  try {
    const t = opts.touchedAt ?? Date.now() - 86_400_000;
    await db.run("insert into repositories (name, created_at) values ('jobs/seed', ?) on conflict do nothing", t);
    const repo = (await db.get<{ id: number }>("select id from repositories where name = 'jobs/seed'"))!.id;
    const blobs: unknown[][] = [], links: unknown[][] = [];
    for (let i = 0; i < n; i++) {
      const data = randomBytes(16);
      const d = parseDigest(sha256(data)) as ParsedDigest;
      digests.push(d);
      blobs.push([d.digest, data.length, t, t]);
      links.push([repo, d.digest, t, t]);
      if (i < (opts.files ?? 0)) {
        const file = path.join(dataDir, 'storage', blobPath(d));
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, data);
      }
    }
    for (let i = 0; i < n; i += 500) {
      const b = blobs.slice(i, i + 500), l = links.slice(i, i + 500);
      await db.run(`insert into blobs (digest, size, created_at, touched_at) values ${b.map(() => '(?, ?, ?, ?)').join(', ')}`, ...b.flat());
      await db.run(`insert into repository_blobs (repository_id, digest, created_at, touched_at) values ${l.map(() => '(?, ?, ?, ?)').join(', ')}`, ...l.flat());
    }
  } finally {
    db.close();
  }
  return digests;
}

describe('garbage collection in batches', () => {
  test('a collection removes links, blobs and files a few hundred per transaction, not one each', async () => {
    const dir = await tempDir('berth-gc-batch-');
    const meta = await openTestStore(dir);
    try {
      const digests = await seedOrphans(dir, 1200, { files: 300 });
      // An old file no row accounts for (a publication that never committed).
      const stray = parseDigest(sha256('stray')) as ParsedDigest;
      const strayFile = path.join(dir, 'storage', blobPath(stray));
      mkdirSync(path.dirname(strayFile), { recursive: true });
      writeFileSync(strayFile, 'stray');
      const { utimesSync } = await import('node:fs');
      const old = new Date(Date.now() - 86_400_000);
      for (const d of digests.slice(0, 300)) utimesSync(path.join(dir, 'storage', blobPath(d)), old, old);
      utimesSync(strayFile, old, old);

      let transactions = 0;
      const transaction = meta.transaction;
      meta.transaction = (fn) => { transactions++; return transaction(fn); };
      const gc = new GarbageCollector(meta, new FilesystemDriver(path.join(dir, 'storage')));
      const phases: string[] = [];
      const report = await gc.run({ graceSeconds: 3600, uploadExpirySeconds: 3600, batchSize: 250, progress: (m) => phases.push(m) });
      assert.equal(report.unlinked, 1200);
      assert.equal(report.blobsRemoved, 1200);
      assert.equal(report.orphanFilesRemoved, 1);
      // 1200 links and 1200 blobs in batches of 250: 5 + 5 transactions, and one for the stray file.
      assert.ok(transactions <= 12, `${transactions} transactions for 2400 removals`);
      assert.equal(Number((await meta.db.selectFrom('blobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 0);
      for (const d of digests.slice(0, 300)) assert.ok(!existsSync(path.join(dir, 'storage', blobPath(d))), 'the blob files are gone');
      assert.ok(!existsSync(strayFile));
      assert.ok(phases.includes('gc: removing unreferenced blobs'), 'progress while removing');
    } finally {
      await meta.close();
      await removeDir(dir);
    }
  });

  test('collections on an interval walk every stored file only when the last walk is older than gc.sweepInterval', async () => {
    const dir = await tempDir('berth-gc-sweep-');
    const meta = await openTestStore(dir);
    try {
      const gc = new GarbageCollector(meta, new FilesystemDriver(path.join(dir, 'storage')));
      const stray = (name: string) => {
        const d = parseDigest(sha256(name)) as ParsedDigest;
        const file = path.join(dir, 'storage', blobPath(d));
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, name);
        const old = new Date(Date.now() - 86_400_000);
        utimesSync(file, old, old);
        return file;
      };
      const opts = { graceSeconds: 3600, uploadExpirySeconds: 3600, sweepFilesEveryMs: 3600_000 };
      const first = stray('first');
      const a = await gc.run(opts);
      assert.equal(a.filesSwept, true, 'never walked before: walks');
      assert.ok(!existsSync(first));
      const second = stray('second');
      const b = await gc.run(opts);
      assert.equal(b.filesSwept, false, 'walked a moment ago: does not walk');
      assert.ok(existsSync(second), 'the stray file waits for the next walk');
      const c = await gc.run({ ...opts, sweepFilesEveryMs: undefined });
      assert.equal(c.filesSwept, true, 'berth gc always walks');
      assert.ok(!existsSync(second));
    } finally {
      await meta.close();
      await removeDir(dir);
    }
  });

  test('a collection stops between batches when its signal aborts', async () => {
    const dir = await tempDir('berth-gc-abort-');
    const meta = await openTestStore(dir);
    try {
      await seedOrphans(dir, 2000);
      const controller = new AbortController();
      const gc = new GarbageCollector(meta, new FilesystemDriver(path.join(dir, 'storage')));
      let batches = 0;
      const transaction = meta.transaction;
      meta.transaction = (fn) => { if (++batches === 2) controller.abort(new Error('stop now')); return transaction(fn); };
      await assert.rejects(gc.run({ graceSeconds: 3600, uploadExpirySeconds: 3600, batchSize: 100, signal: controller.signal }), /stop now/);
      const links = Number((await meta.db.selectFrom('repository_blobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
      assert.equal(links, 1800, 'the batch in flight completed; none after it started');
    } finally {
      await meta.close();
      await removeDir(dir);
    }
  });
});

describe('a checked blob is protected from collection', () => {
  test('HEAD or GET of a blob (and a mount) spare it for the grace period; the manifest that follows finds it', async () => {
    const b = await startBerth();
    try {
      const layer = randomBytes(3000), other = randomBytes(3000), mounted = randomBytes(3000), config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      for (const data of [layer, other, mounted]) await pushBlob(b.url, 'jobs/protect', data);
      // Pushed long ago: older than the grace period, linked to no manifest.
      const db = openTestDb(b.dataDir);
      const old = Date.now() - 2 * 3600_000;
      for (const d of [layer, other, mounted].map((x) => sha256(x))) {
        await db.run('update blobs set touched_at = ? where digest = ?', old, d);
        await db.run('update repository_blobs set touched_at = ? where digest = ?', old, d);
      }
      await db.close();
      // A client checks the layer (HEAD) and skips its upload; another mounts a blob into a new repository.
      assert.equal((await fetch(`${b.url}/v2/jobs/protect/blobs/${sha256(layer)}`, { method: 'HEAD' })).status, 200);
      const mount = await fetch(`${b.url}/v2/jobs/mounted/blobs/uploads/?mount=${sha256(mounted)}&from=jobs/protect`, { method: 'POST' });
      assert.equal(mount.status, 201);
      // A collection with the server's grace (3600 s) runs between the check and the manifest.
      const res = await runCli(['gc', '--json', '--data', b.dataDir, '--config', path.join(b.dataDir, '..', `berth-config-${b.port}.yaml`)]);
      assert.equal(res.code, 0, res.stderr);
      const report = JSON.parse(res.stdout);
      assert.ok(report.unlinked >= 2, `the unchecked links went (${res.stdout})`);
      const status = async (name: string, d: string) => (await fetch(`${b.url}/v2/${name}/blobs/${d}`, { method: 'HEAD' })).status;
      assert.equal(await status('jobs/protect', sha256(other)), 404, 'the blob nobody checked was collected');
      assert.equal(await status('jobs/protect', sha256(mounted)), 404, 'its old link in the source repository went');
      assert.equal(await status('jobs/mounted', sha256(mounted)), 200, 'the mounted blob stays');
      await pushBlob(b.url, 'jobs/protect', config);
      const manifest = {
        schemaVersion: 2, mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }],
      };
      const put = await pushManifest(b.url, 'jobs/protect', 'v1', manifest, MT.ociManifest);
      assert.equal(put.res.status, 201, `the manifest finds the checked layer: ${put.body.toString()}`);
    } finally {
      await b.stop();
    }
  });
});

describe('garbage collection runs from the API', () => {
  test('a run started in one process is followed and listed from another; its audit record names the caller', async () => {
    const a = await startBerth({ auth: true });
    let b: BerthProcess | undefined;
    try {
      b = await startBerth({ auth: true, dataDir: a.dataDir });
      const auth = basicAuth('admin', ADMIN_PASSWORD);
      const apiA = new ApiClient(a.url, auth), apiB = new ApiClient(b.url, auth);
      const started = await apiA.post('/gc', { dryRun: true });
      assert.equal(started.status, 202);
      assert.ok(['running'].includes(started.body.state));
      const done = await waitFor('the run done, seen from B', async () => {
        const r = await apiB.get(`/gc/${started.body.id}`);
        assert.equal(r.status, 200, 'B knows the run A started');
        return r.body.state === 'done' ? r.body : undefined;
      });
      assert.equal(done.dryRun, true);
      assert.equal(typeof done.report.blobsRemoved, 'number');
      assert.deepEqual(done.progress, { phase: 'finished', fields: {} });
      assert.ok((await apiB.get('/gc')).body.items.some((r: { id: string }) => r.id === started.body.id));
      const audit = await waitFor('the gc.run audit record', async () => {
        const items = (await apiB.get('/audit?n=100')).body.items as { action: string; actor: string; detail: { id?: string } }[];
        return items.find((x) => x.action === 'gc.run' && x.detail?.id === started.body.id);
      });
      assert.equal(audit.actor, 'admin');
    } finally {
      await b?.stop();
      await a.stop();
    }
  });

  test('stopping the server in the middle of a collection stops it cleanly; the run resumes after the restart', async () => {
    const dir = await tempDir();
    let b = await startBerth({ auth: true, dataDir: dir });
    try {
      await b.stop();
      await seedOrphans(dir, 60_000);
      b = await startBerth({ auth: true, dataDir: dir });
      const api = new ApiClient(b.url, basicAuth('admin', ADMIN_PASSWORD));
      const started = await api.post('/gc', {});
      assert.equal(started.status, 202);
      await waitFor('the collection removing blobs', async () => {
        const run = (await jobRuns(dir, 'gc')).find((r) => r.id === started.body.id);
        return run?.state === 'running' && run.progress?.includes('removing unreferenced blobs');
      });
      await b.stop();
      assert.equal(b.proc.exitCode, 0, 'a clean exit');
      assert.ok(b.logs.some((l) => l.includes('"msg":"stopped"')));
      const notable = b.logs.filter((l) => /destroyed|unhandled|"level":50/.test(l));
      assert.deepEqual(notable, [], 'no error during the stop');
      const run = (await jobRuns(dir, 'gc')).find((r) => r.id === started.body.id)!;
      assert.equal(run.state, 'queued', 'the interrupted run waits for the next holder');
      assert.equal(run.attempt, 1, 'an interruption is not a failed attempt');
      b = await startBerth({ auth: true, dataDir: dir });
      const api2 = new ApiClient(b.url, basicAuth('admin', ADMIN_PASSWORD));
      const done = await waitFor('the run done after the restart', async () => {
        const r = (await api2.get(`/gc/${started.body.id}`)).body;
        return r.state === 'done' ? r : undefined;
      }, 120_000);
      assert.equal(done.state, 'done');
      const left = openTestDb(dir, { readonly: true });
      assert.equal(Number((await left.get<{ n: number }>('select count(*) as n from blobs'))!.n), 0, 'every orphan was collected in the end');
      await left.close();
    } finally {
      await b.stop();
      await removeDir(dir);
    }
  });
});

describe('background jobs with several workers', () => {
  test('jobs keep running when the worker running them is killed with SIGKILL', { timeout: 180_000 }, async () => {
    const b = await startBerth({ config: { http: { workers: 2 }, gc: { interval: 1 }, audit: { checkpointInterval: 1 } } });
    try {
      const first = await waitFor('a scheduled collection', async () => (await jobRuns(b.dataDir, 'gc')).find((r) => r.state === 'done' && r.trigger === 'schedule'));
      const victim = pidOf(first.holder);
      assert.ok(victim > 0 && victim !== b.proc.pid, `a worker ran it (${first.holder})`);
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      const after = await waitFor('a collection by another worker after the kill', async () => (await jobRuns(b.dataDir, 'gc'))
        .find((r) => r.state === 'done' && r.created_at > killedAt && pidOf(r.holder) !== victim));
      assert.notEqual(pidOf(after.holder), victim);
      await waitFor('audit checkpoints by another worker too', async () => (await jobRuns(b.dataDir, 'audit.checkpoint'))
        .find((r) => r.state === 'done' && r.created_at > killedAt && pidOf(r.holder) !== victim));
      // Never two collections at once, across the workers.
      const runs = (await jobRuns(b.dataDir, 'gc')).filter((r) => r.trigger === 'schedule' && r.finished_at !== null);
      for (let i = 1; i < runs.length; i++) assert.ok(runs[i].created_at >= runs[i - 1].finished_at!, 'runs do not overlap');
      assert.equal((await jobRuns(b.dataDir, 'gc')).filter((r) => r.state === 'running').length <= 1, true);
    } finally {
      await b.stop();
    }
  });
});
