// SyslogSender against local collectors (TCP and TLS on 127.0.0.1, ephemeral ports) that parse octet-counted
// frames strictly: order and completeness (1000 messages, multi-byte UTF-8), TLS trust (right CA, wrong CA,
// servername + client certificate), the server closing or resetting between sends, the target down and
// back on the same port, backpressure with a collector that stops reading, and close().
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { formatSyslog, SyslogError, SyslogSender, type AuditRecordForSyslog, type SyslogTarget } from '../../src/audit/syslog.js';
import { createCa, issueCertificate } from '../../src/tls/certificates.js';

/** A collector: RFC 6587 §3.4.1 / RFC 5425 §4.3 frames, MSG-LEN = NONZERO-DIGIT *DIGIT, in octets. */
class Collector {
  readonly messages: string[] = [];
  readonly declaredLengths: number[] = [];
  readonly framingErrors: string[] = [];
  readonly peers: (string | undefined)[] = [];
  connections = 0;
  port = 0;
  private server: net.Server | tls.Server;
  private readonly sockets = new Set<net.Socket>();
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly tlsOptions?: tls.TlsOptions, private readonly paused = false) {
    this.server = this.create();
  }

  private create(): net.Server | tls.Server {
    const server = this.tlsOptions
      ? tls.createServer(this.tlsOptions, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    server.on('tlsClientError', () => undefined); // the wrong-CA test makes handshakes fail on purpose
    return server;
  }

  private accept(sock: net.Socket): void {
    this.connections++;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    if (sock instanceof tls.TLSSocket) {
      const cn = (sock.getPeerCertificate() as tls.PeerCertificate | undefined)?.subject?.CN;
      this.peers.push(Array.isArray(cn) ? cn[0] : cn);
    }
    if (this.paused) { sock.pause(); return; }
    let buf = Buffer.alloc(0);
    sock.on('data', (data: Buffer) => {
      buf = Buffer.concat([buf, data]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp === -1) {
          if (buf.length > 10) this.fail(sock, 'no SP after MSG-LEN');
          return;
        }
        const digits = buf.subarray(0, sp).toString('latin1');
        if (!/^[1-9][0-9]{0,9}$/.test(digits)) return this.fail(sock, `bad MSG-LEN ${JSON.stringify(digits)}`);
        const len = Number(digits);
        if (buf.length < sp + 1 + len) return;
        const body = buf.subarray(sp + 1, sp + 1 + len);
        const text = body.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(body)) return this.fail(sock, 'frame is not whole UTF-8');
        this.declaredLengths.push(len);
        this.messages.push(text);
        buf = buf.subarray(sp + 1 + len);
        this.wake();
      }
    });
  }

  private fail(sock: net.Socket, why: string): void {
    this.framingErrors.push(why);
    sock.destroy();
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => (this.messages.length >= w.n ? (w.resolve(), false) : true));
  }

  /** Resolves once n messages have arrived in total (the sender resolves at the kernel, not at the peer). */
  received(n: number, ms = 5000): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.messages.length} of ${n} messages arrived`)), ms);
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  async start(port = 0): Promise<this> {
    this.server = this.create();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Closes every accepted connection (FIN, or RST with reset) and waits until they are gone. */
  async dropConnections(reset = false): Promise<void> {
    const gone = [...this.sockets].map((s) => new Promise<void>((r) => { s.once('close', () => r()); if (reset) s.resetAndDestroy(); else s.destroy(); }));
    await Promise.all(gone);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await this.dropConnections();
    await closed;
  }
}

const RECORD: AuditRecordForSyslog = {
  seq: 1, at: Date.UTC(2024, 4, 17, 9, 30, 15, 123), actor: 'alice', actorSource: 'local', address: '127.0.0.1', userAgent: 'test',
  action: 'manifest.push', resource: 'repository:acme/app:v1', outcome: 'success', requestId: 'r1', hash: 'ab'.repeat(32),
};
const lines = (n: number, from = 1, extra: Partial<AuditRecordForSyslog> = {}) =>
  Array.from({ length: n }, (_, i) => formatSyslog({ ...RECORD, seq: from + i, ...extra }, { hostname: 'berth-test' }));
const seqOf = (line: string) => Number(/ seq="(\d+)"/.exec(line)?.[1]);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<SyslogError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SyslogError, `not a SyslogError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`resolved, expected ${code}`);
}

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('SyslogSender over TCP', () => {
  let collector: Collector;
  let sender: SyslogSender;
  before(async () => {
    collector = await new Collector().start();
    sender = new SyslogSender({ host: '127.0.0.1', port: collector.port });
  });
  after(async () => { await sender.close(); await collector.stop(); });

  test('messages arrive whole, in order, on one connection', async () => {
    const batch = lines(3);
    await sender.send(batch);
    await sender.send(lines(2, 4));
    await collector.received(5);
    assert.deepEqual(collector.messages, [...batch, ...lines(2, 4)]);
    assert.equal(collector.connections, 1, 'the connection is reused');
    assert.deepEqual(collector.framingErrors, []);
  });

  test('1000 messages with multi-byte UTF-8: MSG-LEN counts octets', async () => {
    const start = collector.messages.length;
    const batch = lines(1000, 100, { actor: 'Žofia 山田 🚢', detail: { note: 'Grüße '.repeat(50) } });
    await sender.send(batch);
    await collector.received(start + 1000);
    const got = collector.messages.slice(start);
    assert.deepEqual(got, batch);
    assert.deepEqual(got.map(seqOf), batch.map((_, i) => 100 + i));
    const lens = collector.declaredLengths.slice(start);
    assert.equal(lens[0], Buffer.byteLength(batch[0], 'utf8'));
    assert.ok(lens[0] > batch[0].length, 'octets exceed UTF-16 code units here');
    assert.deepEqual(collector.framingErrors, []);
  });

  test('concurrent sends keep their order; an empty batch is a no-op', async () => {
    const start = collector.messages.length;
    await Promise.all([sender.send(lines(50, 2000)), sender.send([]), sender.send(lines(50, 2050))]);
    await collector.received(start + 100);
    assert.deepEqual(collector.messages.slice(start).map(seqOf), Array.from({ length: 100 }, (_, i) => 2000 + i));
  });

  test('an empty message rejects the whole batch before anything is written', async () => {
    const start = collector.messages.length;
    await rejectsWith(sender.send(['<85>1 - - - - -', '']), 'invalid-message');
    await sender.send(lines(1, 3000));
    await collector.received(start + 1);
    assert.deepEqual(collector.messages.slice(start).map(seqOf), [3000]);
  });

  test('the server closing (FIN) or resetting (RST) between sends: the next send reconnects and delivers', async () => {
    for (let round = 0; round < 6; round++) {
      const before = collector.connections;
      const start = collector.messages.length;
      await collector.dropConnections(round % 2 === 1);
      // no pause here: the sender itself must notice the dead connection before writing into it
      await sender.send(lines(5, 4000 + round * 5));
      await collector.received(start + 5);
      assert.deepEqual(collector.messages.slice(start).map(seqOf), [0, 1, 2, 3, 4].map((i) => 4000 + round * 5 + i), `round ${round}`);
      assert.equal(collector.connections, before + 1);
    }
  });
});

