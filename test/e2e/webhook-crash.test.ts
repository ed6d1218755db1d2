// "Nothing lost": webhook events survive SIGKILL. Two global endpoints (Distribution v1 and CloudEvents)
// point at a receiver that is down at first (nothing listening), later answers 503, and in the last rounds
// answers 200 (so kills also land in the middle of deliveries). Each round pushes small images concurrently
// (Basic auth as admin), records every push acknowledged with 201, SIGKILLs Berth at a random moment (or
// right after the last 201) and restarts it on the same data directory. At the end the receiver is up and
// every acknowledged push must arrive at BOTH endpoints (duplicates are allowed: at least once, and they
// are counted by event id), have its audit record, and the audit chain must verify.
// Knobs: BERTH_WEBHOOK_CRASH_ROUNDS (default 6), BERTH_WEBHOOK_CRASH_WORKERS (default 4).
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { ApiClient, basicAuth, type ApiResult } from '../helpers/api.js';
import { ADMIN_PASSWORD, freePort, removeDir, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256 } from '../helpers/oci.js';
import { Receiver, eventsOf, waitFor } from '../helpers/receiver.js';

const ROUNDS = Number(process.env.BERTH_WEBHOOK_CRASH_ROUNDS ?? 6);
const WORKERS = Number(process.env.BERTH_WEBHOOK_CRASH_WORKERS ?? 4);
const AUTH = basicAuth('admin', ADMIN_PASSWORD);
// maxAttempts is high and the backoff short but not tiny: while the receiver is down during the rounds the
// head delivery of each endpoint must not run out of attempts (at >= 1 s per retry once capped, 100
// attempts take longer than the whole test).
const CONFIG = { webhooks: { allowLoopback: true, backoffBase: 0.05, backoffMax: 2, maxAttempts: 100, timeout: 2 } };

interface Acked { repo: string; tag: string; digest: string; round: number }

class Killed extends Error {}

interface RoundState { acked: Acked[]; unexpected: string[]; killing: boolean }

/** fetch that turns a failure after the kill began into Killed (and one before it into a test failure). */
async function req(st: RoundState, url: string | URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (st.killing) throw new Killed(String(e));
    throw e;
  }
}
async function drain(st: RoundState, res: Response): Promise<string> {
  try { return await res.text(); } catch (e) { if (st.killing) throw new Killed(String(e)); throw e; }
}

async function pushBlob(st: RoundState, base: string, repo: string, data: Buffer): Promise<boolean> {
  const headers = { authorization: AUTH };
  const start = await req(st, `${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  const startText = await drain(st, start);
  if (start.status !== 202) { if (!st.killing) st.unexpected.push(`POST upload ${repo}: ${start.status} ${startText.slice(0, 200)}`); return false; }
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', sha256(data));
  const put = await req(st, loc, { method: 'PUT', body: new Uint8Array(data), headers: { ...headers, 'content-type': 'application/octet-stream' } });
  const putText = await drain(st, put);
  if (put.status !== 201) { if (!st.killing) st.unexpected.push(`PUT upload ${repo}: ${put.status} ${putText.slice(0, 200)}`); return false; }
  return true;
}

/** Pushes up to `count` small images (config + one layer + manifest with a tag) until stopped or killed. */
async function worker(base: string, id: number, round: number, count: number, st: RoundState, stopped: () => boolean): Promise<void> {
  const repo = `crash/w${id % 3}`; // workers share repositories
  try {
    for (let i = 0; i < count && !stopped(); i++) {
      const tag = `r${round}-w${id}-${i}`;
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { tag, nonce: randomBytes(8).toString('hex') } } }));
      const layer = randomBytes(512 + randomInt(4096));
      if (!(await pushBlob(st, base, repo, config)) || !(await pushBlob(st, base, repo, layer))) return;
      const body = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MT.ociLayer, digest: sha256(layer), size: layer.length }],
      }));
      const res = await req(st, `${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(body), headers: { authorization: AUTH, 'content-type': MT.ociManifest } });
      const text = await drain(st, res);
      if (res.status === 201) st.acked.push({ repo, tag, digest: sha256(body), round });
      else if (!st.killing) st.unexpected.push(`PUT manifest ${repo}:${tag}: ${res.status} ${text.slice(0, 200)}`);
    }
  } catch (e) {
    if (!(e instanceof Killed)) st.unexpected.push(`worker ${id} round ${round}: ${String(e)}`);
  }
}

