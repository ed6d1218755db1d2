import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { deliver, isReservedHeader, RESPONSE_SNIPPET_BYTES, type DeliveryRequest } from '../../src/events/webhook-client.js';
import { verifySignature } from '../../src/events/webhook-signature.js';
import { createCa, issueCertificate } from '../../src/tls/certificates.js';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }

/** A local receiver whose behaviour is chosen per path; records what arrived and tracks its sockets. */
class Receiver {
  readonly seen: Seen[] = [];
  readonly sockets = new Set<Socket>();
  readonly closed: Array<{ path: string; at: number }> = [];
  bytesStreamed = 0;
  server!: http.Server | https.Server;
  port = 0;

  handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.seen.push({ method: req.method ?? '', url: path, headers: req.headers, body: Buffer.concat(chunks) });
      res.on('close', () => this.closed.push({ path, at: performance.now() }));
      const route = path.split('?')[0];
      switch (route) {
        case '/ok': res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted ✓'); break;
        case '/empty': res.writeHead(204).end(); break;
        case '/fail': res.writeHead(500, { 'content-type': 'text/plain' }).end('boom: database unavailable'); break;
        case '/redirect': res.writeHead(302, { location: '/ok?followed=1' }).end(); break;
        case '/slow': break; // never answers
        case '/slow-body': res.writeHead(200); res.write('partial'); break; // status, then nothing
        case '/huge': this.streamForever(res); break;
        default: res.writeHead(404).end('no such hook');
      }
    });
  };

  private streamForever(res: http.ServerResponse) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!res.destroyed && this.bytesStreamed < 512 * 1024 * 1024) {
        this.bytesStreamed += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  }

  async listen(tls?: { cert: string; key: string }) {
    this.server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, this.handler) : http.createServer(this.handler);
    this.server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const BODY = Buffer.from(JSON.stringify({ events: [{ id: 'e1', action: 'push' }] }));
const LOOPBACK = { allowLoopback: true };

function request(url: string, over: Partial<DeliveryRequest> = {}): DeliveryRequest {
  return { url, body: BODY, contentType: 'application/vnd.docker.distribution.events.v1+json', headers: {}, timeoutMs: 5000, policy: LOOPBACK, ...over };
}

