// Berth vs CNCF Distribution benchmark.
//
//   npm run bench                       # full run (1 GiB blobs), a few minutes
//   npm run bench -- --size-mib=128     # quick run with a 128 MiB big blob
//   npm run bench -- --only=push,pull   # subset: push,chunked,pull,manifest,blob,parallel (rss = push)
//   npm run bench -- --only=scale       # 10,000 repositories and 100,000 tags (not in the default set)
//   npm run bench -- --only=gc          # gc of 50,000 unreferenced blobs, then gc under churn (not in the default set)
//   npm run bench -- --only=stalls      # manifest GET p99 idle, during gc, under another process's write lock
//   npm run bench -- --only=scan        # Berth's scanner vs Trivy (offline): SBOM time, ~1 GiB scan throughput and RSS, re-match of 1,000 catalogues
//   npm run bench -- --berth-workers=2  # Berth config http.workers
//   npm run bench -- --berth-auth=on    # Berth as shipped only (default both: also without authentication)
//   npm run bench -- --encryption       # push/chunked/pull, Berth with encryption at rest off and on (auth off)
//   node --import tsx bench/run.ts --servers=distribution   # one registry only (e.g. while Berth is unbuilt)
//
// Berth runs as shipped (authentication on; the client obtains Bearer tokens from /token as docker does)
// and, for comparison, with authentication off; CNCF Distribution runs without authentication. All run
// in the same invocation with their storage under one temp dir on the same disk; each scenario runs
// against one registry at a time. The result table is printed and written to bench/results/latest.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_AUTH, repoScope, TokenAuth, type Auth } from './lib/auth.js';
import { makePayload, MiB, sha256, type Payload } from './lib/data.js';
import { agent, get, headBlob, pushChunked, pushMonolithic, putManifest, request, RequestError, type Endpoint } from './lib/http.js';
import { berthGc, CHURN_WINDOW, distributionGc, GC_BLOB_BYTES, GC_REPOS, populateBerth, populateDistributionFiles, runChurn, type ChurnResult, type CliRun, type DistributionGcRun, type GcOptions, type Population } from './lib/gc.js';
import { makeScaleFixture, OP_BUDGET_MS, runScale, SCALE_OPS, WARM_REQUESTS, type OpCell, type ScaleOptions, type ScaleResult } from './lib/scale.js';
import { berthBuilt, DISTRIBUTION_BIN, RssSampler, startBerthServer, startDistribution, treeRss, type Server } from './lib/servers.js';
import { runScanBench, type ScanOptions, type ScanResult } from './lib/scan.js';
import { runStalls, SLOW_MS, STALL_CONNECTIONS, type PhaseStats, type StallOptions, type StallsResult } from './lib/stalls.js';
import { runWrk, WRK_BIN, type WrkResult } from './lib/wrk.js';
import { NODE_FLAGS, removeDir } from '../test/helpers/berth.js';
import { startS3Server, type S3Server } from '../test/helpers/s3.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_FLAGS_TEXT = NODE_FLAGS.join(' ');
const ROOT = path.resolve(HERE, '..');

// ---- options ----------------------------------------------------------------------------------

/**
 * A scan's peak RSS budget, and the margin a run may exceed it by before it counts as over: VmHWM is the whole
 * process (Node's own ~65 MiB of code and heap included), and where the garbage collector runs moves the
 * peak by several MiB from run to run.
 */
const SCAN_RSS_BUDGET_MIB = 150;
const SCAN_RSS_MARGIN_MIB = 15;

const SCENARIOS = ['push', 'chunked', 'pull', 'manifest', 'blob', 'parallel', 'scale', 'gc', 'stalls', 'scan'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** scenarios with their own servers, population and tables (each run once, not alternated) */
const OWN_SCENARIOS: ReadonlySet<Scenario> = new Set(['scale', 'gc', 'stalls', 'scan']);
/** what runs without --only: scale, gc, stalls and scan take minutes and are asked for by name */
const DEFAULT_SCENARIOS: Scenario[] = ['push', 'chunked', 'pull', 'manifest', 'blob', 'parallel'];
/** what --encryption compares (and runs without --only): the throughput scenarios and their RSS */
const ENCRYPTION_SCENARIOS: Scenario[] = ['push', 'chunked', 'pull'];
const ALIASES: Record<string, Scenario> = {
  stall: 'stalls', 'garbage-collection': 'gc', scanner: 'scan', sbom: 'scan',
  rss: 'push', monolithic: 'push', chunk: 'chunked', manifests: 'manifest', blobs: 'blob', '4k': 'blob', small: 'blob',
};
type ServerKey = 'berth' | 'distribution';
type BerthAuth = 'on' | 'off' | 'both';
/** how wrk sends the token: -H (runs shorter than a token lives), the Lua script that re-reads it, or auto */
type WrkAuth = 'auto' | 'header' | 'lua';

interface Options {
  only: Set<Scenario>;
  sizeMiB: number;
  berthWorkers?: number;
  berthAuth: BerthAuth;
  wrkAuth: WrkAuth;
  wrkSeconds: number;
  warmupSeconds: number;
  servers: ServerKey[];
  /** rounds per scenario, alternating the registries; the table shows medians (peaks for RSS) */
  repeat: number;
  scale: ScaleOptions;
  /** also Berth with encryption at rest, in the same auth state as the one plain Berth it is compared with */
  encryption: boolean;
  gc: GcOptions;
  stalls: StallOptions;
  scan: Omit<ScanOptions, 'rounds' | 'db'>;
  /** Berth's metadata database */
  db: 'sqlite' | 'postgres';
  /** Berth's blob store: the local directory, or Ceph's RADOS Gateway started for the run */
  storage: 'filesystem' | 's3';
}

function usage(): never {
  console.log(`usage: node --import tsx bench/run.ts [--only=${SCENARIOS.join(',')}] [--size-mib=1024]
       [--berth-workers=N] [--berth-auth=on|off|both] [--wrk-seconds=10] [--warmup-seconds=2]
       [--servers=berth,distribution] [--repeat=3] [--wrk-auth=auto|header|lua] [--db=sqlite|postgres] [--storage=filesystem|s3]
       [--scale-repos=10000] [--scale-tags=100000] [--scale-clients=32] [--scale-requests=300]
       [--encryption]
       [--gc-blobs=50000] [--gc-clients=32] [--gc-churn-seconds=60] [--gc-churn-rate=20] [--gc-churn-interval=10]
       [--gc-churn-grace=10] [--stall-seconds=10] [--stall-rate=500] [--stall-timeout=30]
       [--scan-extra-mib=900] [--scan-catalogues=1000] [--scan-trivy-big=on|off]
default scenarios: ${DEFAULT_SCENARIOS.join(',')} (scale, gc, stalls and scan only when named)
scan: no registry; the built scanner (dist/) in a child process and Trivy (offline, unshare -n) on the same
  OCI layouts; --repeat rounds of the Debian SBOM; the re-match on --db's dialect
gc, stalls: one Berth (as shipped unless --berth-auth=off) and, for gc, Distribution, on their own data;
  --gc-blobs unreferenced blobs (stalls collects them too); --gc-churn-seconds=0 skips the churn phase
--encryption: adds "Berth (encrypted)" (storage.encryption.enabled, file key provider) next to one plain Berth
  and Distribution, for ${ENCRYPTION_SCENARIOS.join(',')} (its default scenarios; the encrypted Berth skips any
  other named with --only), with an "Encrypted / plain" ratio column; both Berths run without authentication
  unless --berth-auth=on (both with tokens); --berth-auth=both is refused with it`);
  process.exit(0);
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    only: new Set(DEFAULT_SCENARIOS), sizeMiB: 1024, berthAuth: 'both', wrkAuth: 'auto', wrkSeconds: 10, warmupSeconds: 2,
    servers: ['berth', 'distribution'], repeat: 3, scale: { repos: 10_000, tags: 100_000, clients: 32, requests: 300 }, encryption: false,
    gc: { blobs: 50_000, clients: 32, churnSeconds: 60, churnRate: 20, churnInterval: 10, churnGrace: 10 },
    stalls: { seconds: 10, rate: 500, timeoutMs: 30_000 }, db: 'sqlite', storage: 'filesystem',
    scan: { extraMiB: 900, catalogues: 1000, trivyBig: true, rssBudgetMiB: SCAN_RSS_BUDGET_MIB, rssMarginMiB: SCAN_RSS_MARGIN_MIB },
  };
  let onlyGiven = false;
  let authGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') usage();
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const key = m[1];
    if (key === 'encryption') {
      // a switch: it takes no value (and must not swallow the next argument)
      if (m[2] !== undefined) throw new Error('--encryption takes no value');
      o.encryption = true;
      continue;
    }
    const val = m[2] ?? argv[++i];
    if (val === undefined) throw new Error(`--${key} needs a value`);
    const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
      const n = Number(val);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${key} must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}`);
      return n;
    };
    const oneOf = <T extends string>(...vals: T[]): T => {
      if (!(vals as string[]).includes(val)) throw new Error(`--${key} must be one of ${vals.join(', ')}`);
      return val as T;
    };
    switch (key) {
      case 'only': {
        onlyGiven = true;
        o.only = new Set();
        for (const raw of val.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
          const s = (SCENARIOS as readonly string[]).includes(raw) ? (raw as Scenario) : ALIASES[raw];
          if (!s) throw new Error(`unknown scenario ${raw}; known: ${SCENARIOS.join(', ')} (alias rss = push)`);
          o.only.add(s);
        }
        break;
      }
      case 'size-mib': o.sizeMiB = int(1); break;
      case 'berth-workers': o.berthWorkers = int(0); break;
      case 'db': o.db = oneOf('sqlite', 'postgres'); break;
      case 'storage': o.storage = oneOf('filesystem', 's3'); break;
      case 'berth-auth': o.berthAuth = oneOf('on', 'off', 'both'); authGiven = true; break;
      case 'wrk-auth': o.wrkAuth = oneOf('auto', 'header', 'lua'); break;
      case 'wrk-seconds': o.wrkSeconds = int(1); break;
      case 'warmup-seconds': o.warmupSeconds = int(0); break;
      case 'repeat': o.repeat = int(1); break;
      case 'scale-repos': o.scale.repos = int(1); break;
      case 'scale-tags': o.scale.tags = int(1); break;
      case 'scale-clients': o.scale.clients = int(1, 128); break;
      case 'scale-requests': o.scale.requests = int(10); break;
      case 'gc-blobs': o.gc.blobs = int(1); break;
      case 'gc-clients': o.gc.clients = int(1, 256); break;
      case 'gc-churn-seconds': o.gc.churnSeconds = int(0); break;
      case 'gc-churn-rate': o.gc.churnRate = int(1, 1000); break;
      case 'gc-churn-interval': o.gc.churnInterval = int(1); break;
      case 'gc-churn-grace': o.gc.churnGrace = int(0); break;
      case 'stall-seconds': o.stalls.seconds = int(1, 3600); break;
      case 'stall-rate': o.stalls.rate = int(1, 5000); break;
      case 'stall-timeout': o.stalls.timeoutMs = int(1, 600) * 1000; break;
      case 'scan-extra-mib': o.scan.extraMiB = int(0, 16384); break;
      case 'scan-catalogues': o.scan.catalogues = int(1); break;
      case 'scan-trivy-big': o.scan.trivyBig = oneOf('on', 'off') === 'on'; break;
      case 'servers': {
        o.servers = val.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) as ServerKey[];
        for (const s of o.servers) if (s !== 'berth' && s !== 'distribution') throw new Error(`unknown server ${s}`);
        break;
      }
      default: throw new Error(`unknown option --${key}`);
    }
  }
  if (o.encryption) {
    if (!o.servers.includes('berth')) throw new Error('--encryption compares Berth with itself: --servers must include berth');
    // One plain Berth against one encrypted, in the same auth state, so that the ratio is about encryption only.
    if (!authGiven) o.berthAuth = 'off';
    else if (o.berthAuth === 'both') throw new Error('--encryption compares one plain Berth with one encrypted Berth: use --berth-auth=off (the default with it) or on');
    if (!onlyGiven) o.only = new Set(ENCRYPTION_SCENARIOS);
  }
  if (o.db === 'postgres' && o.only.has('stalls')) throw new Error('--only=stalls holds SQLite\'s write lock from another process: it runs with --db=sqlite only');
  return o;
}

// ---- metrics ----------------------------------------------------------------------------------

type Better = 'higher' | 'lower' | 'none';
interface MetricDef { key: string; label: string; unit: string; better: Better; digits: number; scenario: Scenario }
type Cell = { value: number; warn?: string; range?: [number, number] } | { error: string };

function metricDefs(size: string): MetricDef[] {
  return [
    { key: 'push', scenario: 'push', label: `${size} blob push, monolithic`, unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'chunked', scenario: 'chunked', label: `${size} blob push, 16 MiB chunks`, unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'pull', scenario: 'pull', label: `${size} blob pull (curl; bytes verified separately)`, unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'manifestRps', scenario: 'manifest', label: 'Manifest GET, 64 connections', unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifestP99', scenario: 'manifest', label: 'Manifest GET p99 latency', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'manifestDigestRps', scenario: 'manifest', label: 'Manifest GET by digest, 64 connections', unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifestDigestP99', scenario: 'manifest', label: 'Manifest GET by digest p99 latency', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'blobRps', scenario: 'blob', label: '4 KiB blob GET, 64 connections', unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'blobP99', scenario: 'blob', label: '4 KiB blob GET p99 latency', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'parallelSecs', scenario: 'parallel', label: '32 parallel 8 MiB pushes, total', unit: 's', better: 'lower', digits: 2 },
    { key: 'parallelFailures', scenario: 'parallel', label: '32 parallel 8 MiB pushes, failures', unit: 'count', better: 'none', digits: 0 },
    { key: 'rss', scenario: 'push', label: `Peak RSS during ${size} monolithic push`, unit: 'MiB', better: 'lower', digits: 0 },
  ];
}

/** Median of the rounds; for peak memory and failure counts the worst round. Any failed round shows. */
function reduceSamples(key: string, list: Cell[]): Cell {
  const failed = list.find((c) => 'error' in c);
  if (failed) return failed;
  const values = list.map((c) => (c as { value: number }).value).sort((a, b) => a - b);
  const warn = list.map((c) => (c as { warn?: string }).warn).find(Boolean);
  const value = key === 'rss' || key === 'parallelFailures' ? values[values.length - 1] : values[Math.floor((values.length - 1) / 2)];
  const range: [number, number] | undefined = values.length > 1 && key !== 'parallelFailures' ? [values[0], values[values.length - 1]] : undefined;
  return { value, warn, range };
}

// ---- targets ----------------------------------------------------------------------------------

type TargetKey = 'berth-tokens' | 'berth-noauth' | 'berth-encrypted' | 'distribution';

interface Target {
  key: TargetKey;
  /** column header */
  name: string;
  /** the ratio column's name for a Berth target */
  short?: string;
  berth: boolean;
  /** Berth as shipped (authentication on): tokens, organization bench */
  shipped?: boolean;
  /** Berth with encryption at rest */
  encrypted?: boolean;
  /** the scenarios this target runs (default: all asked for) */
  scenarios?: ReadonlySet<Scenario>;
  start: () => Promise<Server>;
  server?: Server;
  /** tokens for Berth as shipped (renewed with every start: the port changes), none for the others */
  auth: Auth;
  /** Berth as shipped: admin's password */
  password?: string;
  unavailable?: string;
  cells: Map<string, Cell>;
  /** every round's cell per metric, reduced into cells at the end */
  samples?: Map<string, Cell[]>;
  smallImage?: boolean;
  /** RSS of the process tree over the whole run (every start of the server) */
  sampler?: RssSampler;
  rssPeak: { peakMiB: number; procs: number };
  scale?: ScaleResult | { error: string };
}

const endpoint = (t: Target): Endpoint => ({ url: t.server!.url, auth: t.auth });

const notes: string[] = [];
const failures: string[] = [];
const log = (s: string) => console.log(s);

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

function settle() {
  // flush dirty pages left by the previous scenario so they do not slow the next one down
  try { execFileSync('sync'); } catch { /* best effort */ }
  return sleep(300);
}

/** the server's last log lines, without Node's own deprecation/runtime warnings */
function serverLog(srv: Server, n: number): string {
  return srv
    .logTail(200)
    .split('\n')
    .filter((l) => l && !/^\(node:\d+\)|^\(Use `node --trace/.test(l))
    .slice(-n)
    .join('\n');
}

