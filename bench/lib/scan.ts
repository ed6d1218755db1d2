// The `scan` scenario: Berth's scanner on a real Debian image and on a ~1 GiB one, against Trivy where Trivy
// does the same job, and the re-match of 1,000 stored catalogues after a vulnerability database update.
//
// - SBOM of the minbase bookworm image (test/helpers/debian-image.ts, one gzip layer in an OCI layout):
//   Berth in a process of its own (bench/lib/scan-child.mjs: the built scanner from dist/, catalogImage over
//   the layout, then cyclonedxSbom), Trivy (`trivy image --input LAYOUT --format cyclonedx`, offline in
//   unshare -n: test/helpers/trivy.ts); both timed from spawn to exit, rounds alternating.
// - Scan throughput and peak memory: the same rootfs layer plus a generated layer of random executables,
//   shared objects and a node_modules tree (with its package-lock.json), ~1 GiB compressed in all, scanned
//   by the same child; its VmHWM is the scan's peak RSS.
// - Re-match: a metadata store of its own (SQLite in the temp dir, or PostgreSQL), the Debian image's
//   catalogue stored under 1,000 digests, the OSV records of ../shared/data/osv and a Debian tracker export
//   made from the catalogue imported, then FindingsService.rematchStale() timed: once after that import (no
//   findings yet), once after a second import that changes some records (every catalogue stale again).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Journal, SYSTEM_CONTEXT } from '../../src/audit/journal.js';
import type { MetadataStore } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/dialects/postgres.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { saveCatalog } from '../../src/db/scans.js';
import { Outbox } from '../../src/events/outbox.js';
import { SCANNER } from '../../src/scan/catalogers.js';
import { FindingsService } from '../../src/scan/findings.js';
import type { ImageCatalog } from '../../src/scan/image.js';
import { dpkgComparator } from '../../src/scan/versions/dpkg.js';
import { readVulnSource } from '../../src/scan/vulndb/read-vuln-source.js';
import { VulnDbImporter, type ImportItem } from '../../src/scan/vulndb-import.js';
import { NODE_FLAGS } from '../../test/helpers/berth.js';
import { debianLayout } from '../../test/helpers/debian-image.js';
import { writeGzipLayer, writeImageLayout } from '../../test/helpers/ocilayout.js';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import { trivyBinary, trivySbom, CDXGEN_PLUGINS, CDXGEN_PLUGINS_VERSION } from '../../test/helpers/trivy.js';
import { MiB } from './data.js';
import { RssSampler } from './servers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'scan-child.mjs');
export const OSV_DIR = path.resolve(HERE, '..', '..', '..', 'shared', 'data', 'osv');

export interface ScanOptions {
  /** rounds of the Debian SBOM comparison (Berth and Trivy alternating) */
  rounds: number;
  /** the generated layer's compressed size, MiB (the rootfs layer adds ~60) */
  extraMiB: number;
  /** catalogues stored for the re-match */
  catalogues: number;
  /** Trivy on the big image too */
  trivyBig: boolean;
  /** the peak RSS budget of a scan, MiB, and the margin allowed over it */
  rssBudgetMiB: number;
  rssMarginMiB: number;
  db: 'sqlite' | 'postgres';
}

export interface ChildRun {
  wallMs: number; catalogMs: number; sbomMs: number; compressedBytes: number; entries: number;
  packages: number; osPackages: number; issues: number; sbomBytes: number; loadedHwmKiB: number; hwmKiB: number; rssKiB: number;
}

export interface ScanResult {
  debian: { layerBytes: number; packages: number; berth: ChildRun[]; trivy: TrivyResult[] };
  big?: { layerBytes: number; files: number; berth: ChildRun; trivy?: TrivyResult } | { error: string };
  rematch?: RematchResult | { error: string };
  notes: string[];
  errors: string[];
}

export interface TrivyResult { wallMs: number; packages: number; peakRssMiB: number }

