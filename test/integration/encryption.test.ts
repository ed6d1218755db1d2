// Encryption at rest against a running server: nothing readable on disk (blobs and uploads in progress),
// ranges across segment boundaries, turning it on and off for an existing registry, rotation and
// retirement with `berth keys` beside the server, a missing or wrong key at start, tampered content.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { CLI, databaseEnvOf, freePort, removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { pushBlob, pushRandomImage, sha256 } from '../helpers/oci.js';
import { spawn } from 'node:child_process';

const SEGMENT = 64 * 1024;

/** Content that carries a marker many times over, so that any plaintext on disk is found. */
function marked(marker: string, size: number): Buffer {
  const m = Buffer.from(marker);
  const b = randomBytes(size);
  for (let at = 0; at + m.length <= size; at += 4096) m.copy(b, at);
  return b;
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walkFiles(p);
    else yield p;
  }
}

/** The files under storage/ that hold `marker` in the clear. */
async function filesWith(dataDir: string, marker: string): Promise<string[]> {
  const hits: string[] = [];
  const m = Buffer.from(marker);
  for await (const f of walkFiles(path.join(dataDir, 'storage'))) if ((await readFile(f)).includes(m)) hits.push(path.relative(dataDir, f));
  return hits;
}

async function storedFiles(dataDir: string, under: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of walkFiles(path.join(dataDir, 'storage', under))) out.push(path.relative(path.join(dataDir, 'storage'), f));
  return out;
}

/** A data dir with its own config file, started and stopped as the test needs, and the CLI pointed at both. */
class Registry {
  b?: BerthProcess;
  readonly config: string;
  constructor(readonly dataDir: string, public settings: Record<string, unknown>) {
    this.config = path.join(dataDir, '..', `${path.basename(dataDir)}-config.yaml`);
  }

  static async create(settings: Record<string, unknown>): Promise<Registry> {
    return new Registry(await tempDir('berth-enc-'), settings);
  }

  get url(): string { return this.b!.url; }

  async start(settings = this.settings): Promise<BerthProcess> {
    this.settings = settings;
    await this.writeConfig();
    this.b = await startBerth({ dataDir: this.dataDir, config: settings });
    return this.b;
  }

  private async writeConfig(): Promise<void> {
    await writeFile(this.config, stringify({ auth: { enabled: false }, ...this.settings }));
  }

  /** Tries a start that must fail; returns what it printed. */
  async startFails(): Promise<string> {
    await this.writeConfig();
    const port = await freePort();
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data', this.dataDir, '--config', this.config], {
        env: { ...process.env, ...databaseEnvOf(this.dataDir), BERTH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout!.on('data', (d) => (out += d));
      p.stderr!.on('data', (d) => (out += d));
      const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`berth started although it must not:\n${out}`)); }, 20_000);
      p.on('exit', (code) => { clearTimeout(timer); assert.notEqual(code, 0); resolve(out); });
    });
  }

  async stop(): Promise<void> { await this.b?.stop(); this.b = undefined; }

  async cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    await this.writeConfig();
    return runCli([...args, '--data', this.dataDir, '--config', this.config]);
  }

  async status(): Promise<KeysStatus> {
    const r = await this.cli('keys', 'status', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as KeysStatus;
  }

  /** Waits until the last complete walk left the store in `mode` (under the current key). */
  async walked(mode: 'encrypt' | 'decrypt', timeoutMs = 120_000): Promise<KeysStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      const current = s.keys.find((k) => k.current)?.id ?? null;
      const r = s.lastWalk?.report;
      if (mode === 'decrypt' && !s.enabled && s.keys.every((k) => k.state === 'retired')) return s;
      if (mode === 'encrypt' && r?.complete && r.mode === 'encrypt' && r.currentKey === current && !s.walk) return s;
      if (Date.now() > deadline) throw new Error(`the ${mode} walk did not finish: ${JSON.stringify(s)}`);
      await new Promise((res) => setTimeout(res, 300));
    }
  }

  async remove(): Promise<void> {
    await this.stop();
    await removeDir(this.dataDir);
    await removeDir(this.config);
  }
}

interface KeysStatus {
  enabled: boolean; provider?: string;
  keys: { id: string; state: 'active' | 'retired'; current: boolean; present: boolean }[];
  walk: { id: string; state: string } | null;
  lastWalk: { report: { mode: string; complete: boolean; currentKey: string | null; files: number; byKey: Record<string, number>; plain: number; encrypted: number; rewrapped: number; decrypted: number } } | null;
}

const ON = { storage: { encryption: { enabled: true } } };
const OFF = { storage: { encryption: { enabled: false } } };

