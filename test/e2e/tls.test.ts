// TLS: HTTPS with a CA the test makes, skopeo and podman trusting it, TLS 1.2 as the floor,
// certificate rotation on SIGHUP without dropping open connections, and mutual TLS.
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, copyFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createCa, issueCertificate } from '../../src/tls/certificates.js';
import { removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { makeImage, writeLayout } from '../helpers/ocilayout.js';
import { containersConfig, isolate, requireTool, runOk, Skopeo } from '../helpers/tools.js';

interface Answer { status: number; body: string; serial: string; socket: TLSSocket }

function get(port: number, p: string, opts: https.RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ...opts }, (res) => {
      const socket = res.socket as TLSSocket;
      const serial = socket.getPeerCertificate()?.serialNumber ?? '';
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, serial, socket }));
    });
    req.on('error', reject);
  });
}

describe('TLS', () => {
  let work: string;
  let certs: string;
  let b: BerthProcess;
  let ca: Buffer;

  before(async () => {
    requireTool('skopeo');
    requireTool('podman');
    work = await tempDir('berth-e2e-tls-');
    certs = path.join(work, 'certs');
    const made = await runCli(['tls', 'self-signed', '--out', certs, '--hosts', '127.0.0.1,localhost']);
    assert.equal(made.code, 0, made.stderr);
    ca = await readFile(path.join(certs, 'ca.crt'));
    b = await startBerth({ config: { tls: { cert: path.join(certs, 'server.crt'), key: path.join(certs, 'server.key') } } });
  });
  after(async () => {
    await b?.stop();
    if (work) await removeDir(work);
  });

  test('serves HTTPS that verifies against the CA, and only TLS 1.2 or newer', async () => {
    const ok = await get(b.port, '/v2/', { ca });
    assert.equal(ok.status, 200);
    assert.ok(['TLSv1.2', 'TLSv1.3'].includes(ok.socket.getProtocol() ?? ''));
    await assert.rejects(get(b.port, '/v2/'), /self.signed|unable to (get|verify)/i, 'an untrusted client refuses it');
    await assert.rejects(get(b.port, '/v2/', { ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), /protocol|version|handshake|alert/i);
    const plain = await fetch(`http://127.0.0.1:${b.port}/v2/`).then((r) => r.status, () => 'refused');
    assert.notEqual(plain, 200, 'plain HTTP is not served on the TLS port');
  });

  test('skopeo and podman push and pull over TLS trusting the CA', async () => {
    const cfg = await containersConfig(path.join(work, 'cfg'));
    const skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
    const certDir = path.join(work, 'client-certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(path.join(certs, 'ca.crt'), path.join(certDir, 'ca.crt'));
    const layout = path.join(work, 'layout');
    const img = makeImage({ layers: 2, label: 'tls' });
    await writeLayout(layout, { v1: img });
    await skopeo.ok(['copy', '--dest-cert-dir', certDir, `oci:${layout}:v1`, `docker://${b.host}/tls/app:v1`]);
    const inspect = await skopeo.ok(['inspect', '--raw', '--cert-dir', certDir, `docker://${b.host}/tls/app:v1`]);
    assert.equal(JSON.parse(inspect.stdout).config.digest, img.configDesc.digest);
    const refused = await skopeo.run(['inspect', '--raw', `docker://${b.host}/tls/app:v1`]);
    assert.notEqual(refused.code, 0, 'without the CA skopeo refuses the certificate');

    const root = path.join(work, 'podman');
    const podmanArgs = ['--root', path.join(root, 'root'), '--runroot', path.join(root, 'run'), '--storage-driver', 'vfs', '--tmpdir', cfg.env.TMPDIR, '--events-backend=file', '--cgroup-manager=cgroupfs', '--network-config-dir', path.join(root, 'net')];
    const podman = (args: string[]) => { const [c, a] = isolate(path.join(root, 'isolated'), 'podman', [...podmanArgs, ...args]); return runOk(c, a, { env: cfg.env, timeoutMs: 180_000 }); };
    await podman(['pull', '--cert-dir', certDir, '--signature-policy', cfg.policy, `${b.host}/tls/app:v1`]);
    await podman(['tag', `${b.host}/tls/app:v1`, `${b.host}/tls/copy:v2`]);
    await podman(['push', '--cert-dir', certDir, '--signature-policy', cfg.policy, `${b.host}/tls/copy:v2`]);
    const tags = await get(b.port, '/v2/tls/copy/tags/list', { ca });
    assert.deepEqual(JSON.parse(tags.body).tags, ['v2']);
  });

  test('SIGHUP swaps the certificate for new connections; open connections keep working', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    const before1 = await get(b.port, '/v2/', { agent });
    const oldSerial = before1.serial;
    // A new server certificate from a new CA, written over the configured files.
    const ca2 = await createCa('rotated CA');
    const leaf = await issueCertificate(ca2, ['127.0.0.1']);
    await writeFile(path.join(certs, 'server.crt'), leaf.cert);
    await writeFile(path.join(certs, 'server.key'), leaf.key);
    b.proc.kill('SIGHUP');
    for (let i = 0; i < 50 && !b.logs.some((l) => l.includes('TLS certificate reloaded')); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(b.logs.some((l) => l.includes('TLS certificate reloaded')));
    const still = await get(b.port, '/v2/', { agent });
    assert.equal(still.status, 200);
    assert.equal(still.socket, before1.socket, 'the same keep-alive connection served it');
    agent.destroy();
    const fresh = await get(b.port, '/v2/', { ca: ca2.cert });
    assert.equal(fresh.status, 200);
    assert.notEqual(fresh.serial, oldSerial, 'new connections get the new certificate');
  });

  test('with several worker processes, SIGHUP to the primary reloads every worker', async () => {
    const dir = path.join(work, 'workers');
    await mkdir(dir, { recursive: true });
    const ca1 = await createCa('workers CA 1');
    const first = await issueCertificate(ca1, ['127.0.0.1']);
    await writeFile(path.join(dir, 'server.crt'), first.cert);
    await writeFile(path.join(dir, 'server.key'), first.key);
    const w = await startBerth({ config: { http: { workers: 2 }, tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') } } });
    try {
      // Wait until both workers answer.
      const pids = new Set<string>();
      for (let i = 0; i < 100 && w.logs.filter((l) => l.includes('"msg":"listening"')).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      const ca2 = await createCa('workers CA 2');
      const second = await issueCertificate(ca2, ['127.0.0.1']);
      await writeFile(path.join(dir, 'server.crt'), second.cert);
      await writeFile(path.join(dir, 'server.key'), second.key);
      w.proc.kill('SIGHUP');
      for (let i = 0; i < 100 && w.logs.filter((l) => l.includes('TLS certificate reloaded')).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      for (const l of w.logs) if (l.includes('TLS certificate reloaded')) pids.add(JSON.parse(l).pid);
      assert.equal(pids.size, 2, 'both workers reloaded');
      for (let i = 0; i < 10; i++) {
        const fresh = await get(w.port, '/v2/', { ca: ca2.cert, agent: false });
        assert.equal(fresh.status, 200, 'every new connection, whichever worker takes it, presents the new certificate');
      }
    } finally {
      await w.stop();
    }
  });

  test('mutual TLS: a client CA makes client certificates mandatory', async () => {
    const clientCa = await createCa('client CA');
    const client = await issueCertificate(clientCa, ['ci-runner'], { client: true });
    const other = await issueCertificate(await createCa('stranger'), ['intruder'], { client: true });
    const dir = path.join(work, 'mtls');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'client-ca.crt'), clientCa.cert);
    const serverCa = await createCa('mtls server CA');
    const leaf = await issueCertificate(serverCa, ['127.0.0.1']);
    await writeFile(path.join(dir, 'server.crt'), leaf.cert);
    await writeFile(path.join(dir, 'server.key'), leaf.key);
    const m = await startBerth({ config: { tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), clientCa: path.join(dir, 'client-ca.crt') } } });
    try {
      const ok = await get(m.port, '/v2/', { ca: serverCa.cert, cert: client.cert, key: client.key });
      assert.equal(ok.status, 200);
      await assert.rejects(get(m.port, '/v2/', { ca: serverCa.cert }), 'no client certificate: refused');
      await assert.rejects(get(m.port, '/v2/', { ca: serverCa.cert, cert: other.cert, key: other.key }), 'a certificate from another CA: refused');
    } finally {
      await m.stop();
    }
  });

  test('a configuration with a certificate but no key is refused at start', async () => {
    const res = await runCli(['serve', '--data', path.join(work, 'bad'), '--listen', '127.0.0.1:0'], { BERTH_TLS__CERT: path.join(certs, 'server.crt') });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /tls\.cert and tls\.key go together/);
  });
});