function errText(e: unknown): string {
  if (e instanceof RequestError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

// ---- workloads --------------------------------------------------------------------------------

const CHUNK = 16 * MiB;
const PAR_COUNT = 32;
const PAR_SIZE = 8 * MiB;
const SMALL_REPO = 'bench/small';
const SMALL_TAG = 'v1';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

interface Fixtures {
  big?: Payload;
  chunked?: Payload;
  parallel?: { data: Buffer; digest: string }[];
  small: { config: Buffer; layer: Buffer; manifest: Buffer; manifestDigest: string };
}

function makeSmall(): Fixtures['small'] {
  const layer = randomBytes(4096);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, config: {} }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  }));
  return { config, layer, manifest, manifestDigest: sha256(manifest) };
}

async function ensureSmallImage(t: Target, fx: Fixtures): Promise<void> {
  if (t.smallImage) return;
  const ep = endpoint(t);
  const s = fx.small;
  for (const data of [s.config, s.layer]) await pushMonolithic(ep, SMALL_REPO, { data, digest: sha256(data) });
  await putManifest(ep, SMALL_REPO, SMALL_TAG, s.manifest, MANIFEST_TYPE);
  t.smallImage = true;
}

async function ensureBig(t: Target, fx: Fixtures): Promise<void> {
  const big = fx.big!;
  const st = await headBlob(endpoint(t), 'bench/big', big.digest);
  if (st === 200) return;
  log(`  (${t.name}: pushing the big blob first, untimed; HEAD said ${st})`);
  await pushMonolithic(endpoint(t), 'bench/big', big);
}

/** GET `u` once and check it before handing it to wrk, so wrk never measures error responses. */
async function checkGet(u: URL, headers: Record<string, string>, want: Buffer): Promise<void> {
  const res = await get(u, headers);
  if (res.status !== 200) throw new RequestError('GET', u.pathname, res.status, res.body.toString().slice(0, 2000), 'expected 200 before wrk run');
  if (!res.body.equals(want)) throw new RequestError('GET', u.pathname, 200, '', `body differs from what was pushed (${res.body.length} bytes, ${sha256(res.body)})`);
}

let tmpRoot = '';
/** how the token reached wrk, once per target (for the notes) */
const wrkAuthNoted = new Set<string>();

/**
 * A warm-up and a timed wrk run on `u`. Berth as shipped gets `Authorization: Bearer` with a token for
 * `scopes`: passed with -H when the token outlives both runs (a fresh one is fetched when it would not),
 * or, for runs longer than a token lives, through bench/lib/bearer.lua reading a file that is rewritten
 * with a renewed token before the old one expires.
 */
async function wrkPair(t: Target, u: URL, headers: Record<string, string>, scopes: string[], opts: Options, what: string): Promise<WrkResult> {
  const run = async (secs: number, h: Record<string, string>, tokenFile?: string) => runWrk(u.href, secs, h, { tokenFile });
  const both = async (h: Record<string, string>, tokenFile?: string) => {
    if (opts.warmupSeconds > 0) await run(opts.warmupSeconds, h, tokenFile);
    return run(opts.wrkSeconds, h, tokenFile);
  };
  let r: WrkResult;
  if (t.auth instanceof TokenAuth) {
    const auth = t.auth;
    await auth.token(scopes);
    const needMs = (opts.warmupSeconds + opts.wrkSeconds + 15) * 1000;
    const mode = opts.wrkAuth === 'auto' ? (needMs < auth.lifetimeS * 1000 ? 'header' : 'lua') : opts.wrkAuth;
    if (!wrkAuthNoted.has(t.name)) {
      wrkAuthNoted.add(t.name);
      notes.push(`${t.name}: wrk sent the Bearer token ${mode === 'header'
        ? `with -H (each warm-up + run of ${opts.warmupSeconds + opts.wrkSeconds} s is shorter than the ${auth.lifetimeS} s token lifetime; a token with less than that left is renewed first)`
        : `through bench/lib/bearer.lua, which re-reads a token file every second; the benchmark renews the token when less than 60 s of its ${auth.lifetimeS} s are left`}.`);
    }
    if (mode === 'header') {
      r = await both({ ...headers, ...(await auth.headers(scopes, needMs)) });
    } else {
      const file = path.join(tmpRoot, `token-${t.key}`);
      let current = '';
      const write = async () => {
        const tok = (await auth.token(scopes, 60_000)).token;
        if (tok === current) return;
        writeFileSync(`${file}.tmp`, `${tok}\n`);
        renameSync(`${file}.tmp`, file);
        current = tok;
      };
      await write();
      const timer = setInterval(() => write().catch((e) => failures.push(`${t.name} ${what}: renewing the token: ${errText(e)}`)), 5000);
      try {
        r = await both(headers, file);
      } finally {
        clearInterval(timer);
      }
    }
  } else {
    r = await both(headers);
  }
  if (r.non2xx || r.socketErrors) {
    const msg = `${t.name} ${what}: wrk saw ${r.non2xx} non-2xx/3xx responses and ${r.socketErrors} socket errors out of ${r.requests} requests`;
    failures.push(msg);
  }
  return r;
}

