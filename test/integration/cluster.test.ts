// Several Berth processes as one registry: three `berth serve` on one PostgreSQL database and one shared
// storage directory (sharing the master key and the audit signing key), behind HAProxy (round robin,
// health-checked on /readyz), driven by skopeo, podman and plain HTTP. Tokens, upload sessions, tags and
// revocations of one process hold on the others; pushes acknowledged while processes are killed with
// SIGKILL (and restarted on their ports) all survive, on every process; `berth gc --grace 0` beside them
// spares every acknowledged image. Knobs: BERTH_CLUSTER_KILLS (default 5), BERTH_CLUSTER_PUSHERS (HTTP
// pushers beside the skopeo one, default 2), BERTH_CLUSTER_LOG_DIR (keep every process's log there).
// berth-test: postgres-only (a cluster exists only on PostgreSQL; every server here is on it whatever the pass)
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { ADMIN_PASSWORD, freePort, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { MT, sha256 } from '../helpers/oci.js';
import { makeImage, writeLayout, type BuiltImage } from '../helpers/ocilayout.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { ACCEPT_ALL, errorCodes } from '../helpers/registry.js';
import { containersConfig, isolate, requireTool, runOk, Skopeo } from '../helpers/tools.js';

const KILLS = Number(process.env.BERTH_CLUSTER_KILLS ?? 5);
const PUSHERS = Number(process.env.BERTH_CLUSTER_PUSHERS ?? 2);
const REPO = 'cluster/load';
const CREDS = `admin:${ADMIN_PASSWORD}`;

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const ADMIN = basic('admin', ADMIN_PASSWORD);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A push the registry acknowledged (201 for the manifest, or skopeo/podman exit 0). */
interface Pushed { repo: string; tag: string; digest: string; manifest: Buffer; blobs: { digest: string; size: number }[]; how: string; phase: string }
/** A push that was not acknowledged, and whether a dying process (or gc --grace 0) explains it. */
interface Failed { who: string; tag: string; step: string; reason: string; explained: boolean; phase: string }

/** A step of a push that did not get its answer. `explained`: the kind of failure a killed process causes. */
class PushFailed extends Error {
  constructor(readonly step: string, readonly reason: string, readonly explained: boolean, readonly status?: number) { super(`${step}: ${reason}`); }
}

let work: string;
let db: TestDatabase;
let config: Record<string, unknown>;
let cliConfig: string;
let storeDir: string;
const dirs: string[] = [];
const ports: number[] = [];
const procs: BerthProcess[] = [];
/** The log lines of every incarnation of each process (a killed one's included). */
const incarnations: { name: string; logs: string[] }[] = [];
let lb: Haproxy;
let skopeo: Skopeo;
let containers: Awaited<ReturnType<typeof containersConfig>>;
const acked: Pushed[] = [];
const failed: Failed[] = [];
const NAMES = ['A', 'B', 'C'];

async function startProcess(i: number): Promise<BerthProcess> {
  const b = await startBerth({ dataDir: dirs[i], port: ports[i], auth: true, config });
  procs[i] = b;
  incarnations.push({ name: `${NAMES[i]}#${incarnations.filter((x) => x.name.startsWith(NAMES[i])).length + 1} (pid ${b.proc.pid})`, logs: b.logs });
  return b;
}

async function tokenFor(base: string, scopes: string[], auth = ADMIN): Promise<string> {
  const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
  const r = await fetch(`${base}/token?service=berth&${q}`, { headers: { authorization: auth } });
  assert.equal(r.status, 200, `token from ${base}: ${r.status} ${await r.clone().text()}`);
  return ((await r.json()) as { token: string }).token;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** fetch for pushes under faults: a connection lost (the process died) is a PushFailed a death explains. */
async function call(step: string, url: string | URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    throw new PushFailed(step, `connection: ${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}`, true);
  }
}
async function textOf(res: Response): Promise<string> {
  try { return await res.text(); } catch (e) { return `<body cut off: ${(e as Error).message}>`; }
}
/** A refusal. Explained by a dying process: HAProxy's own 502/503/504 (not Berth's JSON answers). */
async function refused(step: string, res: Response): Promise<never> {
  const body = await textOf(res);
  const fromProxy = [502, 503, 504].includes(res.status) && !/^\s*\{/.test(body);
  throw new PushFailed(step, `${res.status} ${body.replace(/\s+/g, ' ').slice(0, 300)}`, fromProxy, res.status);
}

/** Uploads one blob: POST then PUT, or in `chunks` PATCHes and the closing PUT. Through whatever `base` balances to. */
async function uploadBlob(base: string, repo: string, data: Buffer, headers: Record<string, string>, chunks: number): Promise<void> {
  const digest = sha256(data);
  const start = await call('POST upload', `${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) await refused('POST upload', start);
  await textOf(start);
  let loc = new URL(start.headers.get('location')!, base);
  let offset = 0;
  const step = Math.ceil(data.length / chunks);
  for (let c = 1; c < chunks && offset + step < data.length; c++) {
    const chunk = data.subarray(offset, offset + step);
    const res = await call('PATCH chunk', loc, {
      method: 'PATCH', body: new Uint8Array(chunk),
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
    });
    if (res.status !== 202) await refused('PATCH chunk', res);
    await textOf(res);
    offset += chunk.length;
    assert.equal(res.headers.get('range'), `0-${offset - 1}`, 'PATCH answers the session\'s new size');
    loc = new URL(res.headers.get('location')!, base);
  }
  loc.searchParams.set('digest', digest);
  const put = await call('PUT upload', loc, { method: 'PUT', body: new Uint8Array(data.subarray(offset)), headers: { ...headers, 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) await refused('PUT upload', put);
  await textOf(put);
}

/** Pushes a fresh image (real tar+gzip layers) over HTTP; resolves once its manifest got 201. */
async function httpPush(base: string, repo: string, tag: string, headers: Record<string, string>, opts: { chunks?: number; phase: string; how?: string }): Promise<Pushed> {
  const img = makeImage({ layers: 2, randomSize: randomInt(4 * 1024, 384 * 1024) });
  for (const blob of [img.config, ...img.layers.map((l) => l.gz)]) await uploadBlob(base, repo, blob, headers, blob.length > 64 * 1024 ? (opts.chunks ?? 1) : 1);
  const res = await call('PUT manifest', `${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(img.manifest), headers: { ...headers, 'content-type': MT.ociManifest } });
  if (res.status !== 201) await refused('PUT manifest', res);
  await textOf(res);
  assert.equal(res.headers.get('docker-content-digest'), img.manifestDesc.digest);
  return { repo, tag, digest: img.manifestDesc.digest, manifest: img.manifest, blobs: blobsOf(img), how: opts.how ?? (opts.chunks ? 'http-chunked' : 'http'), phase: opts.phase };
}

const blobsOf = (img: BuiltImage) => [img.configDesc, ...img.layers.map((l) => l.desc)].map((d) => ({ digest: d.digest, size: d.size }));

/** What is wrong with an acknowledged push as `base` serves it (nothing: []). */
async function problemsOf(base: string, token: string, p: Pushed): Promise<string[]> {
  const out: string[] = [];
  const where = `${base} ${p.repo}:${p.tag} (${p.how}, ${p.phase})`;
  const m = await fetch(`${base}/v2/${p.repo}/manifests/${p.tag}`, { headers: { ...bearer(token), accept: ACCEPT_ALL } });
  const body = Buffer.from(await m.arrayBuffer());
  if (m.status !== 200) return [`${where}: manifest ${m.status} ${body.toString().slice(0, 200)}`];
  if (m.headers.get('docker-content-digest') !== p.digest || !body.equals(p.manifest)) out.push(`${where}: manifest is ${sha256(body)}, pushed ${p.digest}`);
  for (const b of p.blobs) {
    const r = await fetch(`${base}/v2/${p.repo}/blobs/${b.digest}`, { headers: bearer(token) });
    const data = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) out.push(`${where}: blob ${b.digest} ${r.status} ${data.toString().slice(0, 200)}`);
    else if (sha256(data) !== b.digest || data.length !== b.size) out.push(`${where}: blob ${b.digest} served as ${data.length} bytes hashing to ${sha256(data)}`);
  }
  return out;
}

/** Runs fn over items, `n` at a time. */
async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => { while (next < items.length) await fn(items[next++]!); }));
}

