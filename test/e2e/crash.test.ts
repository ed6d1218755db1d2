// End-to-end crash safety: many rounds of "start Berth on the same data dir, push concurrently,
// SIGKILL at a random moment, restart, verify". What the server acknowledged (201) must survive
// byte-for-byte; nothing may ever be served with bytes that do not hash to its digest; interrupted
// uploads either resume from the reported offset or are cleanly unknown.
// Knobs: BERTH_CRASH_ROUNDS (default 22), BERTH_CRASH_WORKERS (default 8). Problems are collected over all
// rounds (the run does not stop at the first one) and reported together at the end.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { startBerth, tempDir, removeDir, runCli, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { errorCodes } from '../helpers/registry.js';

const ROUNDS = Number(process.env.BERTH_CRASH_ROUNDS ?? 22);
const WORKERS = Number(process.env.BERTH_CRASH_WORKERS ?? 8);
const MIN_BLOB = 64 * 1024;
const MAX_BLOB = 8 * 1024 * 1024;
const SAMPLE_OLD = 40; // earlier rounds' acknowledged items re-checked each round (all are checked at the end)

interface BlobRec { repo: string; digest: string; size: number; round: number; how: string }
interface ManifestRec { repo: string; tag: string; digest: string; body: Buffer; blobs: Array<{ digest: string; size: number }>; round: number }
interface UploadRec {
  repo: string; path: string; // location path+query, re-based on the restarted server
  data: Buffer; digest: string;
  acked: number; // bytes covered by a 202 PATCH response
  attempted: number; // bytes ever sent (including a request cut by the kill)
  how: string; round: number;
}

/** log-uniform size between MIN_BLOB and MAX_BLOB */
const blobSize = () => Math.floor(Math.exp(Math.log(MIN_BLOB) + Math.random() * (Math.log(MAX_BLOB) - Math.log(MIN_BLOB))));

class RoundState {
  ackedBlobs: BlobRec[] = [];
  attemptedBlobs = new Map<string, BlobRec>(); // key repo@digest
  ackedManifests: ManifestRec[] = [];
  attemptedManifests: ManifestRec[] = [];
  openUploads = new Set<UploadRec>();
  completedUploads: string[] = []; // upload paths that got their 201: must stay closed after the restart
  unexpected: string[] = []; // HTTP responses that are wrong even without a crash
  recent: Buffer[] = []; // blobs to re-push (same digest, other repo/worker) for concurrency on one digest
  stats = { monolithic: 0, single: 0, chunked: 0, manifests: 0, interrupted: 0 };
}

function urlFor(base: string, p: string): URL { return new URL(p, base); }
function locPath(base: string, location: string | null): string {
  assert.ok(location, 'upload response without Location');
  const u = new URL(location, base);
  return u.pathname + u.search;
}

class Killed extends Error {}

/** Buffer as a fetch body (typing only; undici accepts Buffers) */
const asBody = (b: Buffer) => b as unknown as BodyInit;

/** fetch for the verification phase: a hung request fails the check instead of stalling the test */
function vfetch(url: URL | string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
}

/** fetch that turns a connection failure (the kill) into Killed */
async function req(url: URL | string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new Killed(String(e));
  }
}
async function bodyOf(res: Response): Promise<Buffer> {
  try { return Buffer.from(await res.arrayBuffer()); } catch (e) { throw new Killed(String(e)); }
}