function wrkCells(r: WrkResult, rpsKey: string, p99Key: string): Record<string, Cell> {
  const warn = r.non2xx || r.socketErrors ? `${r.non2xx} non-2xx, ${r.socketErrors} socket errors` : undefined;
  return { [rpsKey]: { value: r.rps, warn }, [p99Key]: { value: r.p99Ms, warn } };
}

async function runScenario(s: Scenario, t: Target, fx: Fixtures, opts: Options): Promise<Record<string, Cell>> {
  const srv = t.server!;
  const url = srv.url;
  const ep = endpoint(t);
  switch (s) {
    case 'push': {
      const big = fx.big!;
      const idle = treeRss(srv.pid);
      await settle();
      const sampler = new RssSampler(srv.pid).start();
      const t0 = performance.now();
      let rss: { peakMiB: number; procs: number };
      try {
        await pushMonolithic(ep, 'bench/big', big);
      } finally {
        rss = sampler.stop();
      }
      const secs = (performance.now() - t0) / 1000;
      notes.push(`${t.name}: RSS idle ${(idle.kib / 1024).toFixed(0)} MiB before the monolithic push, peak ${rss.peakMiB.toFixed(0)} MiB, summed over ${rss.procs} process(es).`);
      return { push: { value: big.size / 1e6 / secs }, rss: { value: rss.peakMiB } };
    }
    case 'chunked': {
      const p = fx.chunked!;
      await settle();
      const t0 = performance.now();
      await pushChunked(ep, 'bench/chunked', p, CHUNK);
      return { chunked: { value: p.size / 1e6 / ((performance.now() - t0) / 1000) } };
    }
    case 'pull': {
      const big = fx.big!;
      await ensureBig(t, fx);
      await settle();
      // Bytes are verified once, untimed, by curl | sha256sum in processes that are gone before the
      // timed pull (a hashing client in this process would still be collecting its garbage during it);
      // the timed pull is curl into /dev/null, timed by curl itself, so that no client caps both
      // registries at its own speed and process start-up is not counted.
      const blobUrl = `${url}/v2/bench/big/blobs/${big.digest}`;
      // curl gets the token like the other clients (obtained here, valid for a long pull).
      const auth = Object.entries(await t.auth.headers([repoScope('bench/big', 'pull')], 120_000)).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
      const sum = execFileSync('sh', ['-c', 'curl -sf "$@" | sha256sum', 'verify', ...auth, blobUrl]).toString().split(' ')[0];
      if (`sha256:${sum}` !== big.digest) throw new RequestError('GET', `/v2/bench/big/blobs/${big.digest}`, undefined, '', `pulled bytes hash to sha256:${sum}`);
      await settle();
      const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', ...auth, blobUrl]).toString().trim();
      const [status, size, seconds] = out.split(' ');
      if (`${status} ${size}` !== `200 ${big.size}`) throw new RequestError('GET', `/v2/bench/big/blobs/${big.digest}`, Number(status), '', `curl pull returned ${out}`);
      return { pull: { value: big.size / 1e6 / Number(seconds) } };
    }
    case 'manifest': {
      await ensureSmallImage(t, fx);
      const u = new URL(`/v2/${SMALL_REPO}/manifests/${SMALL_TAG}`, url);
      const headers = { Accept: MANIFEST_TYPE };
      const scopes = [repoScope(SMALL_REPO, 'pull')];
      await checkGet(u, { ...headers, ...(await t.auth.headers(scopes)) }, fx.small.manifest);
      await settle();
      const byTag = wrkCells(await wrkPair(t, u, headers, scopes, opts, 'manifest GET'), 'manifestRps', 'manifestP99');
      const d = new URL(`/v2/${SMALL_REPO}/manifests/${fx.small.manifestDigest}`, url);
      await checkGet(d, { ...headers, ...(await t.auth.headers(scopes)) }, fx.small.manifest);
      await settle();
      return { ...byTag, ...wrkCells(await wrkPair(t, d, headers, scopes, opts, 'manifest GET by digest'), 'manifestDigestRps', 'manifestDigestP99') };
    }
    case 'blob': {
      await ensureSmallImage(t, fx);
      const u = new URL(`/v2/${SMALL_REPO}/blobs/${sha256(fx.small.layer)}`, url);
      const scopes = [repoScope(SMALL_REPO, 'pull')];
      await checkGet(u, await t.auth.headers(scopes), fx.small.layer);
      await settle();
      return wrkCells(await wrkPair(t, u, {}, scopes, opts, '4 KiB blob GET'), 'blobRps', 'blobP99');
    }
    case 'parallel': {
      const items = fx.parallel!;
      await settle();
      const t0 = performance.now();
      const results = await Promise.allSettled(items.map((p) => pushMonolithic(ep, 'bench/parallel', p)));
      const secs = (performance.now() - t0) / 1000;
      // every push must have been accepted (201) and the blob must then exist
      const checks = await Promise.all(results.map(async (r, i): Promise<string | undefined> => {
        if (r.status === 'rejected') return `push #${i}: ${errText(r.reason)}`;
        try {
          const st = await headBlob(ep, 'bench/parallel', items[i].digest);
          return st === 200 ? undefined : `push #${i}: PUT returned 201 but HEAD /v2/bench/parallel/blobs/${items[i].digest} -> HTTP ${st}`;
        } catch (e) {
          return `push #${i}: PUT returned 201 but ${errText(e)}`;
        }
      }));
      const errs = checks.filter((c): c is string => c !== undefined);
      for (const e of errs.slice(0, 5)) failures.push(`${t.name} parallel pushes: ${e}`);
      if (errs.length > 5) failures.push(`${t.name} parallel pushes: … and ${errs.length - 5} more`);
      return { parallelSecs: { value: secs, warn: errs.length ? `${errs.length} failed` : undefined }, parallelFailures: { value: errs.length } };
    }
    case 'scale':
    case 'gc':
    case 'stalls':
    case 'scan':
      throw new Error(`the ${s} scenario runs on its own`);
  }
}

// ---- machine info & table ---------------------------------------------------------------------

/** stdout (or, failing that, stderr) of a command; '?' if it cannot run. wrk -v exits 1, hence spawnSync. */
function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT });
  if (r.error) return '?';
  return (r.stdout.trim() || r.stderr.trim() || '?');
}

function machineInfo(root: string): string[] {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const fs = sh('df', ['--output=fstype', root]).split('\n').pop();
  const commit = sh('git', ['rev-parse', '--short', 'HEAD']);
  // Not sh(): an empty status is the clean case, and sh() turns empty output into '?'.
  const status = spawnSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8', cwd: ROOT });
  const dirty = status.error || status.status !== 0 ? ' (git status failed)' : status.stdout.trim() ? ' (src/ has uncommitted changes)' : '';
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpu}, nproc ${sh('nproc', [])}`,
    `- Memory: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `- OS: ${os.type()} ${os.release()}, Node ${process.version}`,
    `- Storage: ${root} (${fs}), both registries on the same disk`,
    `- Berth: commit ${commit}${dirty}`,
    `- Distribution: ${sh(DISTRIBUTION_BIN, ['--version']).replace(/^\S*docker-registry /, '')}`,
    `- wrk: ${sh(WRK_BIN, ['-v']).split('\n')[0].split(' Copyright')[0]}`,
  ];
}

function fmt(v: number, digits: number): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cellText(c: Cell | undefined, d: MetricDef, t: Target): string {
  if (!c) return t.unavailable ? 'n/a' : '–';
  if ('error' in c) return 'FAIL';
  const range = c.range ? ` (${fmt(c.range[0], d.digits)}–${fmt(c.range[1], d.digits)})` : '';
  return fmt(c.value, d.digits) + range + (c.warn ? ' ⚠' : '');
}

function ratio(d: MetricDef, b: Cell | undefined, x: Cell | undefined): string {
  if (d.better === 'none' || !b || !x || 'error' in b || 'error' in x || b.warn || x.warn) return '–';
  if (b.value <= 0 || x.value <= 0) return '–';
  const r = d.better === 'higher' ? b.value / x.value : x.value / b.value;
  return `${r.toFixed(2)}×`;
}

/** Which targets a table shows, and which Berth targets get a ratio column against Distribution. */
function columns(targets: Target[]): { dist?: Target; berths: Target[] } {
  const dist = targets.find((t) => t.key === 'distribution');
  return { dist, berths: dist ? targets.filter((t) => t.berth) : [] };
}

/** Berth (encrypted) and the plain Berth it is compared with, when both are in the table. */
function encryptionPair(targets: Target[]): { plain: Target; enc: Target } | undefined {
  const enc = targets.find((t) => t.encrypted);
  const plain = enc && targets.find((t) => t.berth && !t.encrypted && t.shipped === enc.shipped);
  return enc && plain ? { plain, enc } : undefined;
}

/** encrypted / plain as measured (not oriented like ratio()) */
function plainRatio(d: MetricDef, enc: Cell | undefined, plain: Cell | undefined): string {
  if (d.better === 'none' || !enc || !plain || 'error' in enc || 'error' in plain || enc.warn || plain.warn) return '–';
  if (enc.value <= 0 || plain.value <= 0) return '–';
  return `${(enc.value / plain.value).toFixed(2)}×`;
}

function tableHead(first: string, targets: Target[]): string[] {
  const { berths } = columns(targets);
  const cols = [first, ...targets.map((t) => t.name), ...berths.map((b) => `Ratio (${b.short})`), ...(encryptionPair(targets) ? ['Encrypted / plain'] : [])];
  return [`| ${cols.join(' | ')} |`, `|---|${cols.slice(1).map(() => '---:').join('|')}|`];
}

function metricRow(d: MetricDef, targets: Target[], cellOf: (t: Target) => Cell | undefined): string {
  const { dist, berths } = columns(targets);
  const arrow = d.better === 'higher' ? ' ↑' : d.better === 'lower' ? ' ↓' : '';
  const x = dist ? cellOf(dist) : undefined;
  const vals = targets.map((t) => cellText(cellOf(t), d, t));
  const ratios = berths.map((b) => ratio(d, cellOf(b), x));
  const pair = encryptionPair(targets);
  if (pair) ratios.push(plainRatio(d, cellOf(pair.enc), cellOf(pair.plain)));
  return `| ${d.label} (${d.unit}${arrow}) | ${[...vals, ...ratios].join(' | ')} |`;
}

