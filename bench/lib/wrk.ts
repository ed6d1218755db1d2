// Runs wrk and parses Requests/sec, the 99% latency and error counters.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WRK_BIN = '/usr/bin/wrk';

export interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(v: string, unit: string): number {
  const f = UNIT_MS[unit];
  if (f === undefined) throw new Error(`unknown wrk latency unit ${unit}`);
  return Number(v) * f;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out);
  if (!rps || !p99) throw new Error(`could not parse wrk output:\n${out}`);
  const requests = /(\d+) requests in/.exec(out);
  const non = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(rps[1]),
    p99Ms: parseDuration(p99[1], p99[2]),
    requests: requests ? Number(requests[1]) : 0,
    non2xx: non ? Number(non[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, n) => a + Number(n), 0) : 0,
    raw: out,
  };
}

export interface WrkOptions {
  connections?: number;
  threads?: number;
  /** send `Authorization: Bearer <first line of this file>`, re-read every second (bench/lib/bearer.lua) */
  tokenFile?: string;
}

export const BEARER_LUA = fileURLToPath(new URL('./bearer.lua', import.meta.url));

export function runWrk(url: string, seconds: number, headers: Record<string, string> = {}, opts: WrkOptions = {}): Promise<WrkResult> {
  const args = [`-t${opts.threads ?? 2}`, `-c${opts.connections ?? 64}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (opts.tokenFile) args.push('-s', BEARER_LUA);
  args.push(url);
  return new Promise((resolve, reject) => {
    const env = opts.tokenFile ? { ...process.env, BENCH_TOKEN_FILE: opts.tokenFile } : process.env;
    const p = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