/** Trivy's SBOM of a layout, its RSS sampled every 20 ms (Trivy is one process; unshare execs it). */
async function trivyRun(dir: string): Promise<TrivyResult> {
  let sampler: RssSampler | undefined;
  try {
    const t = await trivySbom('image', dir, { timeoutMs: 900_000, onSpawn: (pid) => { sampler = new RssSampler(pid, 20).start(); } });
    return { wallMs: t.wallMs, packages: (t.sbom.components ?? []).filter((c) => c.type === 'library').length, peakRssMiB: sampler?.stop().peakMiB ?? 0 };
  } finally {
    sampler?.stop();
  }
}

export interface RematchResult {
  catalogues: number; packagesEach: number; records: number; importMs: number;
  first: { ms: number; matched: number; changed: number };
  update: { records: number; importMs: number; ms: number; matched: number; changed: number };
  findingsEach: number;
}

/** One scan by the built scanner in a child process (Node with Berth's production flags). */
export async function berthScan(dir: string, digest: string, extra: string[] = []): Promise<ChildRun> {
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [...NODE_FLAGS, CHILD, dir, digest, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (c) => resolve({ code: c, stdout, stderr }));
  });
  const wallMs = performance.now() - t0;
  if (code !== 0) throw new Error(`scan child exited ${code}: ${stderr.slice(-2000)}`);
  return { wallMs, ...(JSON.parse(stdout.trim().split('\n').pop()!) as Omit<ChildRun, 'wallMs'>) };
}

// ---- the generated layer ----------------------------------------------------------------------

/** A ustar header (names of at most 100 bytes: the generator's are short). */
function header(name: string, size: number, mode: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(512, 0);
  const octal = (n: number, w: number) => `${n.toString(8).padStart(w - 1, '0')}\0`;
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(1_700_000_000, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

function* fileEntry(name: string, data: Buffer, mode = 0o644): Generator<Buffer> {
  yield header(name, data.length, mode, '0');
  yield data;
  const pad = (512 - (data.length % 512)) % 512;
  if (pad) yield Buffer.alloc(pad, 0);
}

/** Random bytes in 1 MiB pieces (never a whole file in memory). */
function* randomFile(name: string, size: number, mode: number): Generator<Buffer> {
  yield header(name, size, mode, '0');
  for (let left = size; left > 0; left -= MiB) yield randomBytes(Math.min(MiB, left));
  const pad = (512 - (size % 512)) % 512;
  if (pad) yield Buffer.alloc(pad, 0);
}

/** JavaScript-looking text (compresses about 3×, as real sources do). */
function jsText(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let k = 0; n < bytes; k++) {
    const l = `export function f${seed}_${k}(a, b) { return (a * ${(Math.random() * 1e6) | 0}) ^ (b + ${(Math.random() * 1e6) | 0}); }\n`;
    lines.push(l);
    n += l.length;
  }
  return Buffer.from(lines.join(''));
}

export interface ExtraLayerPlan { packages: number; textBytes: number; randomBytes: number; files: number }

/**
 * The tar of the generated layer: a node_modules tree of `packages` packages (package.json, index.js and
 * lib/util.js each, a 1 MiB prebuilt addon in every tenth) with its lockfile, then 8 MiB random
 * executables (and every fourth a shared object) until the layer's compressed size is about `targetMiB`.
 */
function extraLayerTar(targetMiB: number, plan: ExtraLayerPlan): Readable {
  const target = targetMiB * MiB;
  const N = plan.packages;
  const name = (i: number) => `bench-pkg-${String(i).padStart(4, '0')}`;
  const version = (i: number) => `1.${i % 7}.${i % 13}`;
  function* entries(): Generator<Buffer> {
    for (const d of ['srv/', 'srv/app/', 'srv/app/node_modules/', 'opt/', 'opt/bench/', 'opt/bench/bin/', 'opt/bench/lib/']) yield header(d, 0, 0o755, '5');
    const lock = { name: 'bench-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'bench-app', version: '1.0.0' } } as Record<string, unknown> };
    for (let i = 0; i < N; i++) {
      const dir = `srv/app/node_modules/${name(i)}`;
      (lock.packages as Record<string, unknown>)[`node_modules/${name(i)}`] = { version: version(i), license: 'MIT' };
      yield header(`${dir}/`, 0, 0o755, '5');
      yield* fileEntry(`${dir}/package.json`, Buffer.from(JSON.stringify({ name: name(i), version: version(i), license: 'MIT', main: 'index.js', description: `generated package ${i}` }, null, 2)));
      const index = jsText(24 * 1024, i), util = jsText(8 * 1024, i + N);
      plan.textBytes += index.length + util.length;
      yield* fileEntry(`${dir}/index.js`, index);
      yield header(`${dir}/lib/`, 0, 0o755, '5');
      yield* fileEntry(`${dir}/lib/util.js`, util);
      if (i % 10 === 0) {
        yield header(`${dir}/prebuilds/`, 0, 0o755, '5');
        yield header(`${dir}/prebuilds/linux-x64/`, 0, 0o755, '5');
        yield* randomFile(`${dir}/prebuilds/linux-x64/addon.node`, MiB, 0o644);
        plan.randomBytes += MiB;
      }
      plan.files += 3;
    }
    yield* fileEntry('srv/app/package.json', Buffer.from(JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true })));
    yield* fileEntry('srv/app/package-lock.json', Buffer.from(JSON.stringify(lock)));
    plan.files += 2;
    // text compresses to about a third with gzip -1
    for (let k = 0; plan.randomBytes + plan.textBytes / 3 < target; k++) {
      const so = k % 4 === 3;
      yield* randomFile(so ? `opt/bench/lib/libbench${k}.so.1` : `opt/bench/bin/tool-${k}`, 8 * MiB, so ? 0o644 : 0o755);
      plan.randomBytes += 8 * MiB;
      plan.files++;
    }
    yield Buffer.alloc(1024, 0);
  }
  return Readable.from(entries(), { objectMode: false });
}