const RSS_RUN: MetricDef = { key: 'rssRun', scenario: 'push', label: 'Peak RSS over the whole run', unit: 'MiB', better: 'lower', digits: 0 };

function table(defs: MetricDef[], targets: Target[], opts: Options): string {
  const rows = tableHead('Metric', targets);
  for (const d of defs) if (opts.only.has(d.scenario)) rows.push(metricRow(d, targets, (t) => t.cells.get(d.key)));
  rows.push(metricRow(RSS_RUN, targets, (t) => t.cells.get(RSS_RUN.key)));
  return rows.join('\n');
}

// ---- scale tables -----------------------------------------------------------------------------

const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1);

function latencyText(c: OpCell | undefined, requests: number): string {
  if (!c) return '–';
  if ('error' in c) return 'FAIL';
  // fewer requests than asked: the operation's time budget ran out
  return `${ms(c.p50)} / ${ms(c.p99)}${c.n < requests ? ` (n=${c.n})` : ''}`;
}

function scaleTables(targets: Target[], opts: Options): string[] {
  const ran = targets.filter((t) => t.scale);
  const ok = ran.map((t) => t.scale).find((r): r is ScaleResult => r !== undefined && !('error' in r));
  if (!ok) return ['Scale: no registry completed the scale scenario (see Failures).'];
  const { small, full } = ok.sizes;
  const out: string[] = [
    `### Scale: latency at ${small.repos} repositories / ${small.tags} tags (small) and ${full.repos.toLocaleString('en-US')} / ${full.tags.toLocaleString('en-US')} (full)`,
    '',
    `p50 / p99 in ms over ${opts.scale.requests} sequential requests per operation (after an untimed pass over every operation, and ${WARM_REQUESTS} untimed requests right before; an operation stops after ${OP_BUDGET_MS / 1000} s of timed requests, shown as n=), on one keep-alive connection; ` +
      'tags live in `bench/scale/tags`; "full/small" is the ratio of the p50s (goal ≤ 2×). Random tags are the same sequence for every registry.',
    '',
  ];
  const cols = ['Operation'];
  for (const t of ran) cols.push(`${t.name} small`, `${t.name} full`, `${t.name} full/small`);
  out.push(`| ${cols.join(' | ')} |`, `|---|${cols.slice(1).map(() => '---:').join('|')}|`);
  for (const d of SCALE_OPS) {
    const cells: string[] = [];
    for (const t of ran) {
      const r = t.scale!;
      if ('error' in r || (d.berthOnly && !t.berth)) {
        cells.push('error' in r ? 'FAIL' : '–', '–', '–');
        continue;
      }
      const a = r.small.get(d.key);
      const b = r.full.get(d.key);
      const k = a && b && !('error' in a) && !('error' in b) && a.p50 > 0 ? `${(b.p50 / a.p50).toFixed(2)}×` : '–';
      cells.push(latencyText(a, opts.scale.requests), latencyText(b, opts.scale.requests), k);
    }
    out.push(`| ${d.label} | ${cells.join(' | ')} |`);
  }
  const cellOf = (key: keyof Pick<ScaleResult, 'tagPutRate' | 'repoRate' | 'populateSecs' | 'failed'>) => (t: Target): Cell | undefined => {
    const r = t.scale;
    if (!r) return undefined;
    if ('error' in r) return { error: r.error };
    const v = r[key];
    return v === undefined ? undefined : { value: v, warn: key !== 'failed' && r.failed ? `${r.failed} failed` : undefined };
  };
  const pop: [MetricDef, (t: Target) => Cell | undefined][] = [
    [{ key: 'tagPutRate', scenario: 'scale', label: `Small-manifest PUTs into one repository, ${opts.scale.clients} clients (${ok.tagPuts.toLocaleString('en-US')} tags after the first ${small.tags})`, unit: 'PUT/s', better: 'higher', digits: 0 }, cellOf('tagPutRate')],
    [{ key: 'repoRate', scenario: 'scale', label: `Repositories created, ${opts.scale.clients} clients (2 blob mounts + 1 manifest PUT each; with tokens, a token each)`, unit: 'repos/s', better: 'higher', digits: 0 }, cellOf('repoRate')],
    [{ key: 'populateSecs', scenario: 'scale', label: 'Population, total', unit: 's', better: 'lower', digits: 1 }, cellOf('populateSecs')],
    [{ key: 'failed', scenario: 'scale', label: 'Failed requests during population', unit: 'count', better: 'none', digits: 0 }, cellOf('failed')],
  ];
  out.push('', '### Scale: population', '', ...tableHead('Metric', ran));
  for (const [d, f] of pop) out.push(metricRow(d, ran, f));
  // Without the main table, the whole-run RSS goes here.
  if (![...opts.only].some((s) => s !== 'scale')) out.push(metricRow(RSS_RUN, ran, (t) => t.cells.get(RSS_RUN.key)));
  return out;
}

// ---- gc and stalls ----------------------------------------------------------------------------

type Failed = { error: string };
const failed = (x: unknown): x is Failed => typeof x === 'object' && x !== null && 'error' in x;

interface GcStalls {
  berth?: Target;
  dist?: Target;
  pop?: Population;
  berthGc?: CliRun | Failed;
  distPop?: Population;
  distGc?: DistributionGcRun | Failed;
  churn?: ChurnResult | Failed;
  stalls?: StallsResult | Failed;
}

/**
 * gc and stalls, on their own Berth (and, for gc, Distribution). The population is made once; when both
 * run, the stopped Berth's data is copied after it and put back before stalls (the gc scenario removed
 * it), so that both collect the same 50,000 blobs without uploading them twice.
 */
async function runGcStalls(opts: Options, root: string, gcTargets: Target[]): Promise<GcStalls> {
  const r: GcStalls = {};
  const n = opts.gc.blobs;
  const fail = (t: Target, what: string, e: unknown): Failed => {
    let msg = errText(e);
    if (t.server && !t.server.alive() && t.berth) msg += `\n    server ${t.server.exitInfo()}; last log lines:\n${serverLog(t.server, 15).replace(/^/gm, '      ')}`;
    failures.push(`${t.name} ${what}: ${msg}`);
    log(`FAILED: ${msg}`);
    return { error: msg };
  };
  const stop = async (t: Target) => {
    try {
      await t.server?.stop();
    } catch {
      t.server?.killNow();
    }
  };
  const bt = gcTargets.find((t) => t.berth);
  if (bt) {
    r.berth = bt;
    let stage = 'start';
    try {
      if (!berthBuilt()) throw new Error('dist/cli/index.js not found (run npm run build)');
      await startTarget(bt);
      log(`${bt.name} for gc/stalls ready at ${bt.server!.url} (pid ${bt.server!.pid}, data ${bt.server!.dataDir})`);
      stage = 'population';
      log(`gc        ${bt.name}: uploading ${n.toLocaleString('en-US')} unreferenced ${GC_BLOB_BYTES}-byte blobs into ${GC_REPOS} repositories, ${opts.gc.clients} clients`);
      const pop = await populateBerth(bt.name, endpoint(bt), n, opts.gc.clients, log);
      r.pop = pop;
      for (const e of pop.errors) failures.push(`${bt.name} gc population: ${e}`);
      log(`  ${bt.name}: ${fmt(n / pop.secs, 0)} blobs/s (${pop.secs.toFixed(1)} s)${pop.failed ? `, ${pop.failed} failed` : ''}`);
      const dataDir = bt.server!.dataDir;
      const snapshot = opts.only.has('gc') && opts.only.has('stalls') ? path.join(root, 'gc-snapshot') : undefined;
      if (snapshot) {
        stage = 'copying the population';
        await bt.server!.stop();
        execFileSync('cp', ['-a', dataDir, snapshot]);
        await startTarget(bt);
      }
      if (opts.only.has('gc')) {
        stage = 'gc';
        await settle();
        log(`gc        ${bt.name}: berth gc --grace 0 beside the running server`);
        try {
          const run = await berthGc(bt.server!, ['--grace', '0']);
          r.berthGc = run;
          log(`  ${bt.name}: removed ${run.report.blobsRemoved} blobs in ${run.wallSecs.toFixed(2)} s (its report: ${(run.report.durationMs / 1000).toFixed(2)} s)`);
          if (run.report.blobsRemoved < n - pop.failed) failures.push(`${bt.name} gc: removed ${run.report.blobsRemoved} blobs of the ${n - pop.failed} populated`);
          if (!bt.server!.alive()) throw new Error(`the server stopped during gc (${bt.server!.exitInfo()})`);
        } catch (e) {
          r.berthGc = fail(bt, 'gc', e);
        }
        if (opts.gc.churnSeconds > 0 && bt.server!.alive()) {
          stage = 'churn';
          log(`gc        ${bt.name}: churn for ${opts.gc.churnSeconds} s, ${opts.gc.churnRate} images/s, berth gc --grace ${opts.gc.churnGrace} every ${opts.gc.churnInterval} s`);
          try {
            const c = await runChurn(bt.name, endpoint(bt), bt.server!, opts.gc, log);
            r.churn = c;
            for (const e of c.errors) failures.push(`${bt.name} gc churn: ${e}`);
            if (c.failed > c.errors.length) failures.push(`${bt.name} gc churn: … ${c.failed} failed requests in all`);
            for (const e of c.gcErrors) failures.push(`${bt.name} gc churn, berth gc: ${e}`);
          } catch (e) {
            r.churn = fail(bt, 'gc churn', e);
          }
        }
      }
      if (opts.only.has('stalls')) {
        stage = 'stalls';
        try {
          if (snapshot) {
            log(`stalls    ${bt.name}: putting the ${n.toLocaleString('en-US')}-blob population back (copy of the stopped server's data)`);
            await bt.server!.stop();
            rmSync(dataDir, { recursive: true, force: true });
            execFileSync('cp', ['-a', snapshot, dataDir]);
            rmSync(snapshot, { recursive: true, force: true });
            await startTarget(bt);
          }
          await settle();
          const st = await runStalls(bt.name, endpoint(bt), bt.server!, { ...opts.stalls, warmupSeconds: opts.warmupSeconds }, log);
          r.stalls = st;
          if (st.gcRun.report.blobsRemoved < n - pop.failed) notes.push(`${bt.name} stalls: the gc phase's berth gc removed ${st.gcRun.report.blobsRemoved} blobs, fewer than the ${n - pop.failed} populated.`);
        } catch (e) {
          r.stalls = fail(bt, 'stalls', e);
        }
      }
    } catch (e) {
      const f = fail(bt, `gc/stalls ${stage}`, e);
      if (opts.only.has('gc')) r.berthGc ??= f;
      if (opts.only.has('stalls')) r.stalls ??= f;
    } finally {
      await stop(bt);
    }
  }
  const dt = gcTargets.find((t) => !t.berth);
  if (dt && opts.only.has('gc')) {
    r.dist = dt;
    try {
      // Started once for its config and storage, stopped for the population and for garbage-collect.
      await startTarget(dt);
      await dt.server!.stop();
      log(`gc        Distribution: writing ${n.toLocaleString('en-US')} unreferenced ${GC_BLOB_BYTES}-byte blobs into its storage (stopped)`);
      const pop = await populateDistributionFiles(dt.server!.dataDir, n, opts.gc.clients, log);
      r.distPop = pop;
      if (pop.failed) throw new Error(`writing the population: ${pop.errors[0]}`);
      await startTarget(dt);
      for (const b of pop.sample) {
        const st = await headBlob(endpoint(dt), b.name, b.digest);
        if (st !== 200) throw new Error(`HEAD /v2/${b.name}/blobs/${b.digest} of a blob written into its storage -> HTTP ${st}`);
      }
      await dt.server!.stop();
      await settle();
      log('gc        Distribution: docker-registry garbage-collect --delete-untagged (stopped)');
      const g = await distributionGc(dt.server!);
      r.distGc = g;
      log(`  Distribution: removed ${g.before - g.after} blobs in ${g.wallSecs.toFixed(2)} s`);
      if (g.before - g.after < n) failures.push(`Distribution gc: removed ${g.before - g.after} blobs of the ${n} written`);
    } catch (e) {
      r.distGc = fail(dt, 'gc', e);
    } finally {
      await stop(dt);
    }
  }
  for (const t of gcTargets) {
    if (t.sampler) foldRss(t, t.sampler.stop());
    t.sampler = undefined;
  }
  return r;
}