/** Every acknowledged push (of `pushes`) checked on every process directly; the problems found. */
async function checkEverywhere(pushes: Pushed[]): Promise<string[]> {
  const problems: string[] = [];
  const repos = [...new Set(pushes.map((p) => p.repo))];
  const token = await tokenFor(procs[0].url, repos.map((r) => `repository:${r}:pull`));
  const jobs = procs.flatMap((b) => pushes.map((p) => ({ b, p })));
  await inParallel(jobs, 6, async ({ b, p }) => { problems.push(...await problemsOf(b.url, token, p)); });
  return problems;
}

/** A skopeo failure a dying process explains: the proxy's answer for it, or a connection cut. */
const SKOPEO_EXPLAINED = /\b(502|503|504)\b|Bad Gateway|Service Unavailable|Gateway Time-?out|EOF|connection reset|broken pipe|connection refused/i;

/** One skopeo push of a fresh image through `host`; returns it, or a PushFailed. */
async function skopeoPush(host: string, repo: string, tag: string, phase: string): Promise<Pushed> {
  const img = makeImage({ layers: 2, randomSize: randomInt(4 * 1024, 256 * 1024) });
  const dir = path.join(work, 'layouts', `${tag}-${randomBytes(3).toString('hex')}`);
  await writeLayout(dir, { v: img });
  try {
    const r = await skopeo.run(['copy', '--dest-tls-verify=false', '--dest-creds', CREDS, `oci:${dir}:v`, `docker://${host}/${repo}:${tag}`], 120_000);
    if (r.code !== 0) {
      const reason = r.stderr.trim().split('\n').pop() ?? '';
      throw new PushFailed('skopeo copy', reason.slice(0, 400), SKOPEO_EXPLAINED.test(reason));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { repo, tag, digest: img.manifestDesc.digest, manifest: img.manifest, blobs: blobsOf(img), how: 'skopeo', phase };
}

/**
 * Pushers through the load balancer until `stop()`: PUSHERS HTTP ones (every other push in chunks) and one
 * skopeo one; acknowledged pushes go to `acked`, the others to `failed`.
 */
function startPushers(phase: string, stop: () => boolean, explain: (e: PushFailed) => boolean = (e) => e.explained): Promise<void[]> {
  const record = (who: string, tag: string, e: unknown) => {
    if (!(e instanceof PushFailed)) throw e;
    failed.push({ who, tag, step: e.step, reason: e.reason, explained: explain(e), phase });
  };
  const http = Array.from({ length: PUSHERS }, async (_, w) => {
    let token: string | undefined;
    for (let n = 0; !stop(); n++) {
      const tag = `${phase}-h${w}-${n}`;
      try {
        token ??= await tokenFor(lb.url, [`repository:${REPO}:pull,push`]).catch((e: Error) => { throw new PushFailed('token', e.message, /: 50[234] /.test(e.message)); });
        acked.push(await httpPush(lb.url, REPO, tag, bearer(token), { chunks: n % 2 ? 3 : undefined, phase }));
      } catch (e) {
        if (e instanceof PushFailed && e.status === 401) token = undefined;
        record(`http${w}`, tag, e);
      }
    }
  });
  const sk = (async () => {
    for (let n = 0; !stop(); n++) {
      const tag = `${phase}-s-${n}`;
      try {
        acked.push(await skopeoPush(lb.host, REPO, tag, phase));
      } catch (e) {
        record('skopeo', tag, e);
      }
    }
  })();
  return Promise.all([...http, sk]);
}

/** The audit log: `berth audit verify` against the shared database; its output line. */
async function auditVerify(): Promise<string> {
  const v = await runCli(['audit', 'verify', '--config', cliConfig]);
  assert.equal(v.code, 0, `berth audit verify: ${v.stdout}${v.stderr}`);
  assert.match(v.stdout, /audit log intact: (\d+) records up to \1\b/, 'one gapless chain from record 1');
  return v.stdout.trim();
}

/** A readable account of the processes' errors, for failure messages. */
function errorLines(): string {
  return incarnations.flatMap((x) => x.logs.filter((l) => /"level":(50|60)/.test(l)).slice(-10).map((l) => `${x.name}: ${l.slice(0, 600)}`)).join('\n');
}

describe('a cluster of three processes behind HAProxy', () => {
  before(async () => {
    requireTool('skopeo');
    work = await tempDir('berth-cluster-');
    storeDir = path.join(work, 'store');
    await mkdir(path.join(work, 'layouts'), { recursive: true });
    db = await createTestDatabase('berth_cluster');
    config = {
      database: { dialect: 'postgres', postgres: { url: db.url, poolSize: 6 } },
      storage: { filesystem: { root: storeDir } },
      auth: { masterKeyFile: path.join(work, 'shared-secrets', 'master.key') },
      audit: { signingKeyFile: path.join(work, 'shared-secrets', 'audit-signing.key') },
    };
    // CLI commands run as an operator would: the same configuration, a data dir of their own.
    cliConfig = path.join(work, 'cli.yaml');
    await writeFile(cliConfig, stringify({ ...config, data: path.join(work, 'cli-data') }));
    for (let i = 0; i < 3; i++) {
      dirs.push(path.join(work, `data-${NAMES[i]}`));
      ports.push(await freePort());
    }
    // Started together on the empty database: one migrates it and bootstraps the administrator, the
    // others wait for the migration and find the administrator there. (All settle before a failure is
    // thrown, so that the after hook stops those that did start.)
    const starts = await Promise.allSettled([0, 1, 2].map((i) => startProcess(i)));
    for (const s of starts) if (s.status === 'rejected') throw s.reason;
    lb = await startHaproxy(work, ports);
    containers = await containersConfig(path.join(work, 'containers'));
    skopeo = new Skopeo(containers, path.join(work, 'containers', 'tmp'));
    const org = await fetch(`${procs[0].url}/api/v1/organizations`, { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cluster' }) });
    assert.equal(org.status, 201, await org.text());
  });

  after(async () => {
    await lb?.stop();
    await Promise.all(procs.map((b) => b?.stop()));
    // BERTH_CLUSTER_LOG_DIR=DIR keeps every incarnation's log (and HAProxy's) for a look afterwards.
    const keep = process.env.BERTH_CLUSTER_LOG_DIR;
    if (keep) {
      await mkdir(keep, { recursive: true });
      for (const x of incarnations) await writeFile(path.join(keep, `${x.name.replace(/\W+/g, '-')}.log`), `${x.logs.join('\n')}\n`);
      if (lb) await writeFile(path.join(keep, 'haproxy.log'), `${lb.logs.join('\n')}\n`);
    }
    if (db) await db.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a token issued by one process is accepted by the others, with the access it was issued with', async () => {
    const [a, b, c] = procs;
    const fromA = await tokenFor(a.url, ['repository:cluster/one:pull,push']);
    for (const p of [b, c]) {
      assert.equal((await fetch(`${p.url}/v2/`)).status, 401, 'no credentials: refused');
      assert.equal((await fetch(`${p.url}/v2/`, { headers: bearer(fromA) })).status, 200, `${p.url} accepts A's token`);
    }
    const pushed = await httpPush(b.url, 'cluster/one', 'v1', bearer(fromA), { phase: 'tokens' });
    acked.push(pushed);
    const onC = await fetch(`${c.url}/v2/cluster/one/manifests/v1`, { headers: { ...bearer(fromA), accept: MT.ociManifest } });
    assert.equal(onC.status, 200);
    assert.equal(onC.headers.get('docker-content-digest'), pushed.digest, 'C serves what B took with A\'s token');
    const fromC = await tokenFor(c.url, ['repository:cluster/one:pull']);
    for (const p of [a, b]) {
      const tags = await fetch(`${p.url}/v2/cluster/one/tags/list`, { headers: bearer(fromC) });
      assert.equal(tags.status, 200, `${p.url} accepts C's token`);
      assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
    }
    // C's token grants pull only: A and B refuse a push with it.
    for (const p of [a, b]) {
      const start = await fetch(`${p.url}/v2/cluster/one/blobs/uploads/`, { method: 'POST', headers: bearer(fromC) });
      assert.ok([401, 403].includes(start.status), `a pull-only token cannot push on ${p.url} (got ${start.status})`);
    }
    // A token with its signature altered is refused everywhere.
    const [h, pl, sig] = fromA.split('.');
    const forged = `${h}.${pl}.${sig.startsWith('A') ? `B${sig.slice(1)}` : `A${sig.slice(1)}`}`;
    for (const p of procs) assert.equal((await fetch(`${p.url}/v2/`, { headers: bearer(forged) })).status, 401, `${p.url} refuses a forged token`);
  });

  test('a chunked upload started on A, continued on B (and A again) and closed on C is the right blob everywhere', async () => {
    const [a, b, c] = procs;
    const token = await tokenFor(a.url, ['repository:cluster/chunked:pull,push']);
    const h = bearer(token);
    const data = randomBytes(3 * 1024 * 1024 + 12_345);
    const digest = sha256(data);
    const cuts = [0, 1_000_000, 2_000_000, 2_600_000, data.length];
    const part = (k: number) => data.subarray(cuts[k], cuts[k + 1]);
    const patch = async (p: BerthProcess, loc: string, k: number) => {
      const r = await fetch(new URL(loc, p.url), { method: 'PATCH', body: new Uint8Array(part(k)), headers: { ...h, 'content-type': 'application/octet-stream', 'content-range': `${cuts[k]}-${cuts[k + 1] - 1}` } });
      assert.equal(r.status, 202, `PATCH chunk ${k} on ${p.url}: ${await r.text()}`);
      assert.equal(r.headers.get('range'), `0-${cuts[k + 1] - 1}`);
      return r.headers.get('location')!;
    };
    const start = await fetch(`${a.url}/v2/cluster/chunked/blobs/uploads/`, { method: 'POST', headers: h });
    assert.equal(start.status, 202);
    let loc = start.headers.get('location')!;
    loc = await patch(a, loc, 0);
    const status = await fetch(new URL(loc, b.url), { headers: h });
    assert.equal(status.status, 204, 'B knows the session A started');
    assert.equal(status.headers.get('range'), `0-${cuts[1] - 1}`, 'and how far it got');
    loc = await patch(b, loc, 1);
    // C knows where the session is: a chunk that does not start there is refused.
    const wrong = await fetch(new URL(loc, c.url), { method: 'PATCH', body: new Uint8Array(part(2)), headers: { ...h, 'content-type': 'application/octet-stream', 'content-range': `${cuts[1]}-${cuts[1] + part(2).length - 1}` } });
    assert.equal(wrong.status, 416, `a chunk at a stale offset is refused on C: ${await wrong.text()}`);
    // A's running hash stopped at chunk 0; B moved the session on since.
    loc = await patch(a, loc, 2);
    const closeUrl = new URL(loc, c.url);
    closeUrl.searchParams.set('digest', digest);
    const put = await fetch(closeUrl, { method: 'PUT', body: new Uint8Array(part(3)), headers: { ...h, 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, `closing PUT on C: ${await put.text()}`);
    assert.equal(put.headers.get('docker-content-digest'), digest);
    for (const p of procs) {
      const r = await fetch(`${p.url}/v2/cluster/chunked/blobs/${digest}`, { headers: h });
      assert.equal(r.status, 200, `GET on ${p.url}`);
      const got = Buffer.from(await r.arrayBuffer());
      assert.equal(got.length, data.length, `${p.url} serves the whole blob`);
      assert.equal(sha256(got), digest, `${p.url} serves the right bytes`);
    }
    assert.equal((await fetch(new URL(loc, b.url), { headers: h })).status, 404, 'the closed session is gone on B too');
  });

  test('podman pushes through the load balancer and pulls back what every process serves', async () => {
    requireTool('podman');
    const root = path.join(work, 'podman');
    for (const d of ['root', 'run', 'tmp']) await mkdir(path.join(root, d), { recursive: true });
    const storageConf = path.join(root, 'storage.conf');
    await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${path.join(root, 'root')}"\nrunroot = "${path.join(root, 'run')}"\n`);
    const env = { ...containers.env, CONTAINERS_STORAGE_CONF: storageConf, XDG_RUNTIME_DIR: path.join(root, 'run'), XDG_DATA_HOME: path.join(root, 'xdg-data') };
    const args = ['--root', path.join(root, 'root'), '--runroot', path.join(root, 'run'), '--storage-driver', 'vfs', '--tmpdir', path.join(root, 'tmp'), '--events-backend=file', '--cgroup-manager=cgroupfs', '--network-config-dir', path.join(root, 'net')];
    const podman = (a: string[]) => { const [cmd, x] = isolate(path.join(root, 'isolated'), 'podman', [...args, ...a]); return runOk(cmd, x, { env, timeoutMs: 180_000 }); };
    // podman names an image pulled from oci:DIR after DIR, which must be lowercase.
    const layout = path.join(tmpdir(), `berth-cluster-podman-${randomBytes(6).toString('hex')}`);
    try {
      const img = makeImage({ layers: 2, label: 'podman' });
      await writeLayout(layout, { v1: img });
      await podman(['pull', '--signature-policy', containers.policy, `oci:${layout}:v1`]);
      const remote = `${lb.host}/cluster/podman:v1`;
      await podman(['tag', img.configDesc.digest.slice('sha256:'.length), remote]);
      const digestFile = path.join(root, 'pushed.digest');
      await podman(['push', '--tls-verify=false', '--creds', CREDS, '--signature-policy', containers.policy, '--format', 'oci', '--digestfile', digestFile, remote]);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      const token = await tokenFor(lb.url, ['repository:cluster/podman:pull']);
      const m = await fetch(`${procs[2].url}/v2/cluster/podman/manifests/v1`, { headers: { ...bearer(token), accept: ACCEPT_ALL } });
      assert.equal(m.status, 200);
      const manifest = Buffer.from(await m.arrayBuffer());
      assert.equal(sha256(manifest), digest, 'the manifest podman pushed');
      const parsed = JSON.parse(manifest.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
      const pushed: Pushed = { repo: 'cluster/podman', tag: 'v1', digest, manifest, blobs: [parsed.config, ...parsed.layers].map((d) => ({ digest: d.digest, size: d.size })), how: 'podman', phase: 'podman' };
      assert.deepEqual(await checkEverywhere([pushed]), []);
      acked.push(pushed);
      await podman(['rmi', '-a', '-f']);
      const pulled = await podman(['pull', '--tls-verify=false', '--creds', CREDS, '--signature-policy', containers.policy, remote]);
      assert.ok(pulled.stdout.includes(img.configDesc.digest.slice('sha256:'.length)), `podman pull through the load balancer gives the image back: ${pulled.stdout}`);
    } finally {
      await rm(layout, { recursive: true, force: true });
    }
  });

  test('pushes through HAProxy while processes are killed: every acknowledged push survives, whole, on every process', async () => {
    const started = Date.now();
    const before = acked.length;
    let stopping = false;
    const pushers = startPushers('load', () => stopping);
    pushers.catch(() => undefined); // an unexpected error fails the test below, once the kills are done
    // A reader through the balancer meanwhile: whatever is served whole must hash to its digest.
    const partial: string[] = [];
    let reads = 0;
    const reader = (async () => {
      const token = await tokenFor(lb.url, [`repository:${REPO}:pull`]);
      while (!stopping) {
        const mine = acked.filter((p) => p.repo === REPO);
        if (mine.length === 0) { await sleep(100); continue; }
        const p = mine[randomInt(mine.length)];
        const b = p.blobs[randomInt(p.blobs.length)];
        try {
          const r = await fetch(`${lb.url}/v2/${REPO}/blobs/${b.digest}`, { headers: bearer(token), signal: AbortSignal.timeout(60_000) });
          const data = Buffer.from(await r.arrayBuffer());
          reads++;
          if (r.status === 200 && (sha256(data) !== b.digest || data.length !== b.size)) partial.push(`${b.digest} of ${p.tag} served as ${data.length} bytes hashing to ${sha256(data)}`);
          else if (r.status !== 200 && ![502, 503, 504].includes(r.status)) partial.push(`${b.digest} of ${p.tag} (acknowledged): ${r.status} ${data.toString().slice(0, 200)}`);
        } catch { /* cut off by a kill: not served whole */ }
        await sleep(25);
      }
    })();
    reader.catch(() => undefined);
    const kills: string[] = [];
    try {
      await sleep(2000);
      for (let k = 0; k < KILLS; k++) {
        await sleep(randomInt(1000, 3500));
        const i = randomInt(3);
        const inFlight = acked.length;
        await procs[i].kill();
        await sleep(randomInt(100, 1500));
        const t = Date.now();
        await startProcess(i);
        kills.push(`${NAMES[i]} at ${inFlight - before} acknowledged, back in ${Date.now() - t} ms`);
      }
      await sleep(2500);
    } finally {
      stopping = true;
      await Promise.all([pushers, reader]);
    }
    const mine = acked.slice(before);
    const fails = failed.filter((f) => f.phase === 'load');
    console.log(`# cluster load: ${mine.length} pushes acknowledged (${mine.filter((p) => p.how === 'skopeo').length} by skopeo), ${fails.length} failed, ${kills.length} kills (${kills.join('; ')}), ${reads} blob reads through HAProxy`);
    for (const f of fails) console.log(`#   not acknowledged: ${f.who} ${f.tag} at ${f.step}: ${f.reason}`);
    assert.ok(mine.length >= 10, `pushes went on through the kills (${mine.length} acknowledged)`);
    assert.deepEqual(fails.filter((f) => !f.explained), [], `failures a dying process does not explain (500s, lost blobs):\n${errorLines()}`);
    assert.deepEqual(partial, [], 'every blob served whole hashes to its digest, and no acknowledged one is missing');

    // Every process is up and serves every acknowledged push whole.
    for (const p of procs) assert.equal((await fetch(`${p.url}/readyz`)).status, 200, `${p.url} came back`);
    assert.deepEqual(await checkEverywhere(mine), [], `acknowledged pushes as each process serves them\n${errorLines()}`);
    // skopeo pulls every tag of the repository from each process directly (verifying every digest).
    for (const [i, p] of procs.entries()) {
      const out = path.join(work, `sync-${NAMES[i]}`);
      const r = await skopeo.run(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', '--src-creds', CREDS, `${p.host}/${REPO}`, out], 300_000);
      assert.equal(r.code, 0, `skopeo sync from ${p.url}: ${r.stderr.slice(-3000)}`);
      for (const a of mine) {
        const dir = path.join(out, `load:${a.tag}`);
        const m = await readFile(path.join(dir, 'manifest.json')).catch(() => Buffer.alloc(0));
        assert.equal(sha256(m), a.digest, `skopeo pulled ${a.tag} from ${p.url} with its manifest`);
        for (const b of a.blobs) {
          const file = path.join(dir, b.digest.slice('sha256:'.length));
          assert.ok(existsSync(file), `skopeo pulled blob ${b.digest} of ${a.tag} from ${p.url}`);
          assert.equal(sha256(await readFile(file)), b.digest);
        }
      }
      await rm(out, { recursive: true, force: true });
    }
    // Every acknowledged push is in the one audit chain, which is whole.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = (await client.query<{ resource: string }>("select resource from audit_log where action = 'manifest.push'")).rows;
      const recorded = new Set(rows.map((r) => r.resource));
      assert.deepEqual(mine.filter((a) => !recorded.has(`repository:${a.repo}@${a.digest}`)).map((a) => a.tag), [], 'every acknowledged push is on record');
    } finally {
      await client.end();
    }
    const verify = await auditVerify();
    console.log(`# cluster load: ${verify}; wall ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test('a change through one process is seen by the others within 5 s: a moved tag, a revoked access token', async () => {
    const [a, b, c] = procs;
    const token = await tokenFor(a.url, ['repository:cluster/moving:pull,push']);
    const first = await httpPush(a.url, 'cluster/moving', 'latest', bearer(token), { phase: 'changes' });
    const served = async (p: BerthProcess) => (await fetch(`${p.url}/v2/cluster/moving/manifests/latest`, { method: 'HEAD', headers: { ...bearer(token), accept: MT.ociManifest } })).headers.get('docker-content-digest');
    for (const p of [b, c]) assert.equal(await within5s(() => served(p), (d) => d === first.digest), first.digest, `${p.url} serves the new tag`);
    const second = await httpPush(a.url, 'cluster/moving', 'latest', bearer(token), { phase: 'changes' });
    acked.push(second);
    for (const p of [b, c]) assert.equal(await within5s(() => served(p), (d) => d === second.digest), second.digest, `${p.url} serves the moved tag`);

    // An access token made through A works on B and C (as a password, and for registry tokens), until A revokes it.
    const made = await fetch(`${a.url}/api/v1/user/tokens`, { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cluster', scopes: [{ pattern: 'cluster/**', actions: ['pull'] }] }) });
    assert.equal(made.status, 201, await made.clone().text());
    const { token: { id }, secret } = (await made.json()) as { token: { id: string }; secret: string };
    const viaSecret = basic('admin', secret);
    const registryToken = await tokenFor(b.url, ['repository:cluster/moving:pull'], viaSecret);
    const status = (p: BerthProcess, auth: string) => fetch(`${p.url}/v2/cluster/moving/tags/list`, { headers: { authorization: auth } }).then((r) => r.status);
    for (const p of [b, c]) {
      assert.equal(await status(p, viaSecret), 200, `${p.url} takes the access token`);
      assert.equal(await status(p, `Bearer ${registryToken}`), 200, `${p.url} takes a registry token obtained with it`);
    }
    const revoke = await fetch(`${a.url}/api/v1/user/tokens/${id}`, { method: 'DELETE', headers: { authorization: ADMIN } });
    assert.ok(revoke.status === 204 || revoke.status === 200, `revoked through A: ${revoke.status}`);
    for (const p of [b, c]) {
      assert.equal(await within5s(() => status(p, viaSecret), (s) => s === 401), 401, `${p.url} refuses the revoked access token`);
      assert.equal(await within5s(() => status(p, `Bearer ${registryToken}`), (s) => s === 401), 401, `${p.url} refuses the registry token obtained with it`);
    }
  });

  test('berth gc --grace 0 beside three processes taking pushes spares every acknowledged image, and removes a planted blob', async () => {
    const token = await tokenFor(lb.url, ['repository:cluster/planted:pull,push']);
    const planted = randomBytes(200_000);
    await uploadBlob(lb.url, 'cluster/planted', planted, bearer(token), 1);
    const plantedDigest = sha256(planted);
    const plantedFile = path.join(storeDir, 'blobs', 'sha256', plantedDigest.slice(7, 9), plantedDigest.slice(7));
    assert.ok(existsSync(plantedFile), `the planted blob is stored at ${plantedFile}`);
    await sleep(50); // its touch lies before the collections' cutoff
    const before = acked.length;
    let stopping = false;
    // With no grace, a blob uploaded before a collection began and referenced after it may be collected:
    // that push is refused (MANIFEST_BLOB_UNKNOWN, or BLOB_COLLECTED mid-publication), never acknowledged.
    const explain = (e: PushFailed) => /MANIFEST_BLOB_UNKNOWN|collected|blob unknown|manifest blob unknown/i.test(e.reason);
    const pushers = startPushers('gc', () => stopping, explain);
    pushers.catch(() => undefined); // awaited below
    const reports: Record<string, number>[] = [];
    try {
      await sleep(1500);
      for (let k = 0; k < 4; k++) {
        const gc = await runCli(['gc', '--grace', '0', '--json', '--config', cliConfig]);
        assert.equal(gc.code, 0, `berth gc: ${gc.stdout}${gc.stderr}`);
        reports.push(JSON.parse(gc.stdout) as Record<string, number>);
        await sleep(randomInt(200, 1000));
      }
    } finally {
      stopping = true;
      await pushers;
    }
    const mine = acked.slice(before);
    const fails = failed.filter((f) => f.phase === 'gc');
    console.log(`# cluster gc: ${reports.length} collections (${reports.map((r) => `${r.blobsRemoved} blobs, ${r.unlinked} links`).join('; ')}) during ${mine.length} acknowledged pushes, ${fails.length} refused`);
    for (const f of fails) console.log(`#   not acknowledged: ${f.who} ${f.tag} at ${f.step}: ${f.reason}`);
    assert.deepEqual(fails.filter((f) => !f.explained), [], `refusals a collection does not explain:\n${errorLines()}`);
    assert.ok(mine.length >= 3, `pushes went on beside the collections (${mine.length} acknowledged)`);
    assert.ok(reports.some((r) => r.blobsRemoved > 0), 'the collections removed something');
    for (const p of procs) {
      const r = await fetch(`${p.url}/v2/cluster/planted/blobs/${plantedDigest}`, { headers: bearer(token) });
      assert.equal(r.status, 404, `${p.url} no longer serves the planted blob`);
      assert.deepEqual(errorCodes(Buffer.from(await r.arrayBuffer())), ['BLOB_UNKNOWN']);
    }
    assert.ok(!existsSync(plantedFile), 'its file is gone from the shared store');
    // Everything acknowledged in this whole run, before and during the collections, on every process.
    assert.deepEqual(await checkEverywhere(acked), [], `acknowledged images after gc --grace 0\n${errorLines()}`);
    await auditVerify();
    console.log(`# cluster total: ${acked.length} pushes acknowledged, ${failed.length} not (${failed.filter((f) => f.phase === 'load').length} while processes died, ${fails.length} beside gc)`);
  });
});

/** Polls until `ok(value)`, for at most 5 s; the last value. */
async function within5s<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  let v = await get();
  while (!ok(v) && Date.now() < deadline) {
    await sleep(100);
    v = await get();
  }
  return v;
}
