// The `stalls` scenario: nothing stalls the process. A steady stream of manifest GETs (open loop: a
// request every 1/rate seconds whether or not earlier ones were answered, so a stall shows in every
// request it holds up, not only in the few a closed-loop client such as wrk has in flight) runs through
// three phases of equal length: idle; during a `berth gc` of the gc scenario's population; and while
// another process holds SQLite's write lock (BEGIN IMMEDIATE … COMMIT) for the whole phase.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoScope } from './auth.js';
import { sha256 } from './data.js';
import { berthGc, type CliRun } from './gc.js';
import { pushMonolithic, putManifest, type Endpoint } from './http.js';
import type { Server } from './servers.js';

export interface StallOptions {
  /** length of each phase, and how long the write lock is held */
  seconds: number;
  /** manifest GETs per second */
  rate: number;
  /** a request unanswered this long is abandoned and counted as a timeout */
  timeoutMs: number;
}

/** connections the load may open (wrk's count in the manifest scenario) */
export const STALL_CONNECTIONS = 64;
/** a request slower than this counts as stalled */
export const SLOW_MS = 1000;

export interface Sample {
  /** when it was due, ms after the load started */
  at: number;
  /** from when it was due to the end of the answer (so time queued in the client behind a stall counts) */
  ms: number;
  /** the HTTP status, or what went wrong */
  outcome: number | 'timeout' | 'error' | 'body';
  /** OCI error code of a non-200 answer */
  code?: string;
}

export interface LoadTarget {
  url: URL;
  headers: () => Promise<Record<string, string>>;
  /** the body a 200 must have */
  body: Buffer;
}

/**
 * A request every 1000/rate ms for `seconds`, and on past them until `until` (if given) has settled;
 * resolves when every request has settled.
 */
export async function steadyLoad(t: LoadTarget, seconds: number, rate: number, timeoutMs: number, until?: Promise<unknown>): Promise<{ samples: Sample[]; t0: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: STALL_CONNECTIONS });
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const one = (at: number, due: number, headers: Record<string, string>) => new Promise<void>((resolve) => {
    let settled = false;
    const done = (outcome: Sample['outcome'], code?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      samples.push({ at, ms: performance.now() - due, outcome, code });
      resolve();
    };
    const req = http.request(t.url, { method: 'GET', headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', () => done('error'));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        if (res.statusCode !== 200) {
          let code: string | undefined;
          try {
            code = (JSON.parse(body.toString()) as { errors?: { code?: string }[] }).errors?.[0]?.code;
          } catch { /* not the OCI envelope */ }
          done(res.statusCode ?? 0, code);
        } else done(body.equals(t.body) ? 200 : 'body');
      });
    });
    const timer = setTimeout(() => {
      done('timeout');
      req.destroy();
    }, Math.max(1, due + timeoutMs - performance.now()));
    req.on('error', () => done('error'));
    req.end();
  });
  let ended = until === undefined;
  until?.then(() => (ended = true), () => (ended = true));
  const t0 = performance.now();
  const interval = 1000 / rate;
  const count = Math.round(seconds * rate);
  for (let i = 0; ;) {
    const last = ended ? count : Infinity;
    if (i >= last) break;
    const due = Math.min(last, Math.floor((performance.now() - t0) / interval) + 1);
    if (i < due) {
      const headers = await t.headers();
      for (; i < due; i++) pending.push(one(i * interval, t0 + i * interval, headers));
    }
    await new Promise((r) => setTimeout(r, Math.max(1, t0 + i * interval - performance.now())));
  }
  await Promise.all(pending);
  agent.destroy();
  return { samples, t0 };
}

export interface PhaseStats {
  requests: number;
  p50: number;
  p99: number;
  max: number;
  /** answered or abandoned after more than SLOW_MS */
  slow: number;
  /** non-200 answers, bad bodies and connection errors, by status (and OCI code) */
  errors: Map<string, number>;
  errorCount: number;
  timeouts: number;
  /** the slowest request due in each second of the phase, ms */
  perSecondMax: number[];
}

/** Statistics of the samples due in [from, to) ms (all by default); a timeout counts at the timeout. */
export function phaseStats(samples: Sample[], from = 0, to = Infinity): PhaseStats {
  const list = samples.filter((s) => s.at >= from && s.at < to).sort((a, b) => a.at - b.at);
  const ms = list.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] : 0);
  const errors = new Map<string, number>();
  let timeouts = 0;
  const perSecondMax: number[] = [];
  for (const s of list) {
    const sec = Math.floor((s.at - from) / 1000);
    perSecondMax[sec] = Math.max(perSecondMax[sec] ?? 0, s.ms);
    if (s.outcome === 200) continue;
    if (s.outcome === 'timeout') { timeouts++; continue; }
    const key = typeof s.outcome === 'number' ? `${s.outcome}${s.code ? ` ${s.code}` : ''}` : s.outcome === 'body' ? 'wrong body' : 'connection error';
    errors.set(key, (errors.get(key) ?? 0) + 1);
  }
  return {
    requests: list.length, p50: q(50), p99: q(99), max: ms[ms.length - 1] ?? 0, slow: ms.filter((m) => m > SLOW_MS).length,
    errors, errorCount: [...errors.values()].reduce((a, n) => a + n, 0), timeouts, perSecondMax: Array.from(perSecondMax, (v) => v ?? 0),
  };
}

// ---- the write lock ---------------------------------------------------------------------------

