// Who may read /metrics: loopback clients only on the main port by default (the client address as Fastify
// computes it, X-Forwarded-For only from http.trustProxy), everyone with the configured bearer token, and
// a separate listener (metrics.listen) for /metrics, /healthz and /readyz.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';

const TOKEN = 'scrape-token-0123456789abcdef';

/** GET over plain node:http, from whatever source address the kernel picks for `host`. */
function get(host: string, port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

const isMetrics = (r: { status: number; body: string }) => r.status === 200 && /berth_http_requests_total/.test(r.body);

describe('metrics access', () => {
  const started: BerthProcess[] = [];
  const start = async (opts: Parameters<typeof startBerth>[0]) => {
    const b = await startBerth(opts);
    started.push(b);
    return b;
  };
  after(async () => { for (const b of started) await b.stop(); });

  test('by default: loopback clients get /metrics; X-Forwarded-For is ignored without trustProxy', async () => {
    const b = await start({});
    const local = await get('127.0.0.1', b.port, '/metrics');
    assert.ok(isMetrics(local), `${local.status} ${local.body.slice(0, 200)}`);
    assert.equal(local.headers['cache-control'], 'no-store');
    // A spoofed header from an untrusted peer changes nothing: the peer is loopback.
    assert.ok(isMetrics(await get('127.0.0.1', b.port, '/metrics', { 'x-forwarded-for': '203.0.113.9' })));
  });

  test('behind a trusted proxy the forwarded client address counts', async () => {
    const b = await start({ config: { http: { trustProxy: '127.0.0.1' } } });
    // A client elsewhere, as the trusted proxy on this machine reports it.
    const remote = await get('127.0.0.1', b.port, '/metrics', { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(remote.status, 403, remote.body);
    assert.match(remote.body, /loopback clients only.*metrics\.token or metrics\.listen/);
    assert.match(String(remote.headers['content-type']), /^text\/plain/);
    assert.equal((await get('127.0.0.1', b.port, '/healthz', { 'x-forwarded-for': '203.0.113.9' })).status, 200, 'only /metrics is restricted');
    assert.ok(isMetrics(await get('127.0.0.1', b.port, '/metrics', { 'x-forwarded-for': '127.0.0.1' })));
    assert.ok(isMetrics(await get('127.0.0.1', b.port, '/metrics')), 'the proxy itself, asking for itself');
  });

  test('with metrics.token every scraper presents it, also from loopback; the right one from anywhere gets 200', async () => {
    const b = await start({ config: { http: { trustProxy: '127.0.0.1' }, metrics: { token: TOKEN } } });
    const none = await get('127.0.0.1', b.port, '/metrics');
    assert.equal(none.status, 401, none.body);
    assert.match(none.body, /bearer token configured in metrics\.token/);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="metrics"');
    const wrong = await get('127.0.0.1', b.port, '/metrics', { authorization: `Bearer ${TOKEN}x` });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /wrong metrics token/);
    assert.equal((await get('127.0.0.1', b.port, '/metrics', { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status, 401, 'a prefix is wrong too');
    assert.equal((await get('127.0.0.1', b.port, '/metrics', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status, 401);
    const right = await get('127.0.0.1', b.port, '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.ok(isMetrics(right), `${right.status} ${right.body.slice(0, 200)}`);
    assert.equal(right.headers['www-authenticate'], undefined);
    const elsewhere = { 'x-forwarded-for': '203.0.113.9' };
    assert.ok(isMetrics(await get('127.0.0.1', b.port, '/metrics', { ...elsewhere, authorization: `Bearer ${TOKEN}` })));
    assert.equal((await get('127.0.0.1', b.port, '/metrics', elsewhere)).status, 401);
  });

  test('metrics.listen: a separate listener serves /metrics, /healthz and /readyz (token from metrics.tokenFile); the main port no longer serves /metrics', async () => {
    const dir = await tempDir();
    const tokenFile = path.join(dir, 'metrics-token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const metricsPort = await freePort();
    const b = await start({ config: { metrics: { listen: `127.0.0.1:${metricsPort}`, tokenFile } } });
    const main = await get('127.0.0.1', b.port, '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.equal(main.status, 404, main.body);
    assert.match(main.body, /metrics\.listen/);
    const scraped = await get('127.0.0.1', metricsPort, '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.ok(isMetrics(scraped), `${scraped.status} ${scraped.body.slice(0, 200)}`);
    assert.equal((await get('127.0.0.1', metricsPort, '/metrics')).status, 401);
    assert.equal((await get('127.0.0.1', metricsPort, '/healthz')).status, 200);
    assert.equal((await get('127.0.0.1', metricsPort, '/readyz')).status, 200);
    assert.equal((await get('127.0.0.1', metricsPort, '/v2/')).status, 404, 'nothing else on the metrics listener');
    assert.ok(b.logs.some((l) => l.includes('"msg":"metrics listening"')));
  });

  test('metrics.enabled: false answers 404; a bad metrics setting stops the start naming the key', async () => {
    const b = await start({ config: { metrics: { enabled: false } } });
    const r = await get('127.0.0.1', b.port, '/metrics');
    assert.equal(r.status, 404);
    assert.match(r.body, /metrics\.enabled: false/);
    await assert.rejects(startBerth({ config: { metrics: { token: 'short' } } }), /metrics\.token/);
    await assert.rejects(startBerth({ config: { metrics: { tokenFile: '/nonexistent/metrics-token' } } }), /metrics\.tokenFile/);
  });
});