test('webhook events of acknowledged pushes survive SIGKILL: every one reaches both endpoints', { timeout: 180_000 }, async (t) => {
  const dataDir = await tempDir('berth-webhook-crash-');
  const receiverPort = await freePort(); // reserved: nothing listens there at first
  let mode: 'down' | 503 | 200 = 'down';
  let rcv: Receiver | undefined;
  let b: BerthProcess | undefined;
  const acked: Acked[] = [];
  const unexpected: string[] = [];
  const kills: string[] = [];
  try {
    b = await startBerth({ dataDir, auth: true, config: CONFIG });
    const port = b.port;
    const admin = new ApiClient(b.url, AUTH);
    assert.equal((await admin.post('/organizations', { name: 'crash' })).status, 201);
    const url = (p: string) => `http://127.0.0.1:${receiverPort}${p}`;
    const v1 = await admin.post('/webhooks', { name: 'dist', url: url('/v1'), format: 'distribution-v1', events: ['push'] });
    const ce = await admin.post('/webhooks', { name: 'ce', url: url('/ce'), format: 'cloudevents', events: ['push'] });
    assert.equal(v1.status, 201);
    assert.equal(ce.status, 201);
    const endpointIds = [v1.body.webhook.id as number, ce.body.webhook.id as number];

    for (let round = 0; round < ROUNDS; round++) {
      // The receiver: down for the first third of the rounds, answering 503 for the second, 200 for the last.
      const want = round < ROUNDS / 3 ? 'down' : round < (2 * ROUNDS) / 3 ? 503 : 200;
      if (want !== 'down' && !rcv) {
        rcv = await new Receiver().start(receiverPort);
        for (const p of ['/v1', '/ce']) rcv.on(p, () => (mode === 200 ? { status: 200, delayMs: randomInt(20) } : 503));
      }
      mode = want;

      const st: RoundState = { acked: [], unexpected: [], killing: false };
      let stop = false;
      const afterLast = round % 3 === 1; // kill right after the last 201
      const workers = Array.from({ length: WORKERS }, (_, id) => worker(b!.url, id, round, afterLast ? 3 : 25, st, () => stop));
      if (afterLast) {
        await Promise.all(workers);
        st.killing = true;
        kills.push(`round ${round}: right after the last 201 (${st.acked.length} pushes)`);
      } else {
        await new Promise((r) => setTimeout(r, 100 + randomInt(1400)));
        st.killing = true;
        kills.push(`round ${round}: during the pushes (${st.acked.length} acknowledged so far)`);
      }
      await b!.kill();
      stop = true;
      await Promise.all(workers);
      acked.push(...st.acked);
      unexpected.push(...st.unexpected);
      b = await startBerth({ dataDir, port, auth: true, config: CONFIG });
    }
    t.diagnostic(`kills: ${kills.join('; ')}`);
    assert.deepEqual(unexpected, [], 'no push failed before a kill');
    assert.ok(acked.length >= ROUNDS, `pushes were acknowledged (${acked.length})`);

    // The receiver comes up for good; every acknowledged push must reach both endpoints.
    if (!rcv) {
      rcv = await new Receiver().start(receiverPort);
      for (const p of ['/v1', '/ce']) rcv.on(p, () => (mode === 200 ? 200 : 503));
    }
    mode = 200;
    const r = rcv;
    const arrived = (p: string) => {
      const keys = new Set<string>();
      for (const d of r.accepted(p)) for (const e of eventsOf(d)) keys.add(`${e.repository}:${e.tag}@${e.digest}`);
      return keys;
    };
    const missing = () => {
      const v1Keys = arrived('/v1');
      const ceKeys = arrived('/ce');
      return acked.filter((a) => { const k = `${a.repo}:${a.tag}@${a.digest}`; return !v1Keys.has(k) || !ceKeys.has(k); });
    };
    try {
      await waitFor('every acknowledged push at both endpoints', () => missing().length === 0, 60_000, 100);
    } catch {
      assert.fail(`${missing().length} of ${acked.length} acknowledged pushes never arrived at both endpoints: ${missing().slice(0, 10).map((a) => `${a.repo}:${a.tag}@${a.digest} (round ${a.round})`).join(', ')}`);
    }
    // The payloads are what a push delivers, in both formats.
    for (const d of r.accepted('/v1')) {
      assert.equal(d.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      for (const e of eventsOf(d)) assert.equal(e.kind, 'push');
    }
    for (const d of r.accepted('/ce')) {
      assert.equal(d.headers['content-type'], 'application/cloudevents+json');
      assert.equal(eventsOf(d)[0]!.kind, 'io.berth.manifest.pushed');
    }

    // Duplicates (at least once), by event id: the signature header's id and the payload's id agree.
    const dupes: Record<string, number> = {};
    for (const p of ['/v1', '/ce']) {
      const ids = r.accepted(p).map((d) => {
        const id = String(d.headers['berth-webhook-id']);
        assert.equal(eventsOf(d)[0]!.id, id);
        return id;
      });
      dupes[p] = ids.length - new Set(ids).size;
    }
    const ackedDigests = new Set(acked.map((a) => a.digest));
    const extra = [...arrived('/v1')].filter((k) => !ackedDigests.has(k.split('@')[1]!)).length;
    t.diagnostic(`rounds ${ROUNDS}, acknowledged pushes ${acked.length}, requests received /v1 ${r.at('/v1').length} /ce ${r.at('/ce').length}, ` +
      `accepted /v1 ${r.accepted('/v1').length} /ce ${r.accepted('/ce').length}, duplicates /v1 ${dupes['/v1']} /ce ${dupes['/ce']}, ` +
      `events of pushes committed but not acknowledged (cut by a kill) ${extra}`);

    // Every delivery ends delivered: none dead-lettered on the way.
    const admin2 = new ApiClient(b!.url, AUTH);
    await waitFor('every delivery recorded as delivered', async () => {
      for (const id of endpointIds) {
        let before: string | null = null;
        do {
          const page: ApiResult = await admin2.get(`/webhooks/${id}/deliveries?n=200${before ? `&before=${before}` : ''}`);
          assert.equal(page.status, 200);
          for (const d of page.body.items) {
            assert.notEqual(d.state, 'dead', `delivery ${d.id} to endpoint ${id} was dead-lettered: ${d.lastError}`);
            if (d.state !== 'delivered') return false;
          }
          before = page.body.next;
        } while (before);
      }
      return true;
    }, 30_000, 200);

    // Every acknowledged push is on record in the audit log, and the chain verifies.
    const resources: string[] = [];
    let before: string | null = null;
    do {
      const page: ApiResult = await admin2.get(`/audit?action=manifest.push&n=1000${before ? `&before=${before}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      resources.push(...page.body.items.map((x: { resource: string }) => x.resource));
      before = page.body.next;
    } while (before);
    const unaudited = acked.filter((a) => !resources.some((res) => res.includes(a.digest)));
    assert.deepEqual(unaudited, [], 'every acknowledged push has its audit record');
    for (const a of acked) assert.ok(resources.includes(`repository:${a.repo}@${a.digest}`), `${a.repo}@${a.digest}`);
    const verify = await admin2.get('/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));
    assert.ok(verify.body.records >= acked.length);

    // And the pushes themselves are still there.
    for (const a of acked) {
      const h: Response = await fetch(`${b!.url}/v2/${a.repo}/manifests/${a.tag}`, { method: 'HEAD', headers: { authorization: AUTH, accept: MT.ociManifest } });
      assert.equal(h.status, 200, `${a.repo}:${a.tag}`);
      assert.equal(h.headers.get('docker-content-digest'), a.digest);
    }
  } finally {
    await b?.stop();
    await rcv?.close();
    await removeDir(dataDir);
  }
});