async function worker(id: number, base: string, round: number, st: RoundState, isStopped: () => boolean) {
  const repo = id % 3 === 0 ? 'crash/shared' : `crash/w${id}`;
  const myBlobs: Array<{ digest: string; size: number }> = [];
  let n = 0;
  const unexpected = async (what: string, res: Response) => {
    const b = await bodyOf(res).catch(() => Buffer.alloc(0));
    st.unexpected.push(`round ${round} worker ${id}: ${what} -> ${res.status} ${b.toString('utf8').slice(0, 300)}`);
  };

  const pushBlob = async (data: Buffer, kind: 'monolithic' | 'single' | 'chunked'): Promise<boolean> => {
    const digest = sha256(data);
    const rec: BlobRec = { repo, digest, size: data.length, round, how: kind };
    st.attemptedBlobs.set(`${repo}@${digest}`, rec);
    st.stats[kind]++;
    if (kind === 'single') {
      const res = await req(`${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { method: 'POST', body: asBody(data), headers: { 'content-type': 'application/octet-stream' } });
      if (res.status === 201) { await bodyOf(res); st.ackedBlobs.push(rec); myBlobs.push(rec); return true; }
      if (res.status !== 202) { await unexpected(`single POST ${repo} ${digest}`, res); return false; }
      // registry chose not to finish in one request: spec says PUT the data to the session
      await bodyOf(res);
      const up: UploadRec = { repo, path: locPath(base, res.headers.get('location')), data, digest, acked: 0, attempted: data.length, how: 'single-fallback', round };
      st.openUploads.add(up);
      const u = urlFor(base, up.path); u.searchParams.set('digest', digest);
      const put = await req(u, { method: 'PUT', body: asBody(data), headers: { 'content-type': 'application/octet-stream' } });
      if (put.status !== 201) { await unexpected(`PUT ${up.path}`, put); return false; }
      await bodyOf(put); st.openUploads.delete(up); st.ackedBlobs.push(rec); myBlobs.push(rec); return true;
    }
    const start = await req(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    if (start.status !== 202) { await unexpected(`POST ${repo}/blobs/uploads/`, start); return false; }
    await bodyOf(start);
    const minChunk = Number(start.headers.get('oci-chunk-min-length') ?? 0) || 0;
    const up: UploadRec = { repo, path: locPath(base, start.headers.get('location')), data, digest, acked: 0, attempted: 0, how: kind, round };
    st.openUploads.add(up);
    if (kind === 'chunked') {
      const chunks = 2 + randomInt(5);
      let off = 0;
      for (let c = 0; c < chunks && off < data.length; c++) {
        if (isStopped()) return false;
        let len = c === chunks - 1 ? data.length - off : Math.max(minChunk, 1 + randomInt(Math.max(1, Math.floor(data.length / chunks) * 2)));
        len = Math.min(len, data.length - off);
        if (c === chunks - 1 && randomInt(2) === 0) break; // last chunk goes with the PUT below
        up.attempted = off + len;
        const res = await req(urlFor(base, up.path), {
          method: 'PATCH', body: asBody(data.subarray(off, off + len)),
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${off}-${off + len - 1}`, 'content-length': String(len) },
        });
        if (res.status !== 202) { await unexpected(`PATCH ${up.path} ${off}-${off + len - 1}`, res); st.openUploads.delete(up); return false; }
        await bodyOf(res);
        const range = res.headers.get('range');
        if (range !== `0-${off + len - 1}`) st.unexpected.push(`round ${round} worker ${id}: PATCH ${off}-${off + len - 1} answered Range: ${range}`);
        off += len; up.acked = off;
        up.path = locPath(base, res.headers.get('location'));
      }
      const u = urlFor(base, up.path); u.searchParams.set('digest', digest);
      const rest = data.subarray(off);
      up.attempted = data.length;
      const put = await req(u, {
        method: 'PUT', body: asBody(rest),
        headers: { 'content-type': 'application/octet-stream', ...(rest.length ? { 'content-range': `${off}-${data.length - 1}` } : {}) },
      });
      if (put.status !== 201) { await unexpected(`PUT ${up.path} (after ${off} bytes, ${rest.length} in PUT)`, put); st.openUploads.delete(up); return false; }
      await bodyOf(put);
    } else {
      const u = urlFor(base, up.path); u.searchParams.set('digest', digest);
      up.attempted = data.length;
      const put = await req(u, { method: 'PUT', body: asBody(data), headers: { 'content-type': 'application/octet-stream' } });
      if (put.status !== 201) { await unexpected(`PUT ${up.path} monolithic`, put); st.openUploads.delete(up); return false; }
      await bodyOf(put);
    }
    st.openUploads.delete(up);
    st.completedUploads.push(up.path);
    st.ackedBlobs.push(rec);
    myBlobs.push(rec);
    return true;
  };

  const pushManifest = async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { round: String(round), worker: String(id), n: String(n), nonce: randomBytes(8).toString('hex') } } }));
    if (!(await pushBlob(config, 'monolithic'))) return;
    const layers = myBlobs.filter((b) => b.digest !== sha256(config)).slice(-1 - randomInt(3));
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
      annotations: { 'org.example.round': String(round), 'org.example.worker': String(id) },
    }));
    const tag = `r${round}-w${id}-${n++}`;
    const rec: ManifestRec = { repo, tag, digest: sha256(body), body, blobs: [{ digest: sha256(config), size: config.length }, ...layers], round };
    st.attemptedManifests.push(rec);
    st.stats.manifests++;
    const res = await req(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': MT.ociManifest } });
    if (res.status !== 201) { await unexpected(`PUT manifest ${repo}:${tag}`, res); return; }
    await bodyOf(res);
    if (res.headers.get('docker-content-digest') !== rec.digest) st.unexpected.push(`round ${round}: PUT manifest ${repo}:${tag} Docker-Content-Digest ${res.headers.get('docker-content-digest')} != ${rec.digest}`);
    st.ackedManifests.push(rec);
  };

  try {
    while (!isStopped()) {
      const r = Math.random();
      if (myBlobs.length >= 1 && r < 0.3) { await pushManifest(); continue; }
      let data: Buffer;
      if (st.recent.length && Math.random() < 0.1) data = st.recent[randomInt(st.recent.length)]; // same digest pushed concurrently elsewhere
      else { data = randomBytes(blobSize()); st.recent.push(data); if (st.recent.length > 6) st.recent.shift(); }
      const k = Math.random();
      await pushBlob(data, k < 0.45 ? 'chunked' : k < 0.6 ? 'single' : 'monolithic');
    }
  } catch (e) {
    if (!(e instanceof Killed)) throw e;
    st.stats.interrupted++;
  }
}