/**
 * Another process (Node with better-sqlite3, as `berth gc` or a `berth user` command would be) opens the
 * database, takes the write lock with BEGIN IMMEDIATE, and keeps it for `seconds` before COMMIT. It
 * prints `locked` once it has the lock and `released` after the commit.
 */
const HOLDER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2], { fileMustExist: true });
db.pragma('busy_timeout = 60000');
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); }, Number(process.argv[3]) * 1000);
`;

export interface LockHold {
  /** performance.now() when the lock was held, and a promise of when it was released */
  acquiredAt: number;
  /** ms from spawning the holder to holding the lock (it waits for Berth's own writes to finish) */
  waitedMs: number;
  released: Promise<number>;
}

export async function holdWriteLock(dbPath: string, seconds: number): Promise<LockHold> {
  if (!existsSync(dbPath)) throw new Error(`no database at ${dbPath}`);
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const spawned = performance.now();
  const p = spawn(process.execPath, ['-e', HOLDER, driver, dbPath, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  let out = '';
  let onLine: ((l: string) => void) | undefined;
  p.stdout.on('data', (d: Buffer) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      onLine?.(line);
    }
  });
  let releasedResolve!: (t: number) => void;
  let releasedReject!: (e: Error) => void;
  const released = new Promise<number>((res, rej) => { releasedResolve = res; releasedReject = rej; });
  released.catch(() => undefined);
  const acquiredAt = await new Promise<number>((resolve, reject) => {
    onLine = (l) => {
      if (l === 'locked') resolve(performance.now());
      if (l === 'released') releasedResolve(performance.now());
    };
    exited.then((code) => {
      const e = new Error(`the lock holder exited ${code}: ${err.trim().slice(-1000)}`);
      reject(e);
      releasedReject(e);
    });
  });
  return { acquiredAt, waitedMs: acquiredAt - spawned, released };
}

// ---- the scenario -----------------------------------------------------------------------------

export const STALLS_REPO = 'bench/stalls';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface StallsResult {
  idle: PhaseStats;
  /** the first `seconds` of the gc phase (as long as the others) */
  gc: PhaseStats;
  /** the requests due while `berth gc` ran, from its start to its exit */
  gcWhole: PhaseStats;
  gcRun: CliRun;
  /** seconds `berth gc` ran, from the start of the gc phase's load */
  gcSecs: number;
  lock: PhaseStats;
  /** ms the holder waited for the lock, and ms it held it */
  lockWaitedMs: number;
  lockHeldMs: number;
}

/**
 * The three phases on a Berth whose data holds the gc scenario's population (unreferenced blobs): idle;
 * `berth gc --grace 0` started with the phase (the load goes on until gc has exited, so that all of its
 * run is measured, and the phase proper is its first `seconds`); the write lock held by another process
 * for the whole phase. The load warms up for `warmupSeconds` first (untimed).
 */
export async function runStalls(label: string, ep: Endpoint, srv: Server, o: StallOptions & { warmupSeconds: number }, log: (s: string) => void): Promise<StallsResult> {
  const layer = randomBytes(4096);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, config: {} }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  }));
  for (const data of [cfg, layer]) await pushMonolithic(ep, STALLS_REPO, { data, digest: sha256(data) });
  await putManifest(ep, STALLS_REPO, 'v1', manifest, MANIFEST_TYPE);
  const scopes = [repoScope(STALLS_REPO, 'pull')];
  const target: LoadTarget = {
    url: new URL(`/v2/${STALLS_REPO}/manifests/v1`, ep.url),
    headers: async () => ({ accept: MANIFEST_TYPE, ...(await ep.auth.headers(scopes)) }),
    body: manifest,
  };
  const phase = (what: string) => log(`    ${label} stalls: ${what} (${o.seconds} s, ${o.rate} GET/s)`);
  const pause = () => new Promise((r) => setTimeout(r, 1000));

  if (o.warmupSeconds > 0) await steadyLoad(target, o.warmupSeconds, o.rate, o.timeoutMs);
  phase('idle');
  const idle = phaseStats((await steadyLoad(target, o.seconds, o.rate, o.timeoutMs)).samples);
  await pause();

  phase('berth gc --grace 0');
  const gcP = berthGc(srv, ['--grace', '0']);
  const gcLoad = await steadyLoad(target, o.seconds, o.rate, o.timeoutMs, gcP);
  const gcRun = await gcP;
  const gcEnd = gcRun.endedAt - gcLoad.t0;
  const gcStart = Math.max(0, gcRun.startedAt - gcLoad.t0);
  const gc = phaseStats(gcLoad.samples, 0, o.seconds * 1000);
  const gcWhole = phaseStats(gcLoad.samples, gcStart, gcEnd);
  log(`    ${label} stalls: berth gc removed ${gcRun.report.blobsRemoved} blobs in ${gcRun.wallSecs.toFixed(1)} s`);
  await pause();

  phase('another process holds the SQLite write lock');
  const hold = await holdWriteLock(path.join(srv.dataDir, 'berth.db'), o.seconds);
  const lockLoad = await steadyLoad(target, o.seconds, o.rate, o.timeoutMs);
  const releasedAt = await hold.released;
  const lock = phaseStats(lockLoad.samples);
  return { idle, gc, gcWhole, gcRun, gcSecs: (gcEnd - gcStart) / 1000, lock, lockWaitedMs: hold.waitedMs, lockHeldMs: releasedAt - hold.acquiredAt };
}
