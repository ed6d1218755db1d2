// Starting/stopping the two registries under test, and measuring their memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, freePort, startBerth, type BerthProcess } from '../../test/helpers/berth.js';

export interface Server {
  /** "Berth" or "Distribution" */
  name: string;
  url: string;
  /** pid of the process we spawned (the root of its process tree) */
  pid: number;
  /** Berth: its data directory; Distribution: its storage root directory */
  dataDir: string;
  /** the config file it was started with (Berth's CLI commands beside it, Distribution's garbage-collect, take it too) */
  configFile: string;
  alive(): boolean;
  exitInfo(): string;
  logTail(n?: number): string;
  stop(): Promise<void>;
  /** synchronous last-resort kill (process 'exit' handler) */
  killNow(): void;
}

export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

function track(proc: ChildProcess) {
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      exit = `exited (code ${proc.exitCode}, signal ${proc.signalCode})`;
      resolve();
      return;
    }
    proc.once('exit', (code, signal) => {
      exit = `exited (code ${code}, signal ${signal})`;
      resolve();
    });
  });
  return { exited, info: () => exit };
}

export function berthBuilt(): boolean {
  return existsSync(CLI);
}

export interface BerthStart {
  /** the metadata database: SQLite in the data dir (default), or a PostgreSQL database of its own on 127.0.0.1:5432 */
  database?: 'sqlite' | 'postgres';
  /** storage.s3 settings (driver s3) instead of the local directory */
  s3?: Record<string, unknown>;
  /** http.workers (default: Berth's) */
  workers?: number;
  /**
   * true: authentication as shipped (no `auth` key in the config: tokens, anonymous pull of public
   * content) and `admin` created with `adminPassword` at first start; false: `auth.enabled: false`.
   */
  auth: boolean;
  adminPassword: string;
  /**
   * true: encryption at rest with the file key provider (`storage.encryption.enabled: true`; the key file
   * is created at first start under <data>/secrets/storage.keys); false/absent: no `storage` section.
   */
  encryption?: boolean;
  /** data under root/<dir> */
  dir: string;
  name: string;
}

/** Starts Berth (dist/) with a YAML config in `root`. */
export async function startBerthServer(root: string, o: BerthStart): Promise<Server> {
  const dataDir = path.join(root, o.dir);
  await mkdir(dataDir, { recursive: true });
  const config: Record<string, unknown> = { log: { level: 'error' } };
  if (o.workers !== undefined) config.http = { workers: o.workers };
  if (o.encryption) config.storage = { encryption: { enabled: true } };
  if (o.s3) config.storage = { ...(config.storage as object | undefined), driver: 's3', s3: o.s3 };
  // startBerth writes the config next to the data dir (inside root) and passes --config; without
  // `auth: true` it adds auth.enabled: false, with it the config has no auth section at all.
  const b: BerthProcess = await startBerth({ dataDir, config, auth: o.auth, database: o.database ?? 'sqlite', env: { BERTH_LOG_LEVEL: 'error', BERTH_ADMIN_PASSWORD: o.adminPassword } });
  const t = track(b.proc);
  // A config Berth ignored would make the "encrypted" column a second plain one.
  if (o.encryption && !existsSync(path.join(dataDir, 'secrets', 'storage.keys'))) {
    b.proc.kill('SIGKILL');
    await t.exited;
    throw new Error(`${o.name}: started with storage.encryption.enabled but ${path.join(dataDir, 'secrets', 'storage.keys')} does not exist; last log lines:\n${b.logs.slice(-15).join('\n')}`);
  }
  return {
    name: o.name,
    url: b.url,
    pid: b.proc.pid!,
    dataDir,
    configFile: b.configFile,
    alive: () => t.info() === undefined,
    exitInfo: () => t.info() ?? 'running',
    logTail: (n = 20) => b.logs.slice(-n).join('\n'),
    async stop() {
      if (t.info() !== undefined) return;
      b.proc.kill('SIGTERM');
      if ((await withTimeout(t.exited.then(() => true), 15_000)) === undefined) {
        b.proc.kill('SIGKILL');
        await t.exited;
      }
    },
    killNow() {
      if (t.info() === undefined) b.proc.kill('SIGKILL');
    },
  };
}

/** Starts CNCF Distribution with a config written to root/distribution/config.yml. */
export async function startDistribution(root: string): Promise<Server> {
  const dir = path.join(root, 'distribution');
  const storage = path.join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'config.yml');
  await writeFile(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: berth-bench-not-a-secret',
      '',
    ].join('\n'),
  );
  const proc = spawn(DISTRIBUTION_BIN, ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const onData = (c: Buffer) => {
    for (const line of c.toString().split('\n')) if (line) logs.push(line);
    if (logs.length > 2000) logs.splice(0, logs.length - 1000);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.on('error', (e) => logs.push(`spawn error: ${e.message}`));
  const t = track(proc);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (t.info() !== undefined) throw new Error(`distribution ${t.info()} during start:\n${logs.join('\n')}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`distribution did not become ready:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: 'Distribution',
    url,
    pid: proc.pid!,
    dataDir: storage,
    configFile: cfg,
    alive: () => t.info() === undefined,
    exitInfo: () => t.info() ?? 'running',
    logTail: (n = 20) => logs.slice(-n).join('\n'),
    async stop() {
      if (t.info() !== undefined) return;
      proc.kill('SIGTERM');
      if ((await withTimeout(t.exited.then(() => true), 15_000)) === undefined) {
        proc.kill('SIGKILL');
        await t.exited;
      }
    },
    killNow() {
      if (t.info() === undefined) proc.kill('SIGKILL');
    },
  };
}

// ---- memory ---------------------------------------------------------------------------------

let childrenFilesWork: boolean | undefined;

function childrenViaTasks(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const txt = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (txt) for (const c of txt.split(/\s+/)) out.push(Number(c));
  }
  return out;
}

function childrenViaScan(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ... ; comm may contain spaces/parens, so split after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

/** pid and all its descendants (worker processes, if the server forks). */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    all.push(p);
    let kids: number[] = [];
    try {
      if (childrenFilesWork !== false) {
        kids = childrenViaTasks(p);
        childrenFilesWork = true;
      } else kids = childrenViaScan(p);
    } catch {
      if (childrenFilesWork === undefined) {
        childrenFilesWork = false;
        kids = childrenViaScan(p);
      }
    }
    queue.push(...kids);
  }
  return all;
}

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over the process tree, in KiB; also how many processes were counted. */
export function treeRss(pid: number): { kib: number; procs: number } {
  const pids = processTree(pid);
  return { kib: pids.reduce((a, p) => a + rssKiB(p), 0), procs: pids.length };
}

/** Samples tree RSS every `everyMs` until stopped; reports the peak in MiB. */
export class RssSampler {
  private peakKiB = 0;
  private maxProcs = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pid: number, private readonly everyMs = 20) {}
  private sample() {
    const r = treeRss(this.pid);
    if (r.kib > this.peakKiB) this.peakKiB = r.kib;
    if (r.procs > this.maxProcs) this.maxProcs = r.procs;
  }
  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }
  stop(): { peakMiB: number; procs: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return { peakMiB: this.peakKiB / 1024, procs: this.maxProcs };
  }
}
