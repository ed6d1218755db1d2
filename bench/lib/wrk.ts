// Runs wrk and parses Requests/sec, the 99% latency and error counters.
import { spawn } from 'node:child_process';

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

export function runWrk(url: string, seconds: number, headers: Record<string, string> = {}, connections = 64, threads = 2): Promise<WrkResult> {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const p = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