// ---- the re-match -------------------------------------------------------------------------------

/**
 * A Debian security tracker export made from a catalogue: for each source package three CVEs in bookworm:
 * one fixed above the installed version (a finding with its fix), one fixed below it (no finding), one
 * open (a finding without a fix). Version `round` of the export changes the first CVE's fixed version of
 * every fifth source and adds a fourth CVE to every tenth, so that a second import changes some findings.
 */
function trackerFrom(catalog: ImageCatalog, round: number): Record<string, Record<string, unknown>> {
  const installed = new Map<string, string>();
  for (const p of catalog.platforms[0]!.packages) {
    if (p.type !== 'deb') continue;
    const src = p.source?.name ?? p.name, v = p.source?.version ?? p.version;
    const had = installed.get(src);
    if (!had || dpkgComparator.compare(v, had) > 0) installed.set(src, v);
  }
  const out: Record<string, Record<string, unknown>> = {};
  let n = 0;
  const rel = (status: string, fixed?: string, repo?: string) => ({ bookworm: { status, ...(fixed ? { fixed_version: fixed } : {}), urgency: 'medium', repositories: { bookworm: repo } } });
  for (const [src, v] of [...installed].sort()) {
    n++;
    const id = (y: number) => `CVE-${y}-${String(10000 + n)}`;
    const bumped = round > 0 && n % 5 === 0 ? `${v}+zz2` : `${v}+zz1`;
    out[src] = {
      [id(2099)]: { description: `bench: fixed above ${src} ${v}`, scope: 'local', releases: rel('resolved', bumped, v) },
      [id(2098)]: { description: `bench: fixed below ${src} ${v}`, scope: 'local', releases: rel('resolved', '0.0~bench-1', v) },
      [id(2097)]: { description: `bench: open in ${src}`, scope: 'local', releases: rel('open', undefined, v) },
      ...(round > 0 && n % 10 === 0 ? { [id(2096)]: { description: `bench: new in ${src}`, scope: 'local', releases: rel('open', undefined, v) } } : {}),
    };
  }
  return out;
}

async function* sourceItems(paths: string[]): AsyncGenerator<ImportItem> {
  for (const p of paths) for await (const item of readVulnSource(p)) yield { source: item.source, record: item.record };
}