describe('SyslogSender when the target is down', () => {
  test('rejects within the connect timeout, without message contents, then delivers once the server is back on the same port', async () => {
    const port = await unusedPort();
    const sender = new SyslogSender({ host: '127.0.0.1', port, connectTimeoutMs: 400 });
    const batch = lines(3, 1, { actor: 'SECRET-PAYLOAD' });
    const t0 = Date.now();
    const err = await rejectsWith(sender.send(batch), 'unreachable');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 300 && elapsed < 1000, `rejected after ${elapsed} ms`);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    assert.ok(!err.message.includes('SECRET') && !String(err.cause).includes('SECRET'));

    const collector = await new Collector().start(port);
    try {
      await sender.send(batch);
      await collector.received(3);
      assert.deepEqual(collector.messages, batch);

      // and down again after having been connected: reject, then deliver after the restart
      await collector.stop();
      const t1 = Date.now();
      await rejectsWith(sender.send(lines(1, 10)), 'unreachable');
      assert.ok(Date.now() - t1 < 1000);
      await collector.start(port);
      await sender.send(lines(2, 11));
      await collector.received(5);
      assert.deepEqual(collector.messages.slice(3).map(seqOf), [11, 12]);
    } finally {
      await sender.close();
      await collector.stop();
    }
  });

  test('a collector that stops reading: send waits for the kernel, then fails with a write timeout', async () => {
    const collector = await new Collector(undefined, true).start();
    const sender = new SyslogSender({ host: '127.0.0.1', port: collector.port, writeTimeoutMs: 300 });
    try {
      const big = formatSyslog({ ...RECORD, detail: { pad: 'x'.repeat(60_000) } }, { hostname: 'h', maxBytes: 65_536 });
      const t0 = Date.now();
      // ~128 MB offered; loopback socket buffers take a few MB, so the send must stall at the kernel and time out
      const err = await rejectsWith(sender.send(Array.from({ length: 2000 }, () => big)), 'write-timeout');
      assert.ok(Date.now() - t0 < 10_000);
      assert.match(err.message, /took no data for 300 ms \(\d+ of 2000 messages written\)/);
    } finally {
      await sender.close();
      await collector.stop();
    }
  });

  test('close() waits for queued sends; later sends are refused', async () => {
    const collector = await new Collector().start();
    const sender = new SyslogSender({ host: '127.0.0.1', port: collector.port });
    try {
      const pending = sender.send(lines(20));
      await sender.close();
      await pending;
      await collector.received(20);
      await rejectsWith(sender.send(lines(1)), 'closed');
    } finally {
      await sender.close();
      await collector.stop();
    }
  });
});

