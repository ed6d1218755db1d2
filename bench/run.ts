// Berth vs CNCF Distribution benchmark.
//
//   npm run bench                       # full run (1 GiB blobs), a few minutes
//   npm run bench -- --size-mib=128     # quick run with a 128 MiB big blob
//   npm run bench -- --only=push,pull   # subset: push,chunked,pull,manifest,blob,parallel (rss = push)
//   npm run bench -- --berth-workers=2  # Berth config http.workers
//   node --import tsx bench/run.ts --servers=distribution   # one registry only (e.g. while Berth is unbuilt)
//
// Both registries run in the same invocation with their storage under one temp dir on the same
// disk; each scenario runs against Berth, then against Distribution, never both at once.
// The result table is printed and written to bench/results/latest.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePayload, MiB, sha256, type Payload } from './lib/data.js';
import { agent, get, headBlob, pushChunked, pushMonolithic, request, RequestError } from './lib/http.js';
import { berthBuilt, DISTRIBUTION_BIN, RssSampler, startBerthServer, startDistribution, treeRss, type Server } from './lib/servers.js';
import { runWrk, WRK_BIN, type WrkResult } from './lib/wrk.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

// ---- options ----------------------------------------------------------------------------------

const SCENARIOS = ['push', 'chunked', 'pull', 'manifest', 'blob', 'parallel'] as const;
type Scenario = (typeof SCENARIOS)[number];
const ALIASES: Record<string, Scenario> = {
  rss: 'push', monolithic: 'push', chunk: 'chunked', manifests: 'manifest', blobs: 'blob', '4k': 'blob', small: 'blob',
};
type ServerKey = 'berth' | 'distribution';

interface Options {
  only: Set<Scenario>;
  sizeMiB: number;
  berthWorkers?: number;
  wrkSeconds: number;
  warmupSeconds: number;
  servers: ServerKey[];
  /** rounds per scenario, alternating the registries; the table shows medians (peaks for RSS) */
  repeat: number;
}

function usage(): never {
  console.log(`usage: node --import tsx bench/run.ts [--only=${SCENARIOS.join(',')}] [--size-mib=1024]
       [--berth-workers=N] [--wrk-seconds=10] [--warmup-seconds=2] [--servers=berth,distribution] [--repeat=3]`);
  process.exit(0);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { only: new Set(SCENARIOS), sizeMiB: 1024, wrkSeconds: 10, warmupSeconds: 2, servers: ['berth', 'distribution'], repeat: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') usage();
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const key = m[1];
    const val = m[2] ?? argv[++i];
    if (val === undefined) throw new Error(`--${key} needs a value`);
    const int = (min: number) => {
      const n = Number(val);
      if (!Number.isInteger(n) || n < min) throw new Error(`--${key} must be an integer >= ${min}`);
      return n;
    };
    switch (key) {
      case 'only': {
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
      case 'wrk-seconds': o.wrkSeconds = int(1); break;
      case 'warmup-seconds': o.warmupSeconds = int(0); break;
      case 'repeat': o.repeat = int(1); break;
      case 'servers': {
        o.servers = val.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) as ServerKey[];
        for (const s of o.servers) if (s !== 'berth' && s !== 'distribution') throw new Error(`unknown server ${s}`);
        break;
      }
      default: throw new Error(`unknown option --${key}`);
    }
  }
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

interface Target {
  name: string;
  start: () => Promise<Server>;
  server?: Server;
  unavailable?: string;
  cells: Map<string, Cell>;
  /** every round's cell per metric, reduced into cells at the end */
  samples?: Map<string, Cell[]>;
  smallImage?: boolean;
}

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
  const url = t.server!.url;
  const s = fx.small;
  for (const data of [s.config, s.layer]) await pushMonolithic(url, SMALL_REPO, { data, digest: sha256(data) });
  const u = new URL(`/v2/${SMALL_REPO}/manifests/${SMALL_TAG}`, url);
  const res = await request('PUT', u, { body: s.manifest, headers: { 'content-type': MANIFEST_TYPE } });
  if (res.status !== 201) throw new RequestError('PUT', u.pathname, res.status, res.body.toString().slice(0, 2000), 'expected 201');
  t.smallImage = true;
}

async function ensureBig(t: Target, fx: Fixtures): Promise<void> {
  const big = fx.big!;
  const st = await headBlob(t.server!.url, 'bench/big', big.digest);
  if (st === 200) return;
  log(`  (${t.name}: pushing the big blob first, untimed; HEAD said ${st})`);
  await pushMonolithic(t.server!.url, 'bench/big', big);
}

