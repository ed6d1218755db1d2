// The `gc` scenario: garbage collection that keeps up. Berth gets N unreferenced blobs over HTTP and
// `berth gc --grace 0` runs beside the running server; CNCF Distribution gets the same number of blobs
// in its storage layout and runs `docker-registry garbage-collect` (it must be stopped for that). Then,
// Berth only, a churn phase: clients push images and delete older ones at a steady rate while
// `berth gc` runs every few seconds, and the unreferenced blobs still stored after each collection (the
// backlog) are counted with `berth gc --dry-run`.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { GcReport } from '../../src/registry/garbage-collector.js';
import { CLI } from '../../test/helpers/berth.js';
import { repoScope } from './auth.js';
import { sha256 } from './data.js';
import { expect, postBlob, pushMonolithic, putManifest, request, type Endpoint } from './http.js';
import { drive } from './scale.js';
import { DISTRIBUTION_BIN, RssSampler, type Server } from './servers.js';

export type { GcReport };

export interface GcOptions {
  /** unreferenced blobs to populate and collect */
  blobs: number;
  /** concurrent clients of the population */
  clients: number;
  churnSeconds: number;
  /** images pushed (and, once the window is full, deleted) per second */
  churnRate: number;
  /** seconds from the start of one collection to the next during churn */
  churnInterval: number;
  /** `berth gc --grace` of the collections during churn */
  churnGrace: number;
}

/** bytes of every populated blob (random, so every blob is its own) */
export const GC_BLOB_BYTES = 1024;
/** repositories the population is spread over (each its own token with tokens) */
export const GC_REPOS = 10;
export const CHURN_REPO = 'bench/churn';
/** images that stay alive during churn: each push deletes the image pushed this many pushes earlier */
export const CHURN_WINDOW = 10;

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const gcRepo = (i: number) => `bench/gc/r${i % GC_REPOS}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export interface Population {
  blobs: number;
  secs: number;
  failed: number;
  errors: string[];
  /** a few digests, to check that the registry serves what was written */
  sample: { name: string; digest: string }[];
}

function blob(): { data: Buffer; digest: string } {
  const data = randomBytes(GC_BLOB_BYTES);
  return { data, digest: sha256(data) };
}

/**
 * N blobs uploaded to Berth, each in one request (POST ?digest= with the bytes), over GC_REPOS
 * repositories, with no manifest referencing them: all of them garbage once the grace period is over.
 */
export async function populateBerth(label: string, ep: Endpoint, n: number, clients: number, log: (s: string) => void): Promise<Population> {
  const pop: Population = { blobs: n, secs: 0, failed: 0, errors: [], sample: [] };
  const t0 = performance.now();
  await drive(`${label} population`, 0, n, clients, async (i) => {
    const b = blob();
    await postBlob(ep, gcRepo(i), b);
    if (i < 3) pop.sample.push({ name: gcRepo(i), digest: b.digest });
  }, pop, log);
  pop.secs = (performance.now() - t0) / 1000;
  return pop;
}

/**
 * N blobs written straight into Distribution's storage layout, while it is stopped: what its own upload
 * leaves behind (blobs/sha256/<2>/<hex>/data, and the repository's _layers/sha256/<hex>/link naming it).
 * Uploading them over HTTP (POST + PUT, 130–450 blobs/s here) would take minutes for 50,000.
 */
export async function populateDistributionFiles(storageRoot: string, n: number, clients: number, log: (s: string) => void): Promise<Population> {
  const pop: Population = { blobs: n, secs: 0, failed: 0, errors: [], sample: [] };
  const v2 = path.join(storageRoot, 'docker/registry/v2');
  const t0 = performance.now();
  await drive('Distribution population (files)', 0, n, clients, async (i) => {
    const data = randomBytes(GC_BLOB_BYTES);
    const hex = createHash('sha256').update(data).digest('hex');
    const dir = path.join(v2, 'blobs/sha256', hex.slice(0, 2), hex);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'data'), data);
    const link = path.join(v2, 'repositories', gcRepo(i), '_layers/sha256', hex);
    await mkdir(link, { recursive: true });
    await writeFile(path.join(link, 'link'), `sha256:${hex}`);
    if (i < 3) pop.sample.push({ name: gcRepo(i), digest: `sha256:${hex}` });
  }, pop, log);
  pop.secs = (performance.now() - t0) / 1000;
  return pop;
}

/** Blobs (data directories) in Distribution's blob store. */
export function countDistributionBlobs(storageRoot: string): number {
  const base = path.join(storageRoot, 'docker/registry/v2/blobs/sha256');
  let n = 0;
  let prefixes: string[];
  try {
    prefixes = readdirSync(base);
  } catch {
    return 0;
  }
  for (const p of prefixes) n += readdirSync(path.join(base, p)).length;
  return n;
}

interface Child { code: number | null; signal: string | null; stdout: string; stderr: string; wallSecs: number; peakRssMiB: number; startedAt: number; endedAt: number }

/** Runs a command to its end, sampling its RSS every 50 ms; keeps stdout (its first MiB: Distribution prints a line per blob) and stderr's tail. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Child> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = p.pid ? new RssSampler(p.pid, 50).start() : undefined;
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { if (stdout.length < 1 << 20) stdout += d; });
    p.stderr.on('data', (d: Buffer) => { stderr = (stderr + d).slice(-4000); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); sampler?.stop(); reject(e); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({ code, signal, stdout, stderr, wallSecs: (endedAt - startedAt) / 1000, peakRssMiB: sampler?.stop().peakMiB ?? 0, startedAt, endedAt });
    });
  });
}

export interface CliRun {
  report: GcReport;
  /** from spawning the command to its exit (process start and opening the data included) */
  wallSecs: number;
  peakRssMiB: number;
  /** performance.now() when it was spawned and when it exited */
  startedAt: number;
  endedAt: number;
}

/** `berth gc --json ARGS --data … --config …` beside the running server; rejects unless it exits 0 with a report. */
export async function berthGc(srv: Server, args: string[], timeoutMs = 30 * 60_000): Promise<CliRun> {
  const c = await run(process.execPath, [CLI, 'gc', '--json', ...args, '--data', srv.dataDir, '--config', srv.configFile],
    { ...process.env, BERTH_LOG_LEVEL: 'error' }, timeoutMs);
  if (c.code !== 0) throw new Error(`berth gc ${args.join(' ')} exited ${c.code ?? c.signal} after ${c.wallSecs.toFixed(1)} s: ${c.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const line = c.stdout.trim().split('\n').pop() ?? '';
  let report: GcReport;
  try {
    report = JSON.parse(line) as GcReport;
  } catch {
    throw new Error(`berth gc ${args.join(' ')}: no JSON report on stdout: ${line.slice(0, 500)}`);
  }
  return { report, wallSecs: c.wallSecs, peakRssMiB: c.peakRssMiB, startedAt: c.startedAt, endedAt: c.endedAt };
}