describe('SyslogSender over TLS', () => {
  let ca: Awaited<ReturnType<typeof createCa>>;
  let collector: Collector;
  before(async () => {
    ca = await createCa('Syslog test CA');
    const server = await issueCertificate(ca, ['127.0.0.1', 'localhost']);
    collector = await new Collector({ cert: server.cert, key: server.key }).start();
  });
  after(() => collector.stop());

  test('with the right CA: delivered, and reconnects after the server closes', async () => {
    const sender = new SyslogSender({ host: '127.0.0.1', port: collector.port, tls: { ca: ca.cert } });
    try {
      const batch = lines(1000, 1, { resource: 'repository:équipe/app:v1' });
      await sender.send(batch);
      await collector.received(1000);
      assert.deepEqual(collector.messages, batch);
      await collector.dropConnections();
      await sender.send(lines(1, 5000));
      await collector.received(1001);
      assert.equal(seqOf(collector.messages[1000]), 5000);
      assert.equal(collector.connections, 2);
      assert.deepEqual(collector.framingErrors, []);
    } finally {
      await sender.close();
    }
  });

  test('with a wrong CA: rejected at once as a TLS failure, nothing delivered', async () => {
    const other = await createCa('Some other CA');
    const sender = new SyslogSender({ host: '127.0.0.1', port: collector.port, tls: { ca: other.cert }, connectTimeoutMs: 5000 });
    try {
      const count = collector.messages.length;
      const t0 = Date.now();
      const err = await rejectsWith(sender.send(lines(2, 1, { actor: 'SECRET-PAYLOAD' })), 'tls');
      assert.ok(Date.now() - t0 < 2000, 'no retries for a certificate the server will present again');
      assert.match(err.message, /TLS handshake with syslog target tls:\/\/127\.0\.0\.1:\d+ failed: .*(verify|certificate)/i);
      assert.ok(!err.message.includes('SECRET'));
      assert.equal(collector.messages.length, count);
    } finally {
      await sender.close();
    }
  });

  test('servername for a DNS-named certificate, and a client certificate the collector requires', async () => {
    const server = await issueCertificate(ca, ['siem.example.test']);
    const client = await issueCertificate(ca, ['berth-exporter'], { client: true });
    const mtls = await new Collector({ cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true }).start();
    const target: SyslogTarget = { host: '127.0.0.1', port: mtls.port, tls: { ca: ca.cert, servername: 'siem.example.test', cert: client.cert, key: client.key } };
    const sender = new SyslogSender(target);
    // the name in the certificate is checked: without servername, 127.0.0.1 is not siem.example.test
    const wrongName = new SyslogSender({ ...target, tls: { ...target.tls, servername: undefined } });
    try {
      await sender.send(lines(3));
      await mtls.received(3);
      assert.deepEqual(mtls.peers, ['berth-exporter']);
      const err = await rejectsWith(wrongName.send(lines(1)), 'tls');
      assert.match(err.message, /ERR_TLS_CERT_ALTNAME_INVALID|altnames/);
    } finally {
      await sender.close();
      await wrongName.close();
      await mtls.stop();
    }
  });
});