function gcTables(r: GcStalls, opts: Options): string[] {
  const n = opts.gc.blobs;
  const ran = [r.berth, r.dist].filter((t): t is Target => t !== undefined);
  const out: string[] = [
    `### Garbage collection: ${n.toLocaleString('en-US')} unreferenced blobs`,
    '',
    `Berth: ${n.toLocaleString('en-US')} blobs of ${GC_BLOB_BYTES} random bytes uploaded over HTTP (one \`POST /v2/<name>/blobs/uploads/?digest=\` with the bytes each, ` +
      `${opts.gc.clients} clients, ${GC_REPOS} repositories) and no manifest, then \`berth gc --grace 0 --json\` run beside the running server. ` +
      'Distribution: the same number of blobs written into its storage layout while it is stopped (the blob file and the repository\'s `_layers` link its own upload leaves; ' +
      'three are checked with HEAD), then `docker-registry garbage-collect CONFIG --delete-untagged` on the stopped registry (it needs the registry stopped or read-only). ' +
      'The rate is blobs removed over the command\'s wall time, process start included for both; Distribution\'s removed count is counted on disk before and after.',
    '',
  ];
  const rows: [MetricDef, (t: Target) => Cell | undefined][] = [];
  const def = (key: string, label: string, unit: string, better: Better, digits: number): MetricDef => ({ key, label, unit, better, digits, scenario: 'gc' });
  const berthRun = (f: (g: CliRun) => number | undefined) => (t: Target): Cell | undefined => {
    if (!t.berth || !r.berthGc) return undefined;
    if (failed(r.berthGc)) return r.berthGc;
    const v = f(r.berthGc);
    return v === undefined ? undefined : { value: v };
  };
  const distRun = (f: (g: DistributionGcRun) => number | undefined) => (t: Target): Cell | undefined => {
    if (t.berth || !r.distGc) return undefined;
    if (failed(r.distGc)) return r.distGc;
    const v = f(r.distGc);
    return v === undefined ? undefined : { value: v };
  };
  const either = (b: (g: CliRun) => number | undefined, d: (g: DistributionGcRun) => number | undefined) => (t: Target) => (t.berth ? berthRun(b)(t) : distRun(d)(t));
  rows.push(
    [def('gcRate', 'Removal rate', 'blobs/s', 'higher', 0), either((g) => g.report.blobsRemoved / g.wallSecs, (g) => (g.before - g.after) / g.wallSecs)],
    [def('gcWall', 'Collection, process start to exit', 's', 'lower', 2), either((g) => g.wallSecs, (g) => g.wallSecs)],
    [def('gcOwn', 'Collection as `berth gc` reports it (`durationMs`)', 's', 'none', 2), either((g) => g.report.durationMs / 1000, () => undefined)],
    [def('gcRemoved', 'Blobs removed', 'count', 'none', 0), either((g) => g.report.blobsRemoved, (g) => g.before - g.after)],
    [def('gcRss', 'Peak RSS of the collecting process', 'MiB', 'lower', 0), either((g) => g.peakRssMiB, (g) => g.peakRssMiB)],
    [def('gcPop', 'Population rate (Berth over HTTP; Distribution: files written directly, not comparable)', 'blobs/s', 'none', 0),
      (t) => { const p = t.berth ? r.pop : r.distPop; return p ? { value: p.blobs / p.secs } : undefined; }],
  );
  out.push(...tableHead('Metric', ran));
  for (const [d, f] of rows) out.push(metricRow(d, ran, f));
  if (!r.dist && opts.servers.includes('distribution')) out.push('', 'Distribution did not run.');
  out.push('', 'Distribution has no churn row: its garbage-collect needs the registry stopped or read-only, so it cannot collect while clients push and delete.');

  if (opts.gc.churnSeconds > 0 && r.berth) {
    const c = r.churn;
    out.push('', `### Garbage collection under churn: ${r.berth.name}`, '');
    if (!c) out.push('The churn phase did not run (see Failures).');
    else if (failed(c)) out.push(`The churn phase failed: ${c.error.split('\n')[0]}`);
    else {
      out.push(
        `For ${opts.gc.churnSeconds} s clients push an image every ${(1000 / opts.gc.churnRate).toFixed(0)} ms (${opts.gc.churnRate}/s: its own config and ${GC_BLOB_BYTES}-byte layer, ` +
          `a manifest under a new tag in \`bench/churn\`, with a token for \`pull,push,delete\`), and once an image is in, delete by digest the one pushed ${CHURN_WINDOW} pushes earlier, ` +
          'which leaves its config and layer unreferenced (deleting only its tag would not: Berth keeps untagged manifests, and their blobs with them). ' +
          `Meanwhile \`berth gc --grace ${opts.gc.churnGrace}\` runs every ${opts.gc.churnInterval} s (start to start) as a separate process, each run followed by ` +
          '`berth gc --dry-run --grace 0`, whose count of blobs it would remove is the backlog: unreferenced blobs still stored (those within the grace period included).',
        '',
        '| Collection | started at (s) | blobs removed | run time (s) | process wall time (s) | unreferenced blobs stored after it |',
        '|---|---:|---:|---:|---:|---:|',
        ...c.collections.map((k, i) => `| ${i + 1} | ${k.at.toFixed(1)} | ${fmt(k.removed, 0)} | ${k.runSecs.toFixed(2)} | ${k.wallSecs.toFixed(2)} | ${fmt(k.backlogAfter, 0)} |`),
        '',
      );
      const first = c.collections[0]?.backlogAfter;
      const last = c.collections[c.collections.length - 1]?.backlogAfter;
      const trend = first === undefined || last === undefined ? 'no collection completed'
        : c.collections.length < 2 ? 'one collection only'
          : last < first ? `shrank (${fmt(first, 0)} → ${fmt(last, 0)})` : last > first ? `grew (${fmt(first, 0)} → ${fmt(last, 0)}, ${((last / Math.max(1, first) - 1) * 100).toFixed(0)}% more)` : `unchanged (${fmt(first, 0)})`;
      out.push(
        `- Backlog after the first vs the last collection: ${trend}; when every push and delete had finished: ${fmt(c.backlogEnd, 0)} unreferenced blobs.`,
        `- Each collection took ${c.collections.length ? `${fmt(Math.min(...c.collections.map((k) => k.runSecs)), 2)}–${fmt(Math.max(...c.collections.map((k) => k.runSecs)), 2)} s` : '–'} by its report; ` +
          `${c.late} started late (the previous one, with its dry run, outlasted the ${opts.gc.churnInterval} s interval).`,
        `- Images pushed: ${c.images} (${(c.images / c.seconds).toFixed(1)}/s of ${opts.gc.churnRate}/s asked), manifests deleted: ${c.deleted}, failed requests: ${c.failed}${c.failed ? ' (see Failures)' : ''}; ` +
          `image push (2 blobs + manifest) p50 ${ms(c.pushP50)} ms, p99 ${ms(c.pushP99)} ms; manifest DELETE p99 ${ms(c.deleteP99)} ms.`,
      );
    }
  }
  return out;
}

