// Audit forwarding to a SIEM: a local syslog collector (RFC 6587 octet counting over TCP) receives every
// record in order; while it is down nothing is lost, and forwarding resumes where it stopped.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../helpers/api.js';
import { ADMIN_PASSWORD, freePort, startBerth, type BerthProcess } from '../helpers/berth.js';

/** A collector that parses "LEN SP MSG" frames and keeps each message's seq (from the structured data). */
function collector(port: number): Promise<{ seqs: number[]; lines: string[]; close(): Promise<void> }> {
  const seqs: number[] = [];
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) break;
        const prefix = buf.subarray(0, sp).toString();
        // Anything but an octet count here is a framing error: fail loudly rather than loop.
        if (!/^\d{1,9}$/.test(prefix)) {
          sock.destroy();
          throw new Error(`bad syslog frame start: ${JSON.stringify(buf.subarray(0, 60).toString())}`);
        }
        const len = Number(prefix);
        if (buf.length < sp + 1 + len) break;
        const msg = buf.subarray(sp + 1, sp + 1 + len).toString('utf8');
        buf = buf.subarray(sp + 1 + len);
        lines.push(msg);
        const m = / seq="(\d+)"/.exec(msg);
        if (m) seqs.push(Number(m[1]));
      }
    });
    sock.on('close', () => sockets.delete(sock));
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({
    seqs, lines,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  })));
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('audit forwarding over syslog', () => {
  let b: BerthProcess;
  let port: number;
  let admin: ApiClient;

  before(async () => {
    port = await freePort();
    b = await startBerth({ auth: true, config: { audit: { syslog: { enabled: true, host: '127.0.0.1', port, tls: { enabled: false } } } } });
    admin = new ApiClient(b.url);
  });
  after(async () => { await b.stop(); });

  test('every record arrives, in order, as RFC 5424; an outage of the collector loses nothing', async () => {
    let c = await collector(port);
    assert.equal((await admin.login('admin', ADMIN_PASSWORD)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await admin.post('/organizations', { name: `org${i}` })).status, 201);
    const head = async () => (await admin.get('/audit?n=1')).body.items[0].seq as number;
    let last = await head();
    await until(() => c.seqs.includes(last), 'the first records');
    const line = c.lines.find((l) => l.includes('org.create'))!;
    assert.match(line, /^<\d{1,3}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ berth - org\.create \[berth@32473 /);
    assert.match(line, /actor="admin"/);
    assert.match(line, /hash="[0-9a-f]{64}"/);

    const first = [...c.seqs];
    await c.close();
    for (let i = 3; i < 8; i++) assert.equal((await admin.post('/organizations', { name: `org${i}` })).status, 201);
    await new Promise((r) => setTimeout(r, 1500));
    c = await collector(port);
    last = await head();
    await until(() => c.seqs.includes(last), 'the records made while the collector was down');
    const all = new Set([...first, ...c.seqs]);
    for (let s = 1; s <= last; s++) assert.ok(all.has(s), `record ${s} forwarded`);
    assert.deepEqual(c.seqs, [...c.seqs].sort((x, y) => x - y), 'in order');
    await c.close();
  });
});