describe('deliver over http', () => {
  let rx: Receiver;
  let base: string;
  before(async () => {
    rx = await new Receiver().listen();
    base = `http://127.0.0.1:${rx.port}`;
  });
  after(() => rx.close());

  test('2xx is ok; the request carries body, content type, user agent, custom headers and a verifiable signature', async () => {
    const r = await deliver(request(`${base}/ok?src=berth`, {
      headers: { Authorization: 'Bearer receiver-token', 'X-Team': 'platform' },
      signature: { secret: 'endpoint-secret', id: 'delivery-42' },
    }));
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.status, 202);
    assert.equal(r.error, undefined);
    assert.equal(r.responseSnippet, 'accepted ✓');
    assert.ok(r.latencyMs >= 0 && r.latencyMs < 5000);
    const seen = rx.seen.at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/ok?src=berth');
    assert.deepEqual(seen.body, BODY);
    assert.equal(seen.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
    assert.equal(seen.headers['content-length'], String(BODY.length));
    assert.equal(seen.headers['user-agent'], 'Berth-Webhook/1');
    assert.equal(seen.headers.authorization, 'Bearer receiver-token');
    assert.equal(seen.headers['x-team'], 'platform');
    assert.equal(seen.headers['berth-webhook-id'], 'delivery-42');
    assert.equal(verifySignature('endpoint-secret', seen.headers, seen.body), true);
    assert.equal(verifySignature('another-secret', seen.headers, seen.body), false);
  });

  test('204 without a body is ok with an empty snippet', async () => {
    const r = await deliver(request(`${base}/empty`));
    assert.equal(r.ok, true);
    assert.equal(r.status, 204);
    assert.equal(r.responseSnippet, '');
  });

  test('500 is not ok; status and response snippet are kept', async () => {
    const r = await deliver(request(`${base}/fail`));
    assert.equal(r.ok, false);
    assert.equal(r.status, 500);
    assert.equal(r.responseSnippet, 'boom: database unavailable');
    assert.match(r.error ?? '', /500/);
  });

  test('a redirect is not followed and counts as a failure', async () => {
    const before = rx.seen.length;
    const r = await deliver(request(`${base}/redirect`));
    assert.equal(r.ok, false);
    assert.equal(r.status, 302);
    assert.match(r.error ?? '', /redirect not followed/);
    assert.equal(rx.seen.length, before + 1, 'only the first request reached the receiver');
    assert.equal(rx.seen.some((s) => s.url.includes('followed=1')), false);
  });

  test('a silent server times out within about timeoutMs and its socket is closed', async () => {
    const timeoutMs = 300;
    const start = performance.now();
    const r = await deliver(request(`${base}/slow`, { timeoutMs }));
    const took = performance.now() - start;
    assert.equal(r.ok, false);
    assert.equal(r.status, undefined);
    assert.match(r.error ?? '', /timed out after 300 ms/);
    assert.ok(took >= timeoutMs - 20 && took < timeoutMs + 1000, `took ${Math.round(took)} ms`);
    assert.ok(r.latencyMs >= timeoutMs - 20, `latency ${r.latencyMs}`);
    // the receiver sees the connection go away: the socket was destroyed, not left hanging
    const deadline = Date.now() + 2000;
    while (!rx.closed.some((c) => c.path === '/slow') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    assert.ok(rx.closed.some((c) => c.path === '/slow'), 'server-side response closed');
  });

  test('a status that arrived counts even if the body then stalls; the call still ends at the deadline', async () => {
    const start = performance.now();
    const r = await deliver(request(`${base}/slow-body`, { timeoutMs: 300 }));
    const took = performance.now() - start;
    assert.equal(r.ok, true);
    assert.equal(r.status, 200);
    assert.equal(r.responseSnippet, 'partial');
    assert.ok(took < 1300, `took ${Math.round(took)} ms`);
  });

  test('a huge response body is cut at 4 KiB and the connection closed instead of read to the end', async () => {
    rx.bytesStreamed = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await deliver(request(`${base}/huge`, { timeoutMs: 10_000 }));
    assert.equal(r.ok, true, JSON.stringify({ ...r, responseSnippet: r.responseSnippet?.length }));
    assert.equal(r.status, 200);
    assert.equal(Buffer.byteLength(r.responseSnippet ?? ''), RESPONSE_SNIPPET_BYTES);
    assert.equal(r.responseSnippet, 'x'.repeat(RESPONSE_SNIPPET_BYTES));
    await new Promise((res) => setTimeout(res, 100));
    // the receiver would stream 512 MiB; closing early means it got nowhere near that
    assert.ok(rx.bytesStreamed < 64 * 1024 * 1024, `server streamed ${rx.bytesStreamed} bytes`);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap did not grow with the response');
  });

  test('a multi-byte character cut at the 4 KiB boundary is dropped, not mangled', async () => {
    const server = http.createServer((_req, res) => {
      _req.resume();
      _req.on('end', () => res.writeHead(400).end(Buffer.concat([Buffer.alloc(RESPONSE_SNIPPET_BYTES - 1, 'a'), Buffer.from('€€€')])));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const r = await deliver(request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`));
      assert.equal(r.status, 400);
      assert.equal(r.responseSnippet, 'a'.repeat(RESPONSE_SNIPPET_BYTES - 1));
      assert.doesNotMatch(r.responseSnippet ?? '', /\uFFFD/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('loopback is refused without allowLoopback, by name and by literal, before anything is sent', async () => {
    const before = rx.seen.length;
    for (const url of [`http://localhost:${rx.port}/ok`, `http://127.0.0.1:${rx.port}/ok`, `http://[::ffff:127.0.0.1]:${rx.port}/ok`]) {
      const r = await deliver(request(url, { policy: {} }));
      assert.equal(r.ok, false, url);
      assert.equal(r.status, undefined);
      assert.match(r.error ?? '', /EADDRBLOCKED/, url);
      assert.match(r.error ?? '', /loopback/, url);
    }
    assert.equal(rx.seen.length, before, 'the receiver saw nothing');
  });

  test('localhost works when loopback is allowed (the guarded lookup resolves it)', async () => {
    const r = await deliver(request(`http://localhost:${rx.port}/ok`));
    assert.equal(r.ok, true, JSON.stringify(r));
  });

  test('reserved custom headers refuse the delivery; nothing is sent', async () => {
    const before = rx.seen.length;
    for (const name of ['Content-Type', 'content-length', 'Host', 'Berth-Webhook-Signature', 'berth-webhook-id', 'Transfer-Encoding']) {
      assert.equal(isReservedHeader(name), true, name);
      const r = await deliver(request(`${base}/ok`, { headers: { [name]: 'x' } }));
      assert.equal(r.ok, false, name);
      assert.match(r.error ?? '', /reserved/, name);
    }
    const bad = await deliver(request(`${base}/ok`, { headers: { 'X-Evil': 'a\r\nInjected: 1' } }));
    assert.equal(bad.ok, false);
    assert.match(bad.error ?? '', /invalid/);
    assert.equal(rx.seen.length, before);
    assert.equal(isReservedHeader('Authorization'), false);
  });

  test('bad URLs and schemes fail cleanly', async () => {
    assert.match((await deliver(request('not a url'))).error ?? '', /invalid URL/);
    assert.match((await deliver(request('ftp://127.0.0.1/x'))).error ?? '', /scheme/);
    assert.match((await deliver(request('file:///etc/passwd'))).error ?? '', /scheme/);
  });

  test('errors never contain the query, the body or the secret', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const secretBody = Buffer.from('{"password":"BODY-SECRET"}');
    for (const r of [
      await deliver(request(`http://127.0.0.1:${port}/hook?token=QUERY-SECRET`, { body: secretBody, signature: { secret: 'SIGNING-SECRET', id: 'd' } })),
      await deliver(request(`http://127.0.0.1:${port}/hook?token=QUERY-SECRET`, { policy: {}, body: secretBody })),
      await deliver(request(`${base}/slow?token=QUERY-SECRET`, { timeoutMs: 100, body: secretBody, signature: { secret: 'SIGNING-SECRET', id: 'd' } })),
    ]) {
      assert.equal(r.ok, false);
      assert.ok(r.error);
      assert.doesNotMatch(r.error, /QUERY-SECRET|BODY-SECRET|SIGNING-SECRET|\/hook/, r.error);
    }
  });
});

describe('deliver over https', () => {
  let rx: Receiver;
  let caPem: string;
  before(async () => {
    const ca = await createCa('Berth webhook test CA');
    caPem = ca.cert;
    rx = await new Receiver().listen(await issueCertificate(ca, ['localhost', '127.0.0.1']));
  });
  after(() => rx.close());

  test('an untrusted certificate fails while verification is on', async () => {
    const r = await deliver(request(`https://localhost:${rx.port}/ok`));
    assert.equal(r.ok, false);
    assert.equal(r.status, undefined);
    assert.match(r.error ?? '', /certificate|UNABLE_TO_VERIFY|SELF_SIGNED/i);
    const explicit = await deliver(request(`https://localhost:${rx.port}/ok`, { tls: { verify: true } }));
    assert.equal(explicit.ok, false);
  });

  test('passes with the endpoint CA given, by name and by IP', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const r = await deliver(request(`https://${host}:${rx.port}/ok`, { tls: { verify: true, ca: caPem } }));
      assert.equal(r.ok, true, `${host}: ${JSON.stringify(r)}`);
      assert.equal(r.status, 202);
    }
  });

  test('the CA does not excuse a name the certificate does not cover', async () => {
    const r = await deliver(request(`https://[::ffff:127.0.0.1]:${rx.port}/ok`, { tls: { verify: true, ca: caPem } }));
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /altnames|ERR_TLS_CERT_ALTNAME_INVALID|IP/i);
  });

  test('verify: false accepts the untrusted certificate', async () => {
    const r = await deliver(request(`https://localhost:${rx.port}/ok`, { tls: { verify: false } }));
    assert.equal(r.ok, true, JSON.stringify(r));
  });

  test('loopback is still refused over https without allowLoopback', async () => {
    const r = await deliver(request(`https://localhost:${rx.port}/ok`, { policy: {}, tls: { verify: false } }));
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /EADDRBLOCKED/);
  });
});