interface Failures { list: string[] }
const fail = (f: Failures, msg: string) => { f.list.push(msg); };

async function checkBlobAcked(base: string, b: BlobRec, f: Failures) {
  const res = await vfetch(`${base}/v2/${b.repo}/blobs/${b.digest}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return fail(f, `acknowledged blob (round ${b.round}, ${b.how}, ${b.size} B) GET /v2/${b.repo}/blobs/${b.digest} -> ${res.status} ${body.toString().slice(0, 200)}`);
  if (body.length !== b.size || sha256(body) !== b.digest) fail(f, `acknowledged blob GET /v2/${b.repo}/blobs/${b.digest} returned ${body.length} B hashing to ${sha256(body)} (expected ${b.size} B)`);
}

async function checkBlobMaybe(base: string, b: BlobRec, f: Failures) {
  const res = await vfetch(`${base}/v2/${b.repo}/blobs/${b.digest}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status === 404) return;
  if (res.status !== 200) return fail(f, `unacknowledged blob GET /v2/${b.repo}/blobs/${b.digest} -> ${res.status} (expected 404 or 200 with exact bytes) ${body.toString().slice(0, 200)}`);
  if (body.length !== b.size || sha256(body) !== b.digest) fail(f, `CORRUPT: unacknowledged blob GET /v2/${b.repo}/blobs/${b.digest} returned 200 with ${body.length} B hashing to ${sha256(body)} (expected ${b.size} B)`);
}