export interface DistributionGcRun {
  wallSecs: number;
  peakRssMiB: number;
  /** blobs in the store before and after, counted on disk */
  before: number;
  after: number;
}

/** `docker-registry garbage-collect CONFIG --delete-untagged` on a stopped Distribution. */
export async function distributionGc(srv: Server): Promise<DistributionGcRun> {
  if (srv.alive()) throw new Error('Distribution must be stopped (or read-only) for garbage-collect');
  const before = countDistributionBlobs(srv.dataDir);
  const c = await run(DISTRIBUTION_BIN, ['garbage-collect', srv.configFile, '--delete-untagged'], process.env, 30 * 60_000);
  if (c.code !== 0) throw new Error(`docker-registry garbage-collect exited ${c.code ?? c.signal}: ${(c.stderr || c.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return { wallSecs: c.wallSecs, peakRssMiB: c.peakRssMiB, before, after: countDistributionBlobs(srv.dataDir) };
}

// ---- churn ------------------------------------------------------------------------------------

export interface ChurnCollection {
  /** seconds since the churn began, when the collection started */
  at: number;
  unlinked: number;
  removed: number;
  /** the run's own durationMs, in seconds */
  runSecs: number;
  wallSecs: number;
  /** unreferenced blobs still stored right after it (`berth gc --dry-run --grace 0`) */
  backlogAfter: number;
}

export interface ChurnResult {
  seconds: number;
  images: number;
  deleted: number;
  failed: number;
  errors: string[];
  /** p50/p99 of an image push (2 blobs + manifest) and of a manifest DELETE, ms */
  pushP50: number;
  pushP99: number;
  deleteP99: number;
  collections: ChurnCollection[];
  gcErrors: string[];
  /** unreferenced blobs stored once every push and delete had finished, before any further collection */
  backlogEnd: number;
  /** collections that started late because the previous one took longer than the interval */
  late: number;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;
}

/**
 * Churn on Berth: image i (its own config and 1 KiB layer, tag c<i>) is pushed at t0 + i/rate; once it
 * is in, the image pushed CHURN_WINDOW pushes earlier is deleted by digest, which leaves its two blobs
 * unreferenced (deleting only a tag would not: Berth keeps untagged manifests, and their blobs with them).
 * Meanwhile `berth gc --grace G` runs every `interval` seconds, each followed by a dry run counting what
 * is left.
 */
export async function runChurn(label: string, ep: Endpoint, srv: Server, o: GcOptions, log: (s: string) => void): Promise<ChurnResult> {
  const r: ChurnResult = { seconds: o.churnSeconds, images: 0, deleted: 0, failed: 0, errors: [], pushP50: 0, pushP99: 0, deleteP99: 0, collections: [], gcErrors: [], backlogEnd: 0, late: 0 };
  const scopes = [repoScope(CHURN_REPO, 'pull,push,delete')];
  const pushMs: number[] = [];
  const deleteMs: number[] = [];
  const live: string[] = [];
  const fail = (what: string, e: unknown) => {
    r.failed++;
    if (r.errors.length < 5) r.errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const image = async (i: number) => {
    const layer = blob();
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: { Labels: { 'bench.churn': String(i) } } }));
    const config = { data: cfg, digest: sha256(cfg) };
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: cfg.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.data.length }],
    }));
    const t = performance.now();
    try {
      await pushMonolithic(ep, CHURN_REPO, config);
      await pushMonolithic(ep, CHURN_REPO, layer);
      await putManifest(ep, CHURN_REPO, `c${i}`, manifest, MANIFEST_TYPE, scopes);
    } catch (e) {
      fail(`push c${i}`, e);
      return;
    }
    pushMs.push(performance.now() - t);
    r.images++;
    live.push(sha256(manifest));
    while (live.length > CHURN_WINDOW) {
      const digest = live.shift()!;
      const u = new URL(`/v2/${CHURN_REPO}/manifests/${digest}`, ep.url);
      const d = performance.now();
      try {
        expect('DELETE', u, await request('DELETE', u, { headers: await ep.auth.headers(scopes) }), 202);
        deleteMs.push(performance.now() - d);
        r.deleted++;
      } catch (e) {
        fail(`delete ${digest}`, e);
      }
    }
  };

  const t0 = performance.now();
  const end = t0 + o.churnSeconds * 1000;
  const collector = (async () => {
    let next = t0 + o.churnInterval * 1000;
    while (next < end) {
      await sleep(next - performance.now());
      const started = performance.now();
      try {
        const gc = await berthGc(srv, ['--grace', String(o.churnGrace)]);
        const dry = await berthGc(srv, ['--dry-run', '--grace', '0']);
        const c: ChurnCollection = {
          at: (started - t0) / 1000, unlinked: gc.report.unlinked, removed: gc.report.blobsRemoved, runSecs: gc.report.durationMs / 1000,
          wallSecs: gc.wallSecs, backlogAfter: dry.report.blobsRemoved,
        };
        r.collections.push(c);
        log(`    ${label} churn: collection ${r.collections.length} at ${c.at.toFixed(1)} s removed ${c.removed} blobs in ${c.runSecs.toFixed(2)} s; ${c.backlogAfter} unreferenced blobs left; ${r.images} images pushed, ${r.deleted} deleted so far`);
      } catch (e) {
        if (r.gcErrors.length < 5) r.gcErrors.push(e instanceof Error ? e.message : String(e));
      }
      next = started + o.churnInterval * 1000;
      if (next < performance.now()) {
        r.late++;
        next = performance.now();
      }
    }
  })();
  const jobs: Promise<void>[] = [];
  for (let i = 0; ; i++) {
    const at = t0 + (i * 1000) / o.churnRate;
    if (at >= end) break;
    await sleep(at - performance.now());
    jobs.push(image(i));
  }
  await Promise.all(jobs);
  await collector;
  try {
    r.backlogEnd = (await berthGc(srv, ['--dry-run', '--grace', '0'])).report.blobsRemoved;
  } catch (e) {
    r.gcErrors.push(e instanceof Error ? e.message : String(e));
  }
  pushMs.sort((a, b) => a - b);
  deleteMs.sort((a, b) => a - b);
  r.pushP50 = pct(pushMs, 50);
  r.pushP99 = pct(pushMs, 99);
  r.deleteP99 = pct(deleteMs, 99);
  return r;
}
