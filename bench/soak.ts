// Soak: Berth as shipped (tokens from /token) under mixed load for a long time, with garbage collection
// every 30 s, watching what must not drift: responses ≥ 500, the server's RSS and open file descriptors,
// and the garbage left behind by the churn. Nothing here compares against another registry: the figures
// are Berth's own at the start and at the end of the run.
//
//   node --import tsx bench/soak.ts                      # 30 minutes, 64 clients
//   node --import tsx bench/soak.ts --minutes=2 --clients=16
//
// Each client loops over: push a small image (two random layers of 4–64 KiB, a config, a manifest) into
// one of 50 repositories (40%), pull a random pushed tag (manifest and every blob) (45%), delete a random
// pushed manifest, which makes its blobs garbage (8%), tags/list (4%), _catalog (3%).
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_PASSWORD, startBerth, type BerthProcess } from '../test/helpers/berth.js';
import { TokenAuth, repoScope, CATALOG_SCOPE } from './lib/auth.js';
import { sha256 } from './lib/data.js';
import { request, type Res } from './lib/http.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([a-z-]+)=(.*)$/.exec(a)).filter(Boolean).map((m) => [m![1], m![2]]));
const MINUTES = Number(args.minutes ?? 30);
const CLIENTS = Number(args.clients ?? 64);
const GC_INTERVAL_S = Number(args['gc-interval'] ?? 30);
const REPOS = 50;
const BASIC = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const SAMPLE_MS = 10_000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

interface Pushed { repo: string; tag: string; digest: string; blobs: string[] }

const statuses = new Map<string, number>();
const fivexx: string[] = [];
let transportErrors = 0;
let ops = 0;
const pushed: Pushed[] = [];

function count(op: string, res: Res): Res {
  const k = `${op} ${res.status}`;
  statuses.set(k, (statuses.get(k) ?? 0) + 1);
  if (res.status >= 500 && fivexx.length < 20) fivexx.push(`${op} ${res.status} ${res.body.toString().slice(0, 200)}`);
  return res;
}