async function checkManifest(base: string, m: ManifestRec, acked: boolean, f: Failures) {
  const accept = { accept: `${MT.ociManifest}, ${MT.ociIndex}` };
  for (const ref of [m.tag, m.digest]) {
    const res = await vfetch(`${base}/v2/${m.repo}/manifests/${ref}`, { headers: accept });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 404 && !acked) continue;
    if (res.status !== 200) { fail(f, `${acked ? 'acknowledged' : 'unacknowledged'} manifest (round ${m.round}) GET /v2/${m.repo}/manifests/${ref} -> ${res.status} ${body.toString().slice(0, 200)}`); continue; }
    if (!body.equals(m.body)) { fail(f, `manifest GET /v2/${m.repo}/manifests/${ref} returned different bytes (${sha256(body)} vs ${m.digest})`); continue; }
    // a visible manifest implies its blobs are there
    for (const b of m.blobs) {
      const h = await vfetch(`${base}/v2/${m.repo}/blobs/${b.digest}`, { method: 'HEAD' });
      if (h.status !== 200) fail(f, `manifest ${m.repo}@${m.digest} is served but its blob ${b.digest} HEAD -> ${h.status}`);
      else if (h.headers.get('content-length') !== String(b.size)) fail(f, `HEAD /v2/${m.repo}/blobs/${b.digest} Content-Length ${h.headers.get('content-length')} != ${b.size}`);
    }
  }
}