async function getBlob(url: string, name: string, digest: string, range?: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${url}/v2/${name}/blobs/${digest}`, { headers: range ? { range } : {} });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

describe('encryption at rest', () => {
  const registries: Registry[] = [];
  const registry = async (settings: Record<string, unknown>) => {
    const r = await Registry.create(settings);
    registries.push(r);
    return r;
  };
  after(async () => { for (const r of registries) await r.remove(); });

  test('nothing readable on disk: blobs, uploads in progress, the key file 0600; ranges across segments read back', async () => {
    const r = await registry(ON);
    await r.start();
    const marker = `berth-marker-${randomUUID()}`;
    const small = marked(marker, 10_000);
    const large = marked(marker, 5 * SEGMENT + 1234);
    const exact = marked(marker, 2 * SEGMENT);
    for (const b of [small, large, exact]) await pushBlob(r.url, 'enc/app', b);
    const img = await pushRandomImage(r.url, 'enc/app', 'v1', { layers: 2, layerSize: 300_000 });

    // An upload in progress: two chunks in, not finished.
    const start = await fetch(`${r.url}/v2/enc/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    let loc = new URL(start.headers.get('location')!, r.url).toString();
    const pending = marked(marker, 150_000);
    for (const [from, to] of [[0, 70_000], [70_000, 150_000]]) {
      const res = await fetch(loc, { method: 'PATCH', body: new Uint8Array(pending.subarray(from, to)), headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` } });
      assert.equal(res.status, 202, await res.text());
      loc = new URL(res.headers.get('location')!, r.url).toString();
    }

    assert.deepEqual(await filesWith(r.dataDir, marker), [], 'no stored file holds the marker in the clear');
    const blobs = await storedFiles(r.dataDir, 'blobs');
    assert.ok(blobs.length >= 6 && blobs.every((f) => f.endsWith('.enc')), `every stored blob is encrypted: ${blobs.join(', ')}`);
    assert.ok((await storedFiles(r.dataDir, 'uploads')).some((f) => f.endsWith('.enc')), 'the upload in progress is encrypted');
    const keyFile = await stat(path.join(r.dataDir, 'secrets', 'storage.keys'));
    assert.equal(keyFile.mode & 0o777, 0o600);

    // Clients see plaintext digests and sizes; ranges decrypt only what they touch, at and across boundaries.
    for (const b of [small, large, exact]) {
      const got = await getBlob(r.url, 'enc/app', sha256(b));
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(b));
      const head = await fetch(`${r.url}/v2/enc/app/blobs/${sha256(b)}`, { method: 'HEAD' });
      assert.equal(head.headers.get('content-length'), String(b.length));
    }
    for (const [s, e] of [[0, 0], [SEGMENT - 1, SEGMENT], [SEGMENT, 2 * SEGMENT - 1], [SEGMENT - 10, 3 * SEGMENT + 10], [5 * SEGMENT, 5 * SEGMENT + 1233], [100, 5 * SEGMENT + 1233]]) {
      const got = await getBlob(r.url, 'enc/app', sha256(large), `bytes=${s}-${e}`);
      assert.equal(got.status, 206, `range ${s}-${e}`);
      assert.ok(got.body.equals(large.subarray(s, e + 1)), `range ${s}-${e} reads back`);
    }
    const tail = await getBlob(r.url, 'enc/app', sha256(exact), `bytes=${2 * SEGMENT - 5}-`);
    assert.ok(tail.body.equals(exact.subarray(2 * SEGMENT - 5)));
    for (const l of img.layers) assert.ok((await getBlob(r.url, 'enc/app', sha256(l))).body.equals(l));

    // The upload resumes and finishes as any other.
    const rest = marked(marker, 20_000);
    const put = await fetch(`${loc}${loc.includes('?') ? '&' : '?'}digest=${sha256(Buffer.concat([pending, rest]))}`, {
      method: 'PUT', body: new Uint8Array(rest), headers: { 'content-type': 'application/octet-stream', 'content-range': `150000-169999` },
    });
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlob(r.url, 'enc/app', sha256(Buffer.concat([pending, rest])))).body.equals(Buffer.concat([pending, rest])));
    assert.deepEqual(await filesWith(r.dataDir, marker), []);
    await r.stop();
  });

  test('turned on for an existing registry it encrypts what is stored while serving; turned off it decrypts, and the keys are retired', async () => {
    const r = await registry(OFF);
    await r.start({});
    const marker = `berth-marker-${randomUUID()}`;
    const content = [marked(marker, 3000), marked(marker, 4 * SEGMENT + 7), marked(marker, 700_000)];
    for (const c of content) await pushBlob(r.url, 'legacy/app', c);
    const img = await pushRandomImage(r.url, 'legacy/app', 'v1', { layers: 3, layerSize: 200_000 });
    assert.ok((await filesWith(r.dataDir, marker)).length >= 3, 'plain before');
    await r.stop();

    await r.start(ON);
    const s = await r.walked('encrypt');
    assert.ok(s.lastWalk!.report.encrypted >= 7, `the walk encrypted the blobs: ${JSON.stringify(s.lastWalk)}`);
    assert.equal(s.lastWalk!.report.plain, 0);
    assert.deepEqual(await filesWith(r.dataDir, marker), []);
    for (const c of content) assert.ok((await getBlob(r.url, 'legacy/app', sha256(c))).body.equals(c));
    for (const l of img.layers) assert.ok((await getBlob(r.url, 'legacy/app', sha256(l))).body.equals(l));
    const m = await fetch(`${r.url}/v2/legacy/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(m.status, 200);
    await r.stop();

    await r.start(OFF);
    const off = await r.walked('decrypt');
    assert.ok(off.keys.length >= 1 && off.keys.every((k) => k.state === 'retired'));
    assert.deepEqual((await storedFiles(r.dataDir, 'blobs')).filter((f) => f.endsWith('.enc')), [], 'nothing encrypted is left');
    assert.ok((await filesWith(r.dataDir, marker)).length >= 3, 'plain again');
    for (const c of content) assert.ok((await getBlob(r.url, 'legacy/app', sha256(c))).body.equals(c));
    await r.stop();
    // With everything plain and the keys retired, the key file is no longer needed.
    await rename(path.join(r.dataDir, 'secrets', 'storage.keys'), path.join(r.dataDir, 'secrets', 'storage.keys.old'));
    await r.start(OFF);
    for (const c of content) assert.ok((await getBlob(r.url, 'legacy/app', sha256(c))).body.equals(c));
    await r.stop();
  });

  test('rotation beside the server: a new current key, a walk that re-wraps, retirement only once nothing needs the old key', async () => {
    const r = await registry(ON);
    await r.start();
    const before = [randomBytes(5000), randomBytes(3 * SEGMENT)];
    for (const c of before) await pushBlob(r.url, 'rot/app', c);
    await r.walked('encrypt');
    const first = (await r.status()).keys.find((k) => k.current)!.id;
    await r.stop();

    // Rotated while no server runs: the walk waits in the queue, and the old key is still needed.
    const rot = await r.cli('keys', 'rotate');
    assert.equal(rot.code, 0, rot.stderr);
    const s1 = await r.status();
    const second = s1.keys.find((k) => k.current)!.id;
    assert.notEqual(second, first);
    assert.ok(s1.walk, 'the re-wrap walk is queued');
    const early = await r.cli('keys', 'retire', first);
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /still open only with storage key/);
    const current = await r.cli('keys', 'retire', second);
    assert.notEqual(current.code, 0);
    assert.match(current.stderr, /is the current key/);

    // The server takes the walk; what is pushed meanwhile is under the new key.
    await r.start();
    const later = randomBytes(2 * SEGMENT + 1);
    await pushBlob(r.url, 'rot/app', later);
    const s2 = await r.walked('encrypt');
    assert.deepEqual(Object.keys(s2.lastWalk!.report.byKey), [second], `every file opens with the new key: ${JSON.stringify(s2.lastWalk!.report)}`);
    assert.ok(s2.lastWalk!.report.rewrapped >= 2);

    // Rotating again with --wait beside the running server, then retiring both older keys.
    const rot2 = await r.cli('keys', 'rotate', '--wait');
    assert.equal(rot2.code, 0, rot2.stderr);
    const third = (await r.status()).keys.find((k) => k.current)!.id;
    await r.walked('encrypt');
    for (const id of [first, second]) {
      const ret = await r.cli('keys', 'retire', id);
      assert.equal(ret.code, 0, ret.stderr);
    }
    const s3 = await r.status();
    assert.deepEqual(s3.keys.filter((k) => k.state === 'active').map((k) => k.id), [third]);
    assert.ok(s3.keys.filter((k) => k.state === 'retired').every((k) => !k.present), 'retired keys are destroyed in the provider');
    for (const c of [...before, later]) assert.ok((await getBlob(r.url, 'rot/app', sha256(c))).body.equals(c));
    await r.stop();
    // A fresh process (no remembered data keys) reads everything with the one key left.
    await r.start();
    for (const c of [...before, later]) assert.ok((await getBlob(r.url, 'rot/app', sha256(c))).body.equals(c));
    const audit = await r.cli('audit', 'export');
    const actions = audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);
    assert.equal(actions.filter((a) => a === 'storage.key.rotate').length, 2);
    assert.equal(actions.filter((a) => a === 'storage.key.retire').length, 2);
    await r.stop();
  });

  test('a missing, wrong or world-readable key file stops the start with a clear message; the right one starts', async () => {
    const r = await registry(ON);
    await r.start();
    const data = randomBytes(100_000);
    await pushBlob(r.url, 'keys/app', data);
    await r.stop();
    const keyFile = path.join(r.dataDir, 'secrets', 'storage.keys');
    const original = await readFile(keyFile, 'utf8');

    await rename(keyFile, `${keyFile}.away`);
    assert.match(await r.startFails(), /storage\.keys is missing.*restore it from its backup/s);
    assert.ok(!(await stat(keyFile).then(() => true, () => false)), 'no new key file was made over encrypted data');

    const wrong = JSON.parse(original) as { keys: { key: string }[] };
    for (const k of wrong.keys) k.key = randomBytes(32).toString('base64');
    await writeFile(keyFile, JSON.stringify(wrong), { mode: 0o600 });
    assert.match(await r.startFails(), /is not the key this registry's data was encrypted with/);

    await rename(`${keyFile}.away`, keyFile);
    await chmod(keyFile, 0o644);
    assert.match(await r.startFails(), /may be read by other users.*chmod 600/s);
    await chmod(keyFile, 0o600);
    await r.start();
    assert.ok((await getBlob(r.url, 'keys/app', sha256(data))).body.equals(data));
    await r.stop();
  });

  test('tampered, truncated or swapped content is never served: an error to the client and a record in the audit log', async () => {
    const r = await registry(ON);
    await r.start();
    const small = randomBytes(20_000);
    const large = randomBytes(12 * SEGMENT);
    const other = randomBytes(12 * SEGMENT);
    for (const c of [small, large, other]) await pushBlob(r.url, 'tamper/app', c);
    await r.stop();
    const file = (c: Buffer) => path.join(r.dataDir, 'storage', 'blobs', 'sha256', sha256(c).slice(7, 9), `${sha256(c).slice(7)}.enc`);
    const flip = async (f: string, at: number) => { const b = await readFile(f); b[at] ^= 0x01; await writeFile(f, b); };

    await flip(file(small), 512 + 100);
    await flip(file(large), 512 + 6 * (SEGMENT + 28) + 7);
    // `other`: its segment 3 replaced by its segment 4 (a reordering), and then cut short.
    const o = await readFile(file(other));
    const rec = (i: number) => o.subarray(512 + i * (SEGMENT + 28), 512 + (i + 1) * (SEGMENT + 28));
    const swapped = Buffer.concat([o.subarray(0, 512 + 3 * (SEGMENT + 28)), rec(4), o.subarray(512 + 4 * (SEGMENT + 28))]);
    await writeFile(file(other), swapped);
    await r.start();

    const s = await getBlob(r.url, 'tamper/app', sha256(small));
    assert.equal(s.status, 500);
    const err = JSON.parse(s.body.toString()) as { errors: { code: string; message: string; detail?: { digest?: string } }[] };
    assert.equal(err.errors[0].code, 'UNKNOWN');
    assert.match(err.errors[0].message, /integrity check/);
    assert.equal(err.errors[0].detail?.digest, sha256(small));
    // A range inside a good segment still reads; one touching the bad segment fails.
    const goodRange = await getBlob(r.url, 'tamper/app', sha256(large), `bytes=0-${SEGMENT - 1}`);
    assert.equal(goodRange.status, 206);
    assert.ok(goodRange.body.equals(large.subarray(0, SEGMENT)));
    const badRange = await getBlob(r.url, 'tamper/app', sha256(large), `bytes=${6 * SEGMENT}-${6 * SEGMENT + 100}`);
    assert.equal(badRange.status, 500);

    // Streams stop at the bad segment: the client never receives the whole (wrong) blob.
    for (const c of [large, other]) {
      const res = await fetch(`${r.url}/v2/tamper/app/blobs/${sha256(c)}`);
      const body = await res.arrayBuffer().then((a) => Buffer.from(a), () => null);
      assert.ok(body === null || body.length < c.length, 'the stream is cut short');
      if (body) assert.notEqual(sha256(body), sha256(c));
    }
    await r.stop();
    await writeFile(file(other), o.subarray(0, o.length - 1000));
    await r.start();
    const cut = await fetch(`${r.url}/v2/tamper/app/blobs/${sha256(other)}`);
    const cutBody = await cut.arrayBuffer().then((a) => Buffer.from(a), () => null);
    assert.ok(cut.status === 500 || cutBody === null || cutBody.length < other.length, 'a truncated blob is not served whole');

    const audit = await r.cli('audit', 'export', '--action', 'blob.read');
    const records = audit.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { outcome: string; resource: string; detail: { reason: string } });
    for (const c of [small, large, other]) {
      assert.ok(records.some((x) => x.outcome === 'failure' && x.resource.endsWith(sha256(c)) && x.detail.reason), `audited: ${sha256(c)}`);
    }
    await r.stop();
  });
});