function stallTables(r: GcStalls, opts: Options): string[] {
  const st = r.stalls;
  const name = r.berth?.name ?? 'Berth';
  const o = opts.stalls;
  const out: string[] = [`### Stalls: manifest GET latency on ${name}, idle, during gc, under another process's write lock`, ''];
  if (!st) return [...out, 'The stalls scenario did not run (see Failures).'];
  if (failed(st)) return [...out, `The stalls scenario failed: ${st.error.split('\n')[0]}`];
  out.push(
    `\`GET /v2/bench/stalls/manifests/v1\` (OCI Accept header, Bearer token as a client sends it) at a steady ${o.rate} requests/s, open loop (each request is sent when it is due, ` +
      `whether or not earlier ones were answered, on up to ${STALL_CONNECTIONS} keep-alive connections), for ${o.seconds} s per phase after a ${opts.warmupSeconds} s warm-up. ` +
      'Latency runs from when a request was due to the end of its answer, so time it waited in the client behind a stall counts. ' +
      `A request unanswered after ${o.timeoutMs / 1000} s is abandoned and counted as a timeout (at ${o.timeoutMs / 1000} s in the percentiles); errors are non-200 answers and failed connections. ` +
      `Phases: idle (the server holds the ${opts.gc.blobs.toLocaleString('en-US')}-blob population); \`berth gc --grace 0\` of that population, started with the phase; ` +
      `another process (Node, better-sqlite3) holding the database's write lock (\`BEGIN IMMEDIATE\`, ${o.seconds} s, \`COMMIT\`) for the whole phase. ` +
      'Goal (the reliability issue): p99 stays within 2× of its idle value and nothing times out.',
    '',
    `| Phase | requests | p50 (ms) | p99 (ms) | max (ms) | > ${SLOW_MS / 1000} s | errors | timeouts | p99 / idle | p99 ≤ 2× idle, no errors or timeouts |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  const row = (label: string, p: PhaseStats) => {
    const k = st.idle.p99 > 0 ? p.p99 / st.idle.p99 : NaN;
    const ok = p === st.idle ? '–' : k <= 2 && p.errorCount === 0 && p.timeouts === 0 ? 'yes' : 'no';
    return `| ${label} | ${fmt(p.requests, 0)} | ${ms(p.p50)} | ${ms(p.p99)} | ${ms(p.max)} | ${p.slow} | ${p.errorCount} | ${p.timeouts} | ${Number.isFinite(k) ? `${k.toFixed(2)}×` : '–'} | ${ok} |`;
  };
  out.push(
    row('idle', st.idle),
    row(`\`berth gc\` of ${opts.gc.blobs.toLocaleString('en-US')} blobs, its first ${o.seconds} s`, st.gc),
    row(`\`berth gc\`, all of its run (${st.gcSecs.toFixed(1)} s)`, st.gcWhole),
    row(`write lock held by another process (${(st.lockHeldMs / 1000).toFixed(1)} s)`, st.lock),
  );
  const errs = (p: PhaseStats) => [...p.errors].map(([k, v]) => `${v}× ${k}`).join(', ');
  // one figure per second, or per a few seconds for a long gc run (at most 60 figures)
  const timeline = (p: PhaseStats) => {
    const per = Math.max(1, Math.ceil(p.perSecondMax.length / 60));
    const out: string[] = [];
    for (let i = 0; i < p.perSecondMax.length; i += per) out.push(ms(Math.max(...p.perSecondMax.slice(i, i + per))));
    return `${per > 1 ? `(per ${per} s) ` : ''}${out.join(', ')}`;
  };
  out.push(
    '',
    `- \`berth gc\` removed ${fmt(st.gcRun.report.blobsRemoved, 0)} blobs in ${st.gcRun.wallSecs.toFixed(1)} s (its report: ${(st.gcRun.report.durationMs / 1000).toFixed(1)} s); ` +
      `the load went on until it exited, so the phase's first ${o.seconds} s are as long as the others and the next row covers all of its run` +
      `${st.gcSecs < o.seconds ? ` (it ended ${(o.seconds - st.gcSecs).toFixed(1)} s before the phase did, so the first row also has requests after it)` : ''}.`,
    `- The lock holder waited ${fmt(st.lockWaitedMs, 0)} ms for the lock (process start included) and held it ${(st.lockHeldMs / 1000).toFixed(1)} s.`,
  );
  for (const [label, p] of [['idle', st.idle], [`gc, first ${o.seconds} s`, st.gc], ['gc, all of its run', st.gcWhole], ['write lock', st.lock]] as const) {
    if (p.errorCount) out.push(`- Errors, ${label} phase: ${errs(p)}.`);
  }
  out.push(
    `- Slowest request due in each second (ms), all of the gc run: ${timeline(st.gcWhole)}.`,
    `- Slowest request due in each second (ms), write-lock phase: ${timeline(st.lock)}.`,
  );
  return out;
}

// ---- servers ----------------------------------------------------------------------------------

function foldRss(t: Target, r: { peakMiB: number; procs: number }): void {
  if (r.peakMiB > t.rssPeak.peakMiB) t.rssPeak.peakMiB = r.peakMiB;
  if (r.procs > t.rssPeak.procs) t.rssPeak.procs = r.procs;
}

const basicAuth = (t: Target) => `Basic ${Buffer.from(`admin:${t.password}`).toString('base64')}`;

/**
 * Berth as shipped refuses pushes into a namespace nobody owns: an organization `bench` (created by
 * admin through the API, as an operator would) owns every repository of the benchmark. Then the first
 * thing a client meets is checked: 401 with a Bearer challenge naming realm, service and scope.
 */
async function prepareShipped(t: Target): Promise<void> {
  const url = t.server!.url;
  const org = new URL('/api/v1/organizations', url);
  const r = await request('POST', org, { headers: { authorization: basicAuth(t), 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ name: 'bench' })) });
  if (r.status !== 201 && r.status !== 409) throw new RequestError('POST', org.pathname, r.status, r.body.toString().slice(0, 500), 'creating organization bench');
  const u = new URL(`/v2/${SMALL_REPO}/tags/list`, url);
  const c = await request('GET', u);
  const h = c.headers['www-authenticate'];
  if (c.status !== 401 || typeof h !== 'string' || !/^Bearer /i.test(h) || !h.includes(`scope="repository:${SMALL_REPO}:pull"`) || !h.includes('realm="') || !h.includes('service="')) {
    throw new RequestError('GET', u.pathname, c.status, c.body.toString().slice(0, 500), `expected 401 with a Bearer challenge (realm, service, scope); WWW-Authenticate: ${String(h)}`);
  }
}

/** A management API session for admin (what the web UI uses): the cookie. */
async function apiSession(t: Target): Promise<Record<string, string>> {
  const u = new URL('/api/v1/session', t.server!.url);
  const r = await request('POST', u, { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ username: 'admin', password: t.password })) });
  const set = r.headers['set-cookie']?.find((c) => c.startsWith('berth_session='));
  if (r.status !== 200 || !set) throw new RequestError('POST', u.pathname, r.status, r.body.toString().slice(0, 500), 'logging in for a session');
  return { cookie: set.split(';')[0] };
}

async function startTarget(t: Target): Promise<void> {
  if (t.sampler) foldRss(t, t.sampler.stop());
  t.server = await t.start();
  // 100 ms over the whole run (the push scenario samples every 20 ms itself and folds its peak in)
  t.sampler = new RssSampler(t.server.pid, 100).start();
  if (t.shipped) {
    t.auth = new TokenAuth(t.server.url, 'admin', t.password!);
    await prepareShipped(t);
  }
}

// ---- scan ---------------------------------------------------------------------------------------

/** One value per round: the median and, over several rounds, the range. */
function spread(values: number[]): Cell | undefined {
  if (values.length === 0) return undefined;
  const v = [...values].sort((a, b) => a - b);
  return { value: v[Math.floor((v.length - 1) / 2)], range: v.length > 1 ? [v[0], v[v.length - 1]] : undefined };
}