/** Resolves an upload interrupted by the kill: resume it to completion, or it must be BLOB_UPLOAD_UNKNOWN. */
async function checkUpload(base: string, up: UploadRec, f: Failures): Promise<BlobRec | undefined> {
  const st = await vfetch(urlFor(base, up.path));
  const stBody = Buffer.from(await st.arrayBuffer());
  if (st.status === 404) {
    const codes = errorCodes(stBody);
    if (!codes.includes('BLOB_UPLOAD_UNKNOWN')) fail(f, `GET upload status ${up.path} -> 404 without BLOB_UPLOAD_UNKNOWN: ${stBody.toString().slice(0, 200)}`);
    return undefined;
  }
  if (st.status !== 204) { fail(f, `GET upload status ${up.path} (${up.how}, acked ${up.acked}/${up.data.length} B) -> ${st.status} (expected 204 or 404) ${stBody.toString().slice(0, 200)}`); return undefined; }
  const range = st.headers.get('range');
  const m = /^(?:bytes=)?0-(-?\d+)$/.exec(range ?? '');
  if (!m) { fail(f, `GET upload status ${up.path} -> 204 with bad Range header ${JSON.stringify(range)}`); return undefined; }
  const end = Number(m[1]);
  let offset = end + 1;
  if (offset > up.attempted) { fail(f, `upload ${up.path}: server reports ${offset} bytes received but only ${up.attempted} were ever sent`); return undefined; }
  let path = st.headers.get('location') ? locPath(base, st.headers.get('location')) : up.path;
  const tryPatch = async (from: number) => {
    const chunk = up.data.subarray(from);
    return vfetch(urlFor(base, path), {
      method: 'PATCH', body: asBody(chunk),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${up.data.length - 1}`, 'content-length': String(chunk.length) },
    });
  };
  if (offset < up.data.length) {
    // "Range: 0-0" is ambiguous (empty upload, or exactly one byte): try 0 first, then 1 if the registry says 416
    if (end === 0) offset = 0;
    let res = await tryPatch(offset);
    if (res.status === 416 && end === 0 && up.attempted >= 1) { await res.arrayBuffer(); offset = 1; res = await tryPatch(1); }
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 202) { fail(f, `resuming upload ${up.path} at ${offset} (Range was ${range}) PATCH -> ${res.status} ${body.toString().slice(0, 200)}`); return undefined; }
    if (res.headers.get('location')) path = locPath(base, res.headers.get('location'));
  }
  const u = urlFor(base, path); u.searchParams.set('digest', up.digest);
  const put = await vfetch(u, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': '0' } });
  const putBody = Buffer.from(await put.arrayBuffer());
  if (put.status !== 201) {
    const h = await vfetch(`${base}/v2/${up.repo}/blobs/${up.digest}`, { method: 'HEAD' });
    fail(f, `finishing resumed upload ${up.path} (${up.how}; GET status said Range: ${range}; resumed at ${offset}/${up.data.length}) PUT ?digest=${up.digest} -> ${put.status} ${putBody.toString().slice(0, 300)} [HEAD blob -> ${h.status}]`);
    return undefined;
  }
  const rec: BlobRec = { repo: up.repo, digest: up.digest, size: up.data.length, round: up.round, how: `resumed-${up.how}@${offset}` };
  await checkBlobAcked(base, rec, f);
  return rec;
}

/** log lines worth showing in a failure: warnings, errors, aborted requests, non-2xx/404 statuses */
function notable(logs: string[]): string {
  const lines = logs.filter((l) => /"level":(40|50|60)|abort|error|"status":(4(0[0-35-9]|[1-9]\d)|5\d\d)/i.test(l));
  return (lines.length ? lines : logs).slice(-12).map((l) => `  ${l.slice(0, 600)}`).join('\n');
}

async function inPool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]); }));
}

function sample<T>(arr: T[], k: number): T[] {
  if (arr.length <= k) return arr.slice();
  const out: T[] = [];
  for (let i = 0; i < k; i++) out.push(arr[randomInt(arr.length)]);
  return out;
}

interface CrashPlan {
  rounds: number;
  /** the configuration of round `round` (its start and its restart) */
  configFor(round: number): Record<string, unknown>;
  /** started beside the round's pushes (a CLI command, say) */
  during?(round: number, berth: BerthProcess): Promise<void>;
  /** after every round and the final gc check passed, with the server running */
  finally?(berth: BerthProcess, dataDir: string): Promise<void>;
}

async function crashRun(t: TestContext, plan: CrashPlan): Promise<void> {
  const ROUNDS = plan.rounds;
  const dataDir = await tempDir('berth-e2e-crash-');
  const allBlobs: BlobRec[] = [];
  const allManifests: ManifestRec[] = [];
  const problems: string[] = []; // collected over all rounds so one run shows every failure mode
  let berth: BerthProcess | undefined;
  const t0 = Date.now();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const config = plan.configFor(round);
      berth = await startBerth({ dataDir, config });
      const base = berth.url;
      const st = new RoundState();
      let stopped = false;
      const workers = Array.from({ length: WORKERS }, (_, i) => worker(i, base, round, st, () => stopped));
      const beside = plan.during?.(round, berth);
      const delay = 50 + randomInt(751);
      await new Promise((r) => setTimeout(r, delay));
      await berth.kill();
      stopped = true;
      const results = await Promise.allSettled(beside ? [...workers, beside] : workers);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      if (st.unexpected.length) {
        problems.push(`round ${round}: Berth answered requests wrongly before the kill:\n  ${st.unexpected.slice(0, 10).join('\n  ')}\n  --- berth warnings/errors ---\n${notable(berth.logs)}`);
      }

      berth = await startBerth({ dataDir, config });
      const f: Failures = { list: [] };
      const base2 = berth.url;
      await inPool(st.ackedBlobs, 4, (b) => checkBlobAcked(base2, b, f));
      const ackedKeys = new Set(st.ackedBlobs.map((b) => `${b.repo}@${b.digest}`));
      const maybe = [...st.attemptedBlobs.entries()].filter(([k]) => !ackedKeys.has(k)).map(([, b]) => b);
      await inPool(maybe, 4, (b) => checkBlobMaybe(base2, b, f));
      await inPool(st.ackedManifests, 4, (m) => checkManifest(base2, m, true, f));
      const ackedTags = new Set(st.ackedManifests.map((m) => `${m.repo}:${m.tag}`));
      await inPool(st.attemptedManifests.filter((m) => !ackedTags.has(`${m.repo}:${m.tag}`)), 4, (m) => checkManifest(base2, m, false, f));
      for (const p of sample(st.completedUploads, 20)) {
        const r = await vfetch(urlFor(base2, p));
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 404 || !errorCodes(body).includes('BLOB_UPLOAD_UNKNOWN')) fail(f, `completed (201) upload ${p} is not closed after restart: GET -> ${r.status} ${r.headers.get('range') ?? ''} ${body.toString().slice(0, 200)}`);
      }
      let resumed = 0, unknown = 0;
      for (const up of st.openUploads) {
        const rec = await checkUpload(base2, up, f);
        if (rec) { resumed++; allBlobs.push(rec); } else unknown++;
      }
      // earlier rounds' acknowledged content is still intact
      await inPool(sample(allBlobs, SAMPLE_OLD), 4, (b) => checkBlobAcked(base2, b, f));
      await inPool(sample(allManifests, SAMPLE_OLD / 4), 4, (m) => checkManifest(base2, m, true, f));
      allBlobs.push(...st.ackedBlobs);
      allManifests.push(...st.ackedManifests);
      t.diagnostic(`round ${round}: kill after ${delay} ms; acked ${st.ackedBlobs.length} blobs (${(st.ackedBlobs.reduce((a, b) => a + b.size, 0) / 1048576).toFixed(1)} MiB), ${st.ackedManifests.length} manifests; attempted ${st.attemptedBlobs.size} blobs; interrupted uploads: ${st.openUploads.size} (resumed ${resumed}, unknown ${unknown}); ${JSON.stringify(st.stats)}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (f.list.length) {
        problems.push(`round ${round} (kill after ${delay} ms): ${f.list.length} problems after restart:\n  ${f.list.slice(0, 10).join('\n  ')}\n  --- berth warnings/errors (restart) ---\n${notable(berth.logs)}`);
      }
      if (round < ROUNDS - 1) await berth.kill();
    }
    assert.ok(allBlobs.length > ROUNDS, `too little was acknowledged to be meaningful (${allBlobs.length} blobs over ${ROUNDS} rounds)`);
    assert.ok(allManifests.length > 0, 'no manifest was acknowledged in any round');

    // garbage collection with the server stopped must keep everything acknowledged
    const lastConfig = plan.configFor(ROUNDS - 1);
    const configFile = path.join(dataDir, '..', `berth-config-${berth!.port}.yaml`);
    await berth!.stop();
    const dry = await runCli(['gc', '--data', dataDir, '--config', configFile, '--dry-run']);
    assert.equal(dry.code, 0, `berth gc --dry-run exited ${dry.code}\n${dry.stdout}\n${dry.stderr}`);
    const gc = await runCli(['gc', '--data', dataDir, '--config', configFile]);
    assert.equal(gc.code, 0, `berth gc exited ${gc.code}\n${gc.stdout}\n${gc.stderr}`);
    berth = await startBerth({ dataDir, config: lastConfig });
    const f: Failures = { list: [] };
    const base = berth.url;
    await inPool(allBlobs, 4, (b) => checkBlobAcked(base, b, f));
    await inPool(allManifests, 4, (m) => checkManifest(base, m, true, f));
    t.diagnostic(`after gc: checked ${allBlobs.length} blobs and ${allManifests.length} manifests; gc output: ${(gc.stdout + gc.stderr).trim().slice(0, 400)}`);
    if (f.list.length) problems.push(`after berth gc: ${f.list.length} acknowledged items damaged (gc grace is 1 h by default, nothing recent may go):\n  ${f.list.slice(0, 20).join('\n  ')}\n  --- berth warnings/errors ---\n${notable(berth.logs)}`);
    assert.ok(problems.length === 0, `${problems.length} of ${ROUNDS} rounds (+ final gc check) found problems:\n\n${problems.join('\n\n')}`);
    await plan.finally?.(berth, dataDir);
  } finally {
    await berth?.stop().catch(() => {});
    await berth?.kill().catch(() => {});
    await removeDir(dataDir);
  }
}

test(`crash safety: ${ROUNDS} rounds of concurrent pushes killed with SIGKILL`, { timeout: 420_000 }, async (t) => {
  await crashRun(t, { rounds: ROUNDS, configFor: () => ({}) });
});

// Encryption at rest turned on for a registry with content, a rotation, turned off and on again: each
// round's walk (encrypt, re-wrap, decrypt) runs beside the pushes and is killed wherever it is.
const ENC_ROUNDS = Number(process.env.BERTH_CRASH_ENCRYPTION_ROUNDS ?? 12);
const ENCRYPTION = (enabled: boolean) => ({ storage: { encryption: { enabled } } });

test(`crash safety: ${ENC_ROUNDS} rounds of encryption walks and a rotation under concurrent pushes, killed with SIGKILL`, { timeout: 420_000 }, async (t) => {
  // plain, plain, on ×4 (a rotation in the fourth), off ×3, on to the end
  const on = (round: number) => round >= 2 && !(round >= 6 && round <= 8);
  await crashRun(t, {
    rounds: ENC_ROUNDS,
    configFor: (round) => (round < 2 ? {} : ENCRYPTION(on(round))),
    async during(round, berth) {
      if (round !== 5) return;
      const configFile = path.join(berth.dataDir, '..', `berth-config-${berth.port}.yaml`);
      const r = await runCli(['keys', 'rotate', '--data', berth.dataDir, '--config', configFile]);
      // The kill may come first; a rotation that finished must have said so.
      t.diagnostic(`rotation in round ${round}: exit ${r.code} ${r.stdout.trim()} ${r.stderr.trim().slice(0, 200)}`);
    },
    async finally(berth, dataDir) {
      // The last walk finishes: every stored blob is encrypted under the one current key, and reads back.
      const configFile = path.join(dataDir, '..', `berth-config-${berth.port}.yaml`);
      const deadline = Date.now() + 180_000;
      let status: { keys: { id: string; current: boolean }[]; walk: unknown; lastWalk: { report: { complete: boolean; mode: string; currentKey: string; byKey: Record<string, number>; plain: number; files: number; failed: number; skippedUploads: number } } | null } | undefined;
      for (;;) {
        const r = await runCli(['keys', 'status', '--json', '--data', dataDir, '--config', configFile]);
        assert.equal(r.code, 0, r.stderr);
        status = JSON.parse(r.stdout);
        const current = status!.keys.find((k) => k.current)?.id;
        const rep = status!.lastWalk?.report;
        if (!status!.walk && rep?.complete && rep.mode === 'encrypt' && rep.currentKey === current) break;
        assert.ok(Date.now() < deadline, `the last walk did not finish: ${r.stdout}`);
        await new Promise((res) => setTimeout(res, 500));
      }
      const rep = status!.lastWalk!.report;
      // Uploads the kills left open may stay plain until their next chunk (or expiry); nothing else may.
      assert.equal(rep.failed, 0, JSON.stringify(rep));
      assert.equal(rep.plain, rep.skippedUploads, `nothing but busy uploads is left plain: ${JSON.stringify(rep)}`);
      assert.deepEqual(Object.keys(rep.byKey), [rep.currentKey]);
      const plainBlobs = (await readdirDeep(path.join(dataDir, 'storage', 'blobs'))).filter((f) => !f.endsWith('.enc'));
      assert.deepEqual(plainBlobs, []);
      t.diagnostic(`final walk: ${JSON.stringify(rep)}; keys ${JSON.stringify(status!.keys)}`);
    },
  });
});

async function readdirDeep(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await readdirDeep(p)));
    else out.push(p);
  }
  return out;
}