async function runRematch(root: string, catalogFile: string, opts: ScanOptions, log: (s: string) => void): Promise<RematchResult> {
  const catalog = JSON.parse(await readFile(catalogFile, 'utf8')) as ImageCatalog;
  let meta: MetadataStore;
  let drop = async () => undefined as void;
  if (opts.db === 'postgres') {
    const db = await createTestDatabase('berth_bench_scan');
    meta = await openPostgres({ url: db.url, poolSize: 4 });
    drop = () => db.drop();
  } else {
    await mkdir(path.join(root, 'scan-db'), { recursive: true });
    meta = await openSqlite({ path: path.join(root, 'scan-db', 'berth.db') });
  }
  try {
    const journal = new Journal(meta);
    const importer = new VulnDbImporter(meta, journal);
    const findings = new FindingsService(meta, journal, new Outbox({ dialect: meta.dialect }));
    // 1,000 copies under distinct digests, in transactions of 100 (untimed).
    const packages = catalog.platforms[0]!.packages.length;
    for (let i = 0; i < opts.catalogues; i += 100) {
      await meta.transaction(async (tx) => {
        for (let k = i; k < Math.min(i + 100, opts.catalogues); k++) {
          const digest = `sha256:${k.toString(16).padStart(64, '0')}`;
          const copy: ImageCatalog = { ...catalog, digest, platforms: catalog.platforms.map((p) => ({ ...p, digest })) };
          await saveCatalog(tx, { digest, mediaType: catalog.mediaType, status: 'done', catalog: JSON.stringify(copy), packages, error: null, scanner: SCANNER, scannedAt: Date.now(), durationMs: 0, bytesRead: 0 });
        }
      });
    }
    log(`scan      re-match: ${opts.catalogues} catalogues of ${packages} packages stored (${opts.db})`);
    const trackerFile = (round: number) => path.join(root, `scan-tracker-${round}.json`);
    await writeFile(trackerFile(0), JSON.stringify(trackerFrom(catalog, 0)));
    await writeFile(trackerFile(1), JSON.stringify(trackerFrom(catalog, 1)));
    let t0 = performance.now();
    const imp = await importer.import(sourceItems([OSV_DIR, trackerFile(0)]), { file: 'bench', verified: 'none', ctx: SYSTEM_CONTEXT });
    const importMs = performance.now() - t0;
    t0 = performance.now();
    const first = await findings.rematchStale();
    const firstMs = performance.now() - t0;
    log(`scan      re-match after the first import (${imp.records} records): ${first.matched} in ${(firstMs / 1000).toFixed(2)} s`);
    t0 = performance.now();
    const upd = await importer.import(sourceItems([trackerFile(1)]), { file: 'bench-update', verified: 'none', ctx: SYSTEM_CONTEXT });
    const updImportMs = performance.now() - t0;
    t0 = performance.now();
    const second = await findings.rematchStale();
    const secondMs = performance.now() - t0;
    log(`scan      re-match after the update (${upd.records} records): ${second.matched} in ${(secondMs / 1000).toFixed(2)} s, ${second.changed} changed`);
    const one = await findings.findings(`sha256:${'0'.repeat(64)}`);
    return {
      catalogues: opts.catalogues, packagesEach: packages, records: imp.records, importMs,
      first: { ms: firstMs, ...first }, update: { records: upd.records, importMs: updImportMs, ms: secondMs, ...second },
      findingsEach: one?.findings.length ?? 0,
    };
  } finally {
    await meta.close();
    await drop();
  }
}

// ---- the scenario -------------------------------------------------------------------------------

