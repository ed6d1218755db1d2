// HAProxy (the Debian package) in front of several test servers: round robin in HTTP mode, each server
// health-checked on /readyz, started as a child process on a free loopback port with a config of its own.
// Missing: the test fails and says how to install it.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './berth.js';
import { requireTool } from './tools.js';

export interface Haproxy {
  url: string; // http://127.0.0.1:PORT
  host: string; // 127.0.0.1:PORT
  port: number;
  logs: string[];
  stop(): Promise<void>;
}

/** Starts HAProxy in `dir` balancing over the given loopback ports; resolves once it answers. */
export async function startHaproxy(dir: string, backendPorts: number[]): Promise<Haproxy> {
  const bin = requireTool('haproxy');
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(cfg, [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    // Blob uploads stream for as long as they take: no short client or server timeouts.
    '  timeout client 300s',
    '  timeout server 300s',
    '  timeout http-request 300s',
    '  timeout check 2s',
    // A connection refused by a server that just died is tried again on another one (nothing was sent).
    '  retries 3',
    '  option redispatch',
    'frontend registry',
    `  bind 127.0.0.1:${port}`,
    '  default_backend berth',
    'backend berth',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    ...backendPorts.map((p, i) => `  server b${i} 127.0.0.1:${p} check inter 300 fall 1 rise 1`),
    '',
  ].join('\n'));
  const check = spawnSync(bin, ['-c', '-f', cfg], { encoding: 'utf8' });
  assert.equal(check.status, 0, `haproxy rejects its configuration:\n${check.stdout}${check.stderr}`);
  const proc: ChildProcess = spawn(bin, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const onData = (chunk: Buffer) => { for (const line of chunk.toString().split('\n')) if (line) logs.push(line); };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => { exited = true; resolve(); }));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`haproxy exited during start:\n${logs.join('\n')}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`haproxy did not answer:\n${logs.join('\n')}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, host: `127.0.0.1:${port}`, port, logs,
    async stop() { if (!exited) { proc.kill('SIGTERM'); await exit; } },
  };
}
