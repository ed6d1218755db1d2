// Starts a real Berth process (the built dist/) on a free loopback port for black-box tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createTestDatabase, dropTestDatabase } from './postgres.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli/index.js');
/**
 * The Node.js flags Berth ships with (the `berth` command's shebang and `npm start`): V8 would otherwise let
 * the young generation grow to 32 MiB per semi-space under load, about 70 MiB of RSS for no throughput
 * (measured with the benchmark's blob and manifest GETs). test/unit/cli-shipping.test.ts holds the entry points to it.
 */
export const NODE_FLAGS = ['--max-semi-space-size=8'];
/** The administrator password every test server is started with. */
export const ADMIN_PASSWORD = 'Qx7-berth-test-pw-95z';

export interface BerthProcess {
  url: string; // http://127.0.0.1:PORT
  host: string; // 127.0.0.1:PORT (for clients such as skopeo)
  port: number;
  dataDir: string;
  /** the YAML written for this start and passed with --config (CLI commands beside it need the same) */
  configFile: string;
  proc: ChildProcess;
  /** every stdout/stderr line so far (JSON logs) */
  logs: string[];
  /** graceful stop (SIGTERM) and wait for exit */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string; // reuse (e.g. after a kill); default a fresh temp dir
  port?: number;
  config?: Record<string, unknown>; // written as YAML and passed with --config
  /**
   * Token authentication on (Berth's default), with admin's password ADMIN_PASSWORD. Off by default here,
   * so that protocol tests speak to the registry directly; auth tests turn it on.
   */
  auth?: boolean;
  /**
   * The metadata database: SQLite in the data dir, or a PostgreSQL database of its own (created at the
   * first start on a data dir, kept across restarts on it, dropped by removeDir). Default: the
   * environment's BERTH_TEST_DATABASE, else sqlite.
   */
  database?: 'sqlite' | 'postgres';
  env?: Record<string, string>;
  args?: string[];
  /**
   * What counts as started: 'ready' (default) waits for /readyz to answer 200; 'listening' for the server's
   * "listening" log line, for servers started on purpose where they cannot be ready (a read-only database).
   */
  waitFor?: 'ready' | 'listening';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix = 'berth-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function startBerth(opts: StartOptions = {}): Promise<BerthProcess> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const port = opts.port ?? (await freePort());
  const args = [...NODE_FLAGS, ...(process.env.BERTH_TEST_NODE_ARGS ? process.env.BERTH_TEST_NODE_ARGS.split(' ') : []), CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir];
  const config: Record<string, unknown> = opts.auth ? { ...opts.config } : { auth: { enabled: false }, ...opts.config };
  // Background scanning pushes SBOM referrers (manifests, blobs, push events) at moments of its own: tests
  // that count those would race it, so it runs only where a test asks for it (config.scan).
  if (config.scan === undefined) config.scan = { onPush: false, interval: 0 };
  if ((opts.database ?? testDatabase()) === 'postgres' && config.database === undefined) {
    config.database = { dialect: 'postgres', postgres: { url: await postgresFor(dataDir) } };
  }
  const file = path.join(dataDir, '..', `berth-config-${port}.yaml`);
  await writeFile(file, stringify(config));
  args.push('--config', file);
  args.push(...(opts.args ?? []));
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? 'info', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => proc.once('exit', () => { exited = true; resolve(); }));
  const onData = (chunk: Buffer) => { for (const line of chunk.toString().split('\n')) if (line) logs.push(line); };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const tls = Boolean((opts.config?.tls as { cert?: string } | undefined)?.cert);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`berth exited during start:\n${logs.join('\n')}`);
    try {
      // Under mutual TLS the harness has no client certificate: the "listening" line is the signal.
      if ((tls || opts.waitFor === 'listening') && logs.some((l) => l.includes('"msg":"listening"'))) break;
      if (!tls && opts.waitFor !== 'listening' && (await fetch(`${url}/readyz`)).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`berth did not become ready:\n${logs.join('\n')}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, host: `127.0.0.1:${port}`, port, dataDir, configFile: file, proc, logs,
    async stop() { if (!exited) { proc.kill('SIGTERM'); await exitPromise; } },
    async kill() { if (!exited) { proc.kill('SIGKILL'); await exitPromise; } },
  };
}

/** Runs a berth CLI command against a data dir; resolves with exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // A command run against a server's data dir on PostgreSQL needs that database (a config file a test
  // wrote itself does not name it).
  const dataAt = args.indexOf('--data');
  const dbEnv = dataAt >= 0 ? databaseEnvOf(args[dataAt + 1]) : {};
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...dbEnv, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) p.stdin!.end(input);
    let stdout = '', stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function removeDir(dir: string): Promise<void> {
  const url = postgresMarker(dir);
  if (url) await dropTestDatabase(url);
  await rm(dir, { recursive: true, force: true });
}

/** The dialect test servers get unless a test names one: BERTH_TEST_DATABASE=postgres runs them on PostgreSQL. */
export function testDatabase(): 'sqlite' | 'postgres' {
  const v = process.env.BERTH_TEST_DATABASE ?? 'sqlite';
  if (v !== 'sqlite' && v !== 'postgres') throw new Error(`BERTH_TEST_DATABASE must be sqlite or postgres, not ${v}`);
  return v;
}

/**
 * For tests that build Berth in-process (createBerth) on a data dir: the environment that puts its
 * metadata on the run's dialect (none for SQLite; for PostgreSQL, a database made for that dir).
 */
export async function testDatabaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (testDatabase() !== 'postgres') return {};
  return { BERTH_DATABASE__DIALECT: 'postgres', BERTH_DATABASE__POSTGRES__URL: await postgresFor(dataDir) };
}

/** The environment that points a process at the PostgreSQL database made for a data dir (none: SQLite). */
export function databaseEnvOf(dataDir: string | undefined): Record<string, string> {
  const url = postgresMarker(dataDir);
  return url ? { BERTH_DATABASE__DIALECT: 'postgres', BERTH_DATABASE__POSTGRES__URL: url } : {};
}

/** The file in a data dir naming the PostgreSQL database made for it. */
const MARKER = '.berth-test-postgres-url';

function postgresMarker(dir: string | undefined): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(path.join(dir, MARKER), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function postgresFor(dataDir: string): Promise<string> {
  const known = postgresMarker(dataDir);
  if (known) return known;
  const { url } = await createTestDatabase();
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, MARKER), url);
  return url;
}