/** GET `u` once and check it before handing it to wrk, so wrk never measures error responses. */
async function checkGet(u: URL, headers: Record<string, string>, want: Buffer): Promise<void> {
  const res = await get(u, headers);
  if (res.status !== 200) throw new RequestError('GET', u.pathname, res.status, res.body.toString().slice(0, 2000), 'expected 200 before wrk run');
  if (!res.body.equals(want)) throw new RequestError('GET', u.pathname, 200, '', `body differs from what was pushed (${res.body.length} bytes, ${sha256(res.body)})`);
}

async function wrkPair(t: Target, u: URL, headers: Record<string, string>, opts: Options, what: string): Promise<WrkResult> {
  if (opts.warmupSeconds > 0) await runWrk(u.href, opts.warmupSeconds, headers);
  const r = await runWrk(u.href, opts.wrkSeconds, headers);
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
  switch (s) {
    case 'push': {
      const big = fx.big!;
      const idle = treeRss(srv.pid);
      await settle();
      const sampler = new RssSampler(srv.pid).start();
      const t0 = performance.now();
      let rss: { peakMiB: number; procs: number };
      try {
        await pushMonolithic(url, 'bench/big', big);
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
      await pushChunked(url, 'bench/chunked', p, CHUNK);
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
      const sum = execFileSync('sh', ['-c', 'curl -sf "$1" | sha256sum', 'verify', blobUrl]).toString().split(' ')[0];
      if (`sha256:${sum}` !== big.digest) throw new RequestError('GET', `/v2/bench/big/blobs/${big.digest}`, undefined, '', `pulled bytes hash to sha256:${sum}`);
      await settle();
      const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', blobUrl]).toString().trim();
      const [status, size, seconds] = out.split(' ');
      if (`${status} ${size}` !== `200 ${big.size}`) throw new RequestError('GET', `/v2/bench/big/blobs/${big.digest}`, Number(status), '', `curl pull returned ${out}`);
      return { pull: { value: big.size / 1e6 / Number(seconds) } };
    }
    case 'manifest': {
      await ensureSmallImage(t, fx);
      const u = new URL(`/v2/${SMALL_REPO}/manifests/${SMALL_TAG}`, url);
      const headers = { Accept: MANIFEST_TYPE };
      await checkGet(u, headers, fx.small.manifest);
      await settle();
      return wrkCells(await wrkPair(t, u, headers, opts, 'manifest GET'), 'manifestRps', 'manifestP99');
    }
    case 'blob': {
      await ensureSmallImage(t, fx);
      const u = new URL(`/v2/${SMALL_REPO}/blobs/${sha256(fx.small.layer)}`, url);
      await checkGet(u, {}, fx.small.layer);
      await settle();
      return wrkCells(await wrkPair(t, u, {}, opts, '4 KiB blob GET'), 'blobRps', 'blobP99');
    }
    case 'parallel': {
      const items = fx.parallel!;
      await settle();
      const t0 = performance.now();
      const results = await Promise.allSettled(items.map((p) => pushMonolithic(url, 'bench/parallel', p)));
      const secs = (performance.now() - t0) / 1000;
      // every push must have been accepted (201) and the blob must then exist
      const checks = await Promise.all(results.map(async (r, i): Promise<string | undefined> => {
        if (r.status === 'rejected') return `push #${i}: ${errText(r.reason)}`;
        try {
          const st = await headBlob(url, 'bench/parallel', items[i].digest);
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

function table(defs: MetricDef[], targets: Target[], opts: Options): string {
  const berth = targets.find((t) => t.name === 'Berth');
  const dist = targets.find((t) => t.name === 'Distribution');
  const rows = [
    '| Metric | Berth | Distribution | Ratio (>1 = Berth better) |',
    '|---|---:|---:|---:|',
  ];
  for (const d of defs) {
    if (!opts.only.has(d.scenario)) continue;
    const arrow = d.better === 'higher' ? ' ↑' : d.better === 'lower' ? ' ↓' : '';
    const b = berth?.cells.get(d.key);
    const x = dist?.cells.get(d.key);
    rows.push(`| ${d.label} (${d.unit}${arrow}) | ${berth ? cellText(b, d, berth) : 'not run'} | ${dist ? cellText(x, d, dist) : 'not run'} | ${ratio(d, b, x)} |`);
  }
  return rows.join('\n');
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const size = opts.sizeMiB % 1024 === 0 ? `${opts.sizeMiB / 1024} GiB` : `${opts.sizeMiB} MiB`;
  const defs = metricDefs(size);
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));

  const targets: Target[] = [];
  if (opts.servers.includes('berth')) targets.push({ name: 'Berth', start: () => startBerthServer(root, opts.berthWorkers), cells: new Map() });
  if (opts.servers.includes('distribution')) targets.push({ name: 'Distribution', start: () => startDistribution(root), cells: new Map() });

  let cleaned = false;
  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    for (const t of targets) t.server?.killNow();
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
  log('# Berth vs CNCF Distribution\n');
  log(machine.join('\n'));
  log(`\nScenarios: ${[...opts.only].join(', ')}; big blob ${size}; Berth http.workers ${opts.berthWorkers ?? 'default'}; wrk -t2 -c64 -d${opts.wrkSeconds}s after a ${opts.warmupSeconds}s warm-up\n`);

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

    for (const t of targets) {
      if (t.name === 'Berth' && !berthBuilt()) {
        t.unavailable = 'dist/cli/index.js not found (run npm run build)';
      } else {
        try {
          t.server = await t.start();
          log(`${t.name} ready at ${t.server.url} (pid ${t.server.pid})`);
        } catch (e) {
          t.unavailable = `failed to start: ${errText(e)}`;
        }
      }
      if (t.unavailable) {
        failures.push(`${t.name}: ${t.unavailable}`);
        log(`${t.name}: ${t.unavailable}`);
      }
    }

    for (const s of SCENARIOS) {
      if (!opts.only.has(s)) continue;
      for (let round = 0; round < opts.repeat; round++)
      for (const t of targets) {
        if (t.unavailable) continue;
        if (!t.server!.alive()) {
          log(`${t.name} is not running (${t.server!.exitInfo()}); restarting it on the same data`);
          try {
            t.server = await t.start();
          } catch (e) {
            failures.push(`${t.name} ${s}: could not restart: ${errText(e)}`);
            continue;
          }
        }
        const started = performance.now();
        process.stdout.write(`${s.padEnd(9)} ${t.name.padEnd(12)} … `);
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
          let msg = errText(e);
          if (!t.server!.alive()) msg += `\n    server ${t.server!.exitInfo()}; last log lines:\n${serverLog(t.server!, 15).replace(/^/gm, '      ')}`;
          else {
            const tail = serverLog(t.server!, 5);
            if (tail) msg += `\n    last server log lines:\n${tail.replace(/^/gm, '      ')}`;
          }
          t.samples ??= new Map();
          for (const d of defs) if (d.scenario === s) t.samples.set(d.key, [...(t.samples.get(d.key) ?? []), { error: msg }]);
          failures.push(`${t.name} ${s}: ${msg}`);
          log(`FAILED: ${msg}`);
        }
      }
    }

    for (const t of targets) for (const [k, list] of t.samples ?? []) t.cells.set(k, reduceSamples(k, list));

    const out: string[] = [
      '# Berth vs CNCF Distribution benchmark',
      '',
      ...machine,
      '',
      `Big blob: ${size} (${opts.sizeMiB * MiB} bytes, a 16 MiB random pattern repeated); ` +
        `Berth http.workers: ${opts.berthWorkers ?? 'default'}; logging: error level for both (Distribution access log off); ` +
        `wrk -t2 -c64 -d${opts.wrkSeconds}s --latency after a ${opts.warmupSeconds}s warm-up; ` +
        `each scenario run ${opts.repeat}× alternating the registries, the table shows medians (RSS and failures: the worst round).`,
      '',
      table(defs, targets, opts),
      '',
      'Ratio is Berth/Distribution for MB/s and req/s, and Distribution/Berth for seconds, latency and memory, so >1 always means Berth is better. ' +
        'MB = 10^6 bytes. Pushes/pulls are timed from the first request to the final response on keep-alive connections; the pull is served from the page cache of the preceding push. ' +
        'RSS is sampled every 20 ms from /proc (VmRSS, summed over the registry process and its children). ⚠ = the run had errors (see below).',
    ];
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
    for (const t of targets) {
      try {
        await t.server?.stop();
      } catch {
        t.server?.killNow();
      }
    }
    agent.destroy();
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