function scanTables(r: ScanResult | Failed, opts: Options): string[] {
  if (failed(r)) return ['### Scanning', '', `The scan scenario failed: ${r.error.split('\n')[0]} (see Failures).`];
  const out: string[] = ['### Scanning: Berth\'s scanner and Trivy on the same images', ''];
  const text = (c: Cell | undefined, digits: number) => {
    if (!c) return '–';
    if ('error' in c) return 'FAIL';
    return fmt(c.value, digits) + (c.range ? ` (${fmt(c.range[0], digits)}–${fmt(c.range[1], digits)})` : '');
  };
  const row = (label: string, unit: string, better: Better, digits: number, berth: Cell | undefined, trivy?: Cell | undefined) => {
    const arrow = better === 'higher' ? ' ↑' : better === 'lower' ? ' ↓' : '';
    const d: MetricDef = { key: 'scan', scenario: 'scan', label, unit, better, digits };
    return `| ${label} (${unit}${arrow}) | ${text(berth, digits)} | ${text(trivy, digits)} | ${ratio(d, berth, trivy)} |`;
  };
  const value = (v: number | undefined): Cell | undefined => (v === undefined ? undefined : { value: v });
  const deb = r.debian;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  out.push(
    `Berth: the built scanner (dist/) in a process of its own (\`node ${NODE_FLAGS_TEXT} bench/lib/scan-child.mjs\`): catalogImage over the image's OCI layout on disk ` +
      '(the layers streamed from their files as its ImageContent), then cyclonedxSbom. Trivy: `trivy image --input LAYOUT --format cyclonedx --scanners license` in `unshare -n` ' +
      '(no network; `--offline-scan --skip-db-update --skip-java-db-update`, a fresh cache dir: no vulnerability database is needed for an SBOM). ' +
      `Wall times run from spawning the process to its exit; ${opts.repeat} round(s) on the Debian image, Berth and Trivy alternating (median, range), one on the big image. ` +
      'Ratio: Trivy/Berth for seconds and memory, Berth/Trivy for MB/s: >1 means Berth is better. Peak RSS: Berth\'s VmHWM from /proc/self/status at the end of the scan (exact); ' +
      'Trivy\'s VmRSS sampled every 20 ms (a peak between samples is missed).',
    '',
    '| Metric | Berth | Trivy | Ratio (Trivy) |',
    '|---|---:|---:|---:|',
    row(`Debian bookworm minbase (${deb.packages} packages, ${mb(deb.layerBytes)} MB gzip layer): SBOM, process start to exit`, 's', 'lower', 2,
      spread(deb.berth.map((b) => b.wallMs / 1000)), spread(deb.trivy.map((t) => t.wallMs / 1000))),
    row('… Berth in-process: catalogImage + cyclonedxSbom (no Node start-up)', 's', 'none', 2, spread(deb.berth.map((b) => (b.catalogMs + b.sbomMs) / 1000))),
    row('… peak RSS of the scanning process', 'MiB', 'lower', 0, spread(deb.berth.map((b) => b.hwmKiB / 1024)), spread(deb.trivy.map((t) => t.peakRssMiB))),
  );
  const big = r.big;
  if (big && !failed(big)) {
    const b = big.berth;
    const size = `${(big.layerBytes / MiB).toFixed(0)} MiB image`;
    out.push(
      row(`${size} (rootfs + ${big.files.toLocaleString('en-US')} generated files): SBOM, process start to exit`, 's', 'lower', 2, value(b.wallMs / 1000), value(big.trivy && big.trivy.wallMs / 1000)),
      row(`… throughput over that wall time, MB of compressed layers`, 'MB/s', 'higher', 0, value(big.layerBytes / 1e6 / (b.wallMs / 1000)), value(big.trivy && big.layerBytes / 1e6 / (big.trivy.wallMs / 1000))),
      row('… Berth in-process throughput: catalogImage alone', 'MB/s', 'higher', 0, value(b.compressedBytes / 1e6 / (b.catalogMs / 1000))),
      row('… peak RSS of the scanning process', 'MiB', 'lower', 0, value(b.hwmKiB / 1024), value(big.trivy?.peakRssMiB)),
      row('… packages named in the SBOM', 'count', 'none', 0, value(b.packages), value(big.trivy?.packages)),
    );
  } else if (big) {
    out.push(row('Big image', 's', 'none', 0, { error: big.error }));
  }
  out.push(row('Debian image: scan throughput in-process (catalogImage alone)', 'MB/s', 'higher', 0, spread(deb.berth.map((x) => x.compressedBytes / 1e6 / (x.catalogMs / 1000)))));
  const goals: string[] = [];
  const berthMs = spread(deb.berth.map((x) => x.wallMs)), trivyMs = spread(deb.trivy.map((t) => t.wallMs));
  const debRatio = berthMs && trivyMs && 'value' in berthMs && 'value' in trivyMs ? trivyMs.value / berthMs.value : undefined;
  if (debRatio !== undefined) goals.push(`- Berth faster than Trivy at the Debian SBOM: ${debRatio > 1 ? `yes, ${debRatio.toFixed(2)}×` : `**no**: Trivy took ${debRatio.toFixed(2)}× Berth's time`}.`);
  if (big && !failed(big)) {
    const peak = big.berth.hwmKiB / 1024, limit = opts.scan.rssBudgetMiB + opts.scan.rssMarginMiB;
    goals.push(`- Peak RSS of Berth scanning the ${(big.layerBytes / MiB).toFixed(0)} MiB image: ${peak.toFixed(0)} MiB against the budget of ${opts.scan.rssBudgetMiB} MiB ` +
      `(+${opts.scan.rssMarginMiB} MiB margin = ${limit} MiB): ${peak <= opts.scan.rssBudgetMiB ? 'within the budget' : peak <= limit ? 'over the budget, within the margin' : '**over budget and margin**'}; ` +
      `the process held ${(big.berth.loadedHwmKiB / 1024).toFixed(0)} MiB with the scanner loaded, before it read anything.`);
    if (big.trivy) {
      goals.push(`- Packages: Berth names ${big.berth.packages} (every npm package twice, from node_modules/*/package.json and from package-lock.json, each a component with its own path; ` +
        `${big.berth.osPackages} deb), Trivy ${big.trivy.packages} (image mode reads installed package.json files, not lockfiles; it counts the application's own package.json too).`);
    }
  }
  out.push('', ...goals);
  const m = r.rematch;
  out.push('', `### Re-matching stored catalogues after a vulnerability database update (Berth, ${opts.db === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, '');
  if (!m) out.push('Did not run.');
  else if (failed(m)) out.push(`Failed: ${m.error.split('\n')[0]} (see Failures).`);
  else {
    out.push(
      `A metadata store of its own (${opts.db === 'postgres' ? 'a PostgreSQL database on 127.0.0.1:5432' : 'SQLite in the temp dir'}) holds the Debian image's catalogue (${m.packagesEach} packages) under ${m.catalogues.toLocaleString('en-US')} distinct digests ` +
        `(no repository holds those manifests, so a changed result writes no audit record or event). Imported in one transaction: the OSV records of ../shared/data/osv ` +
        '(npm, Go, Maven, PyPI: none names a Debian package, they only fill the database) and a Debian tracker export made from the catalogue: three CVEs per source package ' +
        '(fixed above the installed version, fixed below it, open). Then `FindingsService.rematchStale()` over all of them; the update re-imports the tracker with the fixed version ' +
        'of every fifth source changed and a new open CVE in every tenth, and every catalogue is matched again.',
      '',
      '| Metric | Berth |',
      '|---|---:|',
      `| Import: ${m.records.toLocaleString('en-US')} records (s ↓) | ${fmt(m.importMs / 1000, 2)} |`,
      `| Re-match after the import, ${m.first.matched.toLocaleString('en-US')} catalogues, no findings before (s ↓) | ${fmt(m.first.ms / 1000, 2)} |`,
      `| … rate (catalogues/s ↑) | ${fmt(m.first.matched / (m.first.ms / 1000), 0)} |`,
      `| Update import: ${m.update.records.toLocaleString('en-US')} records (s ↓) | ${fmt(m.update.importMs / 1000, 2)} |`,
      `| Re-match after the update, ${m.update.matched.toLocaleString('en-US')} catalogues (s ↓) | ${fmt(m.update.ms / 1000, 2)} |`,
      `| … rate (catalogues/s ↑) | ${fmt(m.update.matched / (m.update.ms / 1000), 0)} |`,
      `| … catalogues whose findings changed (count) | ${m.update.changed.toLocaleString('en-US')} |`,
      `| Findings per catalogue after the update (count) | ${m.findingsEach} |`,
    );
  }
  return out;
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const size = opts.sizeMiB % 1024 === 0 ? `${opts.sizeMiB / 1024} GiB` : `${opts.sizeMiB} MiB`;
  const defs = metricDefs(size);
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  tmpRoot = root;

  const targets: Target[] = [];
  // One RADOS Gateway for the run, a bucket per Berth.
  let s3: S3Server | undefined;
  const s3For = async (key: string): Promise<Record<string, unknown> | undefined> => {
    if (opts.storage !== 's3') return undefined;
    s3 ??= await startS3Server();
    return { endpoint: s3.endpoint, bucket: await s3.createBucket(`bench-${key}-${Date.now()}`.slice(0, 63)), region: s3.region, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  };
  const berth = (shipped: boolean, encrypted = false, dirPrefix = ''): Target => {
    const password = randomBytes(18).toString('base64url');
    const key: TargetKey = encrypted ? 'berth-encrypted' : shipped ? 'berth-tokens' : 'berth-noauth';
    const t: Target = {
      key, name: encrypted ? 'Berth (encrypted)' : shipped ? 'Berth (tokens)' : 'Berth (no auth)', short: encrypted ? 'encrypted' : shipped ? 'tokens' : 'no auth',
      berth: true, shipped, encrypted, auth: NO_AUTH, password, cells: new Map(), rssPeak: { peakMiB: 0, procs: 0 },
      scenarios: encrypted ? new Set(ENCRYPTION_SCENARIOS) : undefined,
      start: async () => startBerthServer(root, { workers: opts.berthWorkers, auth: shipped, encryption: encrypted, adminPassword: password, dir: `${dirPrefix}${key}`, name: t.name, database: opts.db, s3: await s3For(key) }),
    };
    return t;
  };
  if (opts.servers.includes('berth')) {
    if (opts.berthAuth !== 'off') targets.push(berth(true));
    if (opts.berthAuth !== 'on') targets.push(berth(false));
    // parseOptions left one plain Berth (on or off): the encrypted one has its auth state
    if (opts.encryption) targets.push(berth(opts.berthAuth === 'on', true));
  }
  if (opts.servers.includes('distribution')) {
    targets.push({ key: 'distribution', name: 'Distribution', berth: false, auth: NO_AUTH, start: () => startDistribution(root), cells: new Map(), rssPeak: { peakMiB: 0, procs: 0 } });
  }
  // gc and stalls run on registries of their own (data under root/gc-*): their collections would
  // otherwise also remove what other scenarios left unreferenced (the big blob), and a 50,000-blob
  // population would sit under every later scenario.
  const gcTargets: Target[] = [];
  if (opts.only.has('gc') || opts.only.has('stalls')) {
    if (opts.servers.includes('berth')) gcTargets.push(berth(opts.berthAuth !== 'off', false, 'gc-'));
    if (opts.only.has('gc') && opts.servers.includes('distribution')) {
      gcTargets.push({ key: 'distribution', name: 'Distribution', berth: false, auth: NO_AUTH, start: () => startDistribution(path.join(root, 'gc')), cells: new Map(), rssPeak: { peakMiB: 0, procs: 0 } });
    }
  }

  let cleaned = false;
  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    for (const t of [...targets, ...gcTargets]) t.server?.killNow();
    rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping servers and removing ${root}`);
      cleanupSync();
      process.exit(130);
    });
  }

  const machine = machineInfo(root);
  const mainScenarios = [...opts.only].filter((s) => !OWN_SCENARIOS.has(s));
  // The shared registries are started only for the scenarios that use them.
  const needMain = mainScenarios.length > 0 || opts.only.has('scale');
  const nameWidth = Math.max(16, ...targets.map((t) => t.name.length + 1));
  log('# Berth vs CNCF Distribution\n');
  log(machine.join('\n'));
  log(`\nScenarios: ${[...opts.only].join(', ')}; registries: ${(needMain ? targets : gcTargets).map((t) => t.name).join(', ')}; Berth http.workers ${opts.berthWorkers ?? 'default'}; Berth's database ${opts.db === 'postgres' ? 'PostgreSQL (127.0.0.1:5432, a database of its own)' : 'SQLite'}` +
    (mainScenarios.length ? `; big blob ${size}; wrk -t2 -c64 -d${opts.wrkSeconds}s after a ${opts.warmupSeconds}s warm-up` : '') +
    (opts.only.has('scale') ? `; scale: ${opts.scale.repos} repositories, ${opts.scale.tags} tags, ${opts.scale.clients} clients, ${opts.scale.requests} requests per operation` : '') +
    (opts.only.has('gc') || opts.only.has('stalls') ? `; gc/stalls on ${gcTargets.map((t) => t.name).join(' and ') || 'no registry'}: ${opts.gc.blobs} unreferenced blobs` : '') +
    (opts.only.has('gc') && opts.gc.churnSeconds > 0 ? `, churn ${opts.gc.churnSeconds} s at ${opts.gc.churnRate} images/s, gc every ${opts.gc.churnInterval} s with --grace ${opts.gc.churnGrace}` : '') +
    (opts.only.has('stalls') ? `, stall phases of ${opts.stalls.seconds} s at ${opts.stalls.rate} GET/s` : '') +
    (opts.only.has('scan') ? `; scan: Berth vs Trivy, ${opts.repeat} round(s) on the Debian image, a +${opts.scan.extraMiB} MiB image, re-match of ${opts.scan.catalogues} catalogues` : '') + '\n');

  try {
    // fixtures (digests precomputed by hashing the same deterministic streams)
    const t0 = performance.now();
    const fx: Fixtures = { small: makeSmall() };
    if (opts.only.has('push') || opts.only.has('pull')) fx.big = makePayload(opts.sizeMiB * MiB);
    if (opts.only.has('chunked')) fx.chunked = makePayload(opts.sizeMiB * MiB);
    if (opts.only.has('parallel')) {
      fx.parallel = Array.from({ length: PAR_COUNT }, () => {
        const data = randomBytes(PAR_SIZE);
        return { data, digest: sha256(data) };
      });
    }
    log(`fixtures ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    for (const t of needMain ? targets : []) {
      if (t.berth && !berthBuilt()) {
        t.unavailable = 'dist/cli/index.js not found (run npm run build)';
      } else {
        try {
          await startTarget(t);
          log(`${t.name} ready at ${t.server!.url} (pid ${t.server!.pid})`);
        } catch (e) {
          t.unavailable = `failed to start: ${errText(e)}`;
        }
      }
      if (t.unavailable) {
        failures.push(`${t.name}: ${t.unavailable}`);
        log(`${t.name}: ${t.unavailable}`);
      }
    }

    const ensureRunning = async (t: Target, what: string): Promise<boolean> => {
      if (t.server!.alive()) return true;
      log(`${t.name} is not running (${t.server!.exitInfo()}); restarting it on the same data`);
      try {
        await startTarget(t);
        return true;
      } catch (e) {
        failures.push(`${t.name} ${what}: could not restart: ${errText(e)}`);
        return false;
      }
    };
    const failureDetail = (t: Target, e: unknown): string => {
      let msg = errText(e);
      if (!t.server!.alive()) msg += `\n    server ${t.server!.exitInfo()}; last log lines:\n${serverLog(t.server!, 15).replace(/^/gm, '      ')}`;
      else {
        const tail = serverLog(t.server!, 5);
        if (tail) msg += `\n    last server log lines:\n${tail.replace(/^/gm, '      ')}`;
      }
      return msg;
    };

    for (const s of SCENARIOS) {
      if (!opts.only.has(s) || OWN_SCENARIOS.has(s)) continue;
      for (let round = 0; round < opts.repeat; round++)
      for (const t of targets) {
        if (t.unavailable || (t.scenarios && !t.scenarios.has(s))) continue;
        if (!(await ensureRunning(t, s))) continue;
        const started = performance.now();
        process.stdout.write(`${s.padEnd(9)} ${t.name.padEnd(nameWidth)} … `);
        try {
          const cells = await runScenario(s, t, fx, opts);
          t.samples ??= new Map();
          for (const [k, v] of Object.entries(cells)) t.samples.set(k, [...(t.samples.get(k) ?? []), v]);
          const shown = Object.entries(cells).map(([k, v]) => {
            const d = defs.find((x) => x.key === k)!;
            const unit = d.unit === 'count' ? 'failed' : d.unit;
            return 'value' in v ? `${fmt(v.value, d.digits)} ${unit}${v.warn ? ` (${v.warn})` : ''}` : 'FAIL';
          });
          log(`${shown.join(', ')}  [${((performance.now() - started) / 1000).toFixed(1)} s]`);
        } catch (e) {
          const msg = failureDetail(t, e);
          t.samples ??= new Map();
          for (const d of defs) if (d.scenario === s) t.samples.set(d.key, [...(t.samples.get(d.key) ?? []), { error: msg }]);
          failures.push(`${t.name} ${s}: ${msg}`);
          log(`FAILED: ${msg}`);
        }
      }
    }

    if (opts.only.has('scale')) {
      const sfx = makeScaleFixture(opts.scale);
      for (const t of targets) {
        if (t.unavailable || (t.scenarios && !t.scenarios.has('scale'))) continue;
        if (!(await ensureRunning(t, 'scale'))) continue;
        log(`scale     ${t.name}`);
        const started = performance.now();
        try {
          // The management API authenticates whatever auth.enabled says (that switch is about /v2): a session for admin.
          const apiHeaders = t.berth ? () => apiSession(t) : undefined;
          const r = await runScale({ name: t.name, ep: endpoint(t), apiHeaders }, sfx, opts.scale, log);
          t.scale = r;
          for (const [size, m] of [['small', r.small], ['full', r.full]] as const) {
            for (const [k, c] of m) if ('error' in c) failures.push(`${t.name} scale ${SCALE_OPS.find((d) => d.key === k)!.label} at ${size} size: ${c.error}`);
            if (r.small === r.full) break;
          }
          for (const e of r.errors) failures.push(`${t.name} scale population: ${e}`);
          if (r.failed > r.errors.length) failures.push(`${t.name} scale population: … ${r.failed} failed requests in all`);
          notes.push(...r.notes);
          if (t.auth instanceof TokenAuth) notes.push(`${t.name}: ${t.auth.issued} tokens obtained from /token over the run (one per repository pushed to, renewed before expiry).`);
          log(`  ${t.name}: scale done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        } catch (e) {
          const msg = failureDetail(t, e);
          t.scale = { error: msg };
          failures.push(`${t.name} scale: ${msg}`);
          log(`FAILED: ${msg}`);
        }
      }
    }

    const gcs = opts.only.has('gc') || opts.only.has('stalls') ? await runGcStalls(opts, root, gcTargets) : undefined;

    let scan: ScanResult | Failed | undefined;
    if (opts.only.has('scan')) {
      if (!berthBuilt()) scan = { error: 'dist/ not found (run npm run build): the scan child runs the built scanner' };
      else {
        try {
          await settle();
          scan = await runScanBench(root, { ...opts.scan, rounds: opts.repeat, db: opts.db }, log);
          failures.push(...scan.errors.map((e) => `scan: ${e}`));
          notes.push(...scan.notes);
        } catch (e) {
          scan = { error: errText(e) };
        }
      }
      if (failed(scan)) {
        failures.push(`scan: ${scan.error}`);
        log(`FAILED: ${scan.error}`);
      }
    }

    for (const t of targets) {
      for (const [k, list] of t.samples ?? []) t.cells.set(k, reduceSamples(k, list));
      if (t.sampler) foldRss(t, t.sampler.stop());
      t.sampler = undefined;
      const push = t.cells.get('rss');
      if (push && 'value' in push) foldRss(t, { peakMiB: push.value, procs: 0 });
      if (t.rssPeak.peakMiB > 0) t.cells.set(RSS_RUN.key, { value: t.rssPeak.peakMiB });
    }

    const out: string[] = [
      '# Berth vs CNCF Distribution benchmark',
      '',
      ...machine,
      '',
      // The registries' description only where registries ran (--only=scan starts none).
      ...(needMain || gcTargets.length ? [
        `Berth's metadata database: ${opts.db === 'postgres' ? 'PostgreSQL on 127.0.0.1:5432 (a database of its own for each Berth, dropped afterwards)' : 'SQLite in its data directory'}. ` +
          `Berth's blob store: ${opts.storage === 's3' ? 'S3, Ceph\'s RADOS Gateway 16.2 (Debian) started for the run on loopback (one monitor, one memstore OSD: objects in RAM), a bucket per Berth' : 'its local data directory'}. Distribution stores on the local disk.`,
        '',
        'Registries: **Berth (tokens)** is Berth as shipped: authentication on (its config has no `auth` section), `admin` created with BERTH_ADMIN_PASSWORD, ' +
          'an organization `bench` owning the repositories; the client meets the 401 Bearer challenge, asks the realm (`GET /token`, Basic credentials, ' +
          'scope `repository:NAME:pull` or `pull,push`) and sends `Authorization: Bearer` on every request, renewing a token 30 s before it expires. ' +
          '**Berth (no auth)** runs with `auth.enabled: false`. **Distribution** runs without authentication. Goals are judged on the tokens column.' +
          (opts.encryption
            ? ` **Berth (encrypted)** is the same as ${opts.berthAuth === 'on' ? 'Berth (tokens)' : 'Berth (no auth)'} plus \`storage.encryption.enabled: true\` ` +
              '(file key provider, key file created at its first start under <data>/secrets/storage.keys: every blob and upload under its own data key, ' +
              `AES-256-GCM); it runs only ${ENCRYPTION_SCENARIOS.join(', ')}. The encryption goals (encrypted / plain ≥ 0.8× for push and pull MB/s, ` +
              'peak RSS not growing with blob size) are judged on the "Encrypted / plain" column.'
            : ''),
        '',
        (fx.big || fx.chunked ? `Big blob: ${size} (${opts.sizeMiB * MiB} bytes, a 16 MiB random pattern repeated); ` : '') +
          `Berth http.workers: ${opts.berthWorkers ?? 'default'}; logging: error level for all (Distribution access log off)` +
          (mainScenarios.length
            ? `; wrk -t2 -c64 -d${opts.wrkSeconds}s --latency after a ${opts.warmupSeconds}s warm-up; ` +
              `each scenario run ${opts.repeat}× alternating the registries, the table shows medians (RSS and failures: the worst round).`
            : '.') +
          (gcTargets.length ? ' gc and stalls run once each, on a Berth and a Distribution of their own (data under gc-* in the temp dir), one registry at a time.' : ''),
      ] : ['No registry ran: the scan scenario runs the scanner and Trivy on their own.']),
    ];
    if (mainScenarios.length) {
      out.push(
        '',
        table(defs, targets, opts),
        '',
        'Ratio is Berth/Distribution for MB/s and req/s, and Distribution/Berth for seconds, latency and memory, so >1 always means Berth is better. ' +
          'MB = 10^6 bytes. Pushes/pulls are timed from the first request to the final response on keep-alive connections; the pull is served from the page cache of the preceding push. ' +
          'RSS is VmRSS from /proc summed over the registry process and its children: during the push sampled every 20 ms; over the whole run every 100 ms (and the push peak), from start to the end of the last scenario. ⚠ = the run had errors (see below).',
      );
      if (encryptionPair(targets)) {
        out.push(
          '',
          '"Encrypted / plain" is Berth (encrypted) divided by the plain Berth for every row, not oriented: for MB/s >1 means encryption is faster (goal ≥ 0.8×), ' +
            'for RSS >1 means it uses more memory. Whether memory grows with blob size shows by comparing the RSS rows of runs with different --size-mib.',
        );
      }
    }
    if (opts.only.has('scale')) out.push('', ...scaleTables(targets, opts));
    if (gcs && opts.only.has('gc')) out.push('', ...gcTables(gcs, opts));
    if (gcs && opts.only.has('stalls')) out.push('', ...stallTables(gcs, opts));
    if (scan) out.push('', ...scanTables(scan, opts));
    notes.push(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (anything else running on the machine skews the numbers).`);
    if (notes.length) out.push('', '## Notes', '', ...notes.map((n) => `- ${n}`));
    if (failures.length) out.push('', '## Failures', '', ...failures.map((f) => `- ${f.replace(/\n/g, '\n  ')}`));
    const md = `${out.join('\n')}\n`;
    log(`\n${md}`);
    const resultsDir = path.join(HERE, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(path.join(resultsDir, 'latest.md'), md);
    log(`written to ${path.relative(process.cwd(), path.join(resultsDir, 'latest.md'))}`);
    return failures.length ? 1 : 0;
  } finally {
    for (const t of [...targets, ...gcTargets]) {
      t.sampler?.stop();
      try {
        await t.server?.stop();
      } catch {
        t.server?.killNow();
      }
    }
    agent.destroy();
    await s3?.stop().catch(() => undefined);
    // removeDir also drops a PostgreSQL database made for the data dir.
    for (const t of [...targets, ...gcTargets]) if (t.server && t.berth) await removeDir(t.server.dataDir).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    cleaned = true;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(2);
  },
);