export async function runScanBench(root: string, opts: ScanOptions, log: (s: string) => void): Promise<ScanResult> {
  const r: ScanResult = { debian: { layerBytes: 0, packages: 0, berth: [], trivy: [] }, notes: [], errors: [] };
  const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
  trivyBinary();
  const small = path.join(root, 'scan-debian');
  let t0 = performance.now();
  const deb = await debianLayout(small);
  r.debian.layerBytes = deb.rootfsLayer.size;
  log(`scan      Debian layout ready (${(deb.rootfsLayer.size / 1e6).toFixed(1)} MB gzip layer) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const catalogFile = path.join(root, 'scan-debian-catalog.json');
  for (let i = 0; i < opts.rounds; i++) {
    try {
      const b = await berthScan(small, deb.manifest.digest, i === 0 ? ['--catalog', catalogFile] : []);
      r.debian.berth.push(b);
      r.debian.packages = b.packages;
      const t = await trivyRun(small);
      r.debian.trivy.push(t);
      log(`scan      Debian SBOM round ${i + 1}: Berth ${(b.wallMs / 1000).toFixed(2)} s (${b.packages} packages), Trivy ${(t.wallMs / 1000).toFixed(2)} s (${t.packages} packages)`);
      if (t.packages !== b.osPackages) r.errors.push(`Debian SBOM: Trivy named ${t.packages} packages, Berth ${b.osPackages} OS packages`);
    } catch (e) {
      r.errors.push(`Debian SBOM round ${i + 1}: ${errText(e)}`);
    }
  }

  const bigDir = path.join(root, 'scan-big');
  try {
    await mkdir(path.join(bigDir, 'blobs', 'sha256'), { recursive: true });
    await link(path.join(small, 'blobs', 'sha256', deb.rootfsLayer.digest.slice(7)), path.join(bigDir, 'blobs', 'sha256', deb.rootfsLayer.digest.slice(7)));
    t0 = performance.now();
    const plan: ExtraLayerPlan = { packages: 2000, textBytes: 0, randomBytes: 0, files: 0 };
    const extra = await writeGzipLayer(bigDir, extraLayerTar(opts.extraMiB, plan));
    const manifest = await writeImageLayout(bigDir, [{ desc: deb.rootfsLayer, diffId: deb.rootfsDiffId }, extra], 'big');
    const layerBytes = deb.rootfsLayer.size + extra.desc.size;
    log(`scan      big image ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(layerBytes / MiB).toFixed(0)} MiB of layers (${plan.files} generated files: ${plan.packages} npm packages, ${(plan.randomBytes / MiB).toFixed(0)} MiB random, ${(plan.textBytes / MiB).toFixed(0)} MiB JavaScript)`);
    const berth = await berthScan(bigDir, manifest.digest);
    log(`scan      big image, Berth: ${(berth.catalogMs / 1000).toFixed(2)} s, ${(berth.compressedBytes / 1e6 / (berth.catalogMs / 1000)).toFixed(0)} MB/s, peak RSS ${(berth.hwmKiB / 1024).toFixed(0)} MiB, ${berth.packages} packages`);
    const big: NonNullable<ScanResult['big']> = { layerBytes, files: plan.files, berth };
    r.big = big;
    if (opts.trivyBig) {
      try {
        big.trivy = await trivyRun(bigDir);
        log(`scan      big image, Trivy: ${(big.trivy.wallMs / 1000).toFixed(2)} s, ${big.trivy.packages} packages, peak RSS ${big.trivy.peakRssMiB.toFixed(0)} MiB`);
      } catch (e) {
        r.errors.push(`Trivy on the big image: ${errText(e)}`);
      }
    }
  } catch (e) {
    r.big = { error: errText(e) };
    r.errors.push(`big image: ${errText(e)}`);
  }

  try {
    r.rematch = await runRematch(root, catalogFile, opts, log);
  } catch (e) {
    r.rematch = { error: errText(e) };
    r.errors.push(`re-match: ${errText(e)}`);
  }
  r.notes.push(`Trivy: ${CDXGEN_PLUGINS}@${CDXGEN_PLUGINS_VERSION} (its trivy-cdxgen binary reports version "dev"), run as \`unshare -n trivy image --input LAYOUT --offline-scan --skip-db-update --skip-java-db-update --scanners license --format cyclonedx\` with a fresh cache dir each run.`);
  r.notes.push(`Machine: ${os.cpus().length} cores; the layouts were just written, so their blobs are read from the page cache.`);
  return r;
}
