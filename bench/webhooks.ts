// Webhooks versus the registry's own latency: 1000 pushes and 1000 pulls against one Berth with no
// endpoints and one with two endpoints (one answering at once, one only after 2 seconds), in the same run,
// one after the other. Delivery never sits on the request path; what remains is the cost of writing the
// events and of the delivery worker sharing the machine.
//
//   node --import tsx bench/webhooks.ts                         # 1000 pushes + 1000 pulls each, 16 clients
//   node --import tsx bench/webhooks.ts --count=300 --clients=8
import { createServer, type Server as HttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ADMIN_PASSWORD, startBerth, type BerthProcess } from '../test/helpers/berth.js';
import { sha256 } from './lib/data.js';
import { agent, request } from './lib/http.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)).filter(Boolean).map((m) => [m![1], m![2]]));
const COUNT = Number(args.count ?? 1000);
const CLIENTS = Number(args.clients ?? 16);
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A receiver that answers after `delayMs`, counting what it got. */
function receiver(delayMs: number): Promise<{ url: string; received: () => number; close(): Promise<void> }> {
  let n = 0;
  const srv: HttpServer = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => { n++; res.end('ok'); }, delayMs));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`,
    received: () => n,
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  })));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Stats { p50: number; p99: number; mean: number; totalS: number }

function stats(lat: number[], totalMs: number): Stats {
  const s = [...lat].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length, totalS: totalMs / 1000 };
}

/** Runs `count` operations with `clients` concurrent workers; returns per-operation latencies (ms). */
async function drive(count: number, op: (i: number) => Promise<void>): Promise<{ lat: number[]; totalMs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = next++; i < count; i = next++) {
      const t = performance.now();
      await op(i);
      lat.push(performance.now() - t);
    }
  }));
  return { lat, totalMs: performance.now() - t0 };
}

async function scenario(b: BerthProcess, label: string): Promise<{ push: Stats; pull: Stats }> {
  const base = b.url;
  const headers = { authorization: AUTH };
  // Shared small config blob, one manifest per push (distinct tags and contents).
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const cd = sha256(config);
  const up = await request('POST', `${base}/v2/bench/wh/blobs/uploads/?digest=${cd}`, { headers: { ...headers, 'content-type': 'application/octet-stream' }, body: config });
  if (up.status !== 201) throw new Error(`${label}: config upload ${up.status}`);
  const push = await drive(COUNT, async (i) => {
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: [], annotations: { n: `${label}-${i}-${randomBytes(4).toString('hex')}` } }));
    const r = await request('PUT', `${base}/v2/bench/wh/manifests/t${i}`, { headers: { ...headers, 'content-type': OCI_MANIFEST }, body: m });
    if (r.status !== 201) throw new Error(`${label}: push ${i}: ${r.status}`);
  });
  const pull = await drive(COUNT, async (i) => {
    const r = await request('GET', `${base}/v2/bench/wh/manifests/t${i}`, { headers: { ...headers, accept: OCI_MANIFEST } });
    if (r.status !== 200) throw new Error(`${label}: pull ${i}: ${r.status}`);
  });
  return { push: stats(push.lat, push.totalMs), pull: stats(pull.lat, pull.totalMs) };
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-wh-'));
  const fast = await receiver(0);
  const slow = await receiver(2000);
  const common = { log: { level: 'error' }, webhooks: { allowLoopback: true, timeout: 5, concurrency: 16 } };
  const off = await startBerth({ auth: true, dataDir: path.join(root, 'off'), config: common, env: { BERTH_LOG_LEVEL: 'error' } });
  const on = await startBerth({ auth: true, dataDir: path.join(root, 'on'), config: common, env: { BERTH_LOG_LEVEL: 'error' } });
  try {
    // Pushes into a namespace nobody owns are refused: an organization owns bench/.
    for (const b of [off, on]) {
      const r = await request('POST', `${b.url}/api/v1/organizations`, { headers: { authorization: AUTH, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ name: 'bench' })) });
      if (r.status !== 201) throw new Error(`creating organization bench: ${r.status} ${r.body.toString().slice(0, 300)}`);
    }
    for (const [i, url] of [fast.url, slow.url].entries()) {
      const r = await request('POST', `${on.url}/api/v1/webhooks`, {
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ name: `bench-${i}`, url, events: ['push', 'pull'], format: i === 0 ? 'distribution-v1' : 'cloudevents' })),
      });
      if (r.status !== 201) throw new Error(`creating endpoint: ${r.status}`);
    }
    console.log(`webhook benchmark: ${COUNT} pushes then ${COUNT} pulls, ${CLIENTS} clients, webhooks off vs on (2 endpoints: instant, 2 s)`);
    const offRes = await scenario(off, 'off');
    const onRes = await scenario(on, 'on');
    const sent = 2 * COUNT;
    // Deliveries go on in the background; how far the instant endpoint got shows they were not blocked.
    await new Promise((r) => setTimeout(r, 3000));
    const rows = [
      ['push p50 (ms)', offRes.push.p50, onRes.push.p50], ['push p99 (ms)', offRes.push.p99, onRes.push.p99], ['push total (s)', offRes.push.totalS, onRes.push.totalS],
      ['pull p50 (ms)', offRes.pull.p50, onRes.pull.p50], ['pull p99 (ms)', offRes.pull.p99, onRes.pull.p99], ['pull total (s)', offRes.pull.totalS, onRes.pull.totalS],
    ] as const;
    const lines = [
      '| Metric | webhooks off | webhooks on | on/off |', '|---|---:|---:|---:|',
      ...rows.map(([k, a, b]) => `| ${k} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)}× |`),
      '',
      `Events delivered 3 s after the last request: instant endpoint ${fast.received()} of ${sent}, 2-second endpoint ${slow.received()} of ${sent} (each endpoint gets its events in order, one at a time, so the slow one drains at one event per 2 s).`,
    ];
    console.log(lines.join('\n'));
    mkdirSync(path.join(HERE, 'results'), { recursive: true });
    writeFileSync(path.join(HERE, 'results', 'webhooks.md'), `${lines.join('\n')}\n`);
  } finally {
    await on.stop();
    await off.stop();
    await fast.close();
    await slow.close();
    agent.destroy();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