function memory(pid: number): { rssMiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  return { rssMiB: Math.round(rss * 10) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function push(b: BerthProcess, auth: TokenAuth): Promise<void> {
  const repo = `soak/r${randomInt(REPOS)}`;
  const h = await auth.headers([repoScope(repo, 'pull,push')]);
  const layers = [randomBytes(randomInt(4096, 65536)), randomBytes(randomInt(4096, 65536))];
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, n: randomBytes(8).toString('hex') }));
  for (const blob of [config, ...layers]) {
    const res = count('blob-upload', await request('POST', `${b.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { headers: { ...h, 'content-type': 'application/octet-stream' }, body: blob }));
    if (res.status !== 201) return;
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
  }));
  const tag = `t${randomBytes(4).toString('hex')}`;
  const res = count('manifest-put', await request('PUT', `${b.url}/v2/${repo}/manifests/${tag}`, { headers: { ...h, 'content-type': OCI_MANIFEST }, body: manifest }));
  if (res.status === 201) pushed.push({ repo, tag, digest: sha256(manifest), blobs: [sha256(config), ...layers.map(sha256)] });
}

async function pull(b: BerthProcess, auth: TokenAuth): Promise<void> {
  const p = pushed[randomInt(pushed.length)];
  const h = await auth.headers([repoScope(p.repo, 'pull')]);
  const m = count('manifest-get', await request('GET', `${b.url}/v2/${p.repo}/manifests/${p.tag}`, { headers: { ...h, accept: OCI_MANIFEST } }));
  // Deleted meanwhile (404) is an answer too; only a manifest that came back leads to its blobs.
  if (m.status !== 200) return;
  for (const d of p.blobs) count('blob-get', await request('GET', `${b.url}/v2/${p.repo}/blobs/${d}`, { headers: h }));
}

async function remove(b: BerthProcess, auth: TokenAuth): Promise<void> {
  if (pushed.length < 100) return;
  const [p] = pushed.splice(randomInt(pushed.length), 1);
  const h = await auth.headers([repoScope(p.repo, 'pull,push,delete')]);
  count('manifest-delete', await request('DELETE', `${b.url}/v2/${p.repo}/manifests/${p.digest}`, { headers: h }));
}

async function list(b: BerthProcess, auth: TokenAuth): Promise<void> {
  const repo = `soak/r${randomInt(REPOS)}`;
  count('tags-list', await request('GET', `${b.url}/v2/${repo}/tags/list?n=100`, { headers: await auth.headers([repoScope(repo, 'pull')]) }));
}

async function catalog(b: BerthProcess, auth: TokenAuth): Promise<void> {
  count('catalog', await request('GET', `${b.url}/v2/_catalog?n=100`, { headers: await auth.headers([CATALOG_SCOPE]) }));
}

async function gcRuns(b: BerthProcess): Promise<{ state: string; startedAt: string; finishedAt: string | null; report: Record<string, number> | null }[]> {
  const res = await request('GET', `${b.url}/api/v1/gc`, { headers: { authorization: BASIC } });
  return res.status === 200 ? (JSON.parse(res.body.toString()) as { items: never[] }).items : [];
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-soak-'));
  const b = await startBerth({
    dataDir: path.join(root, 'data'), auth: true,
    config: { log: { level: 'error' }, gc: { interval: GC_INTERVAL_S, grace: 10 } },
    env: { BERTH_LOG_LEVEL: 'error' },
  });
  const pid = b.proc.pid!;
  // Pushes go into an organization's namespace (a namespace without an owner takes none).
  const org = await request('POST', `${b.url}/api/v1/organizations`, { headers: { authorization: BASIC, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ name: 'soak' })) });
  if (org.status !== 201) throw new Error(`creating the organization soak: ${org.status} ${org.body.toString()}`);
  const auth = new TokenAuth(b.url, 'admin', ADMIN_PASSWORD);
  const samples: { at: number; rssMiB: number; fds: number; pushed: number }[] = [];
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  console.error(`soak: ${MINUTES} min, ${CLIENTS} clients, gc every ${GC_INTERVAL_S} s, Berth pid ${pid}, data ${root}`);
  // Enough images to pull before the mix starts.
  await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < 8; i++) await push(b, auth); }));
  samples.push({ at: Date.now(), ...memory(pid), pushed: pushed.length });
  const sampler = setInterval(() => {
    const s = { at: Date.now(), ...memory(pid), pushed: pushed.length };
    samples.push(s);
    const bad = [...statuses].filter(([k]) => Number(k.split(' ')[1]) >= 500).reduce((n, [, v]) => n + v, 0);
    console.error(`  ${((s.at - t0) / 60_000).toFixed(1)} min: ${ops} ops, RSS ${s.rssMiB} MiB, ${s.fds} fds, ${s.pushed} images live, ${bad} responses ≥ 500, ${transportErrors} transport errors`);
  }, SAMPLE_MS);
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < end) {
      const r = randomInt(100);
      try {
        if (r < 40 || pushed.length === 0) await push(b, auth);
        else if (r < 85) await pull(b, auth);
        else if (r < 93) await remove(b, auth);
        else if (r < 97) await list(b, auth);
        else await catalog(b, auth);
      } catch (e) {
        transportErrors++;
        if (transportErrors <= 5) console.error(`  transport error: ${(e as Error).message}`);
      }
      ops++;
    }
  }));
  clearInterval(sampler);
  samples.push({ at: Date.now(), ...memory(pid), pushed: pushed.length });
  const runs = (await gcRuns(b)).filter((r) => r.state === 'done').reverse();
  await b.stop();
  await rm(root, { recursive: true, force: true });

  const first = samples[0];
  const last = samples[samples.length - 1];
  // The first minute warms caches and the JIT: "steady" compares its end with the run's end.
  const warm = samples.find((s) => s.at - t0 >= 60_000) ?? first;
  const maxRss = Math.max(...samples.map((s) => s.rssMiB));
  const bad = [...statuses].filter(([k]) => Number(k.split(' ')[1]) >= 500);
  const lines = [
    `## Soak: ${MINUTES} min, ${CLIENTS} clients, garbage collection every ${GC_INTERVAL_S} s (${new Date(t0).toISOString()})`,
    '',
    `| Metric | Start | After 1 min | End | Max |`,
    `|---|---:|---:|---:|---:|`,
    `| RSS (MiB) | ${first.rssMiB} | ${warm.rssMiB} | ${last.rssMiB} | ${maxRss} |`,
    `| Open file descriptors | ${first.fds} | ${warm.fds} | ${last.fds} | ${Math.max(...samples.map((s) => s.fds))} |`,
    '',
    `- Operations: ${ops}; responses ≥ 500: ${bad.reduce((n, [, v]) => n + v, 0)}${bad.length ? ` (${bad.map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}; transport errors: ${transportErrors}.`,
    `- Responses: ${[...statuses].sort().map(([k, v]) => `${k}: ${v}`).join(', ')}.`,
    `- Collections finished (the newest kept in the history): ${runs.length}; blobs removed per run: ${runs.map((r) => r.report?.blobsRemoved ?? 0).join(', ')}; durations (ms): ${runs.map((r) => r.report?.durationMs ?? 0).join(', ')}.`,
    ...(fivexx.length ? ['- First responses ≥ 500:', ...fivexx.map((f) => `  - ${f}`)] : []),
    `- Tokens obtained: ${auth.issued}. Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
  ];
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
