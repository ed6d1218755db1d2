// Operating Berth: request logs, health and readiness, metrics, configuration errors, graceful shutdown.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { describe, test } from 'node:test';
import { runCli, startBerth, tempDir } from '../helpers/berth.js';
import { sha256 } from '../helpers/oci.js';

describe('operations', () => {
  test('one JSON log line per request with request id, method, path, status, bytes and duration', async () => {
    const b = await startBerth();
    try {
      const res = await fetch(`${b.url}/v2/`, { headers: { 'x-request-id': 'trace-abc-123' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-request-id'), 'trace-abc-123');
      const missing = await fetch(`${b.url}/v2/some/repo/manifests/latest`);
      assert.equal(missing.status, 404);
      await new Promise((r) => setTimeout(r, 200));
      const lines = b.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
      const line = lines.find((l) => l.reqId === 'trace-abc-123');
      assert.ok(line, `no log line for the request:\n${b.logs.join('\n')}`);
      assert.equal(line.method, 'GET');
      assert.equal(line.path, '/v2/');
      assert.equal(line.status, 200);
      assert.equal(typeof line.durationMs, 'number');
      assert.equal(typeof line.bytesOut, 'number');
      const notFound = lines.find((l) => l.path === '/v2/some/repo/manifests/latest');
      assert.equal(notFound?.status, 404);
    } finally {
      await b.stop();
    }
  });

  test('healthz, readyz and metrics answer', async () => {
    const b = await startBerth();
    try {
      assert.equal((await fetch(`${b.url}/healthz`)).status, 200);
      assert.equal((await fetch(`${b.url}/readyz`)).status, 200);
      await fetch(`${b.url}/v2/`);
      const m = await fetch(`${b.url}/metrics`);
      assert.equal(m.status, 200);
      const text = await m.text();
      assert.match(text, /berth_http_requests_total\{method="GET",status="200"\} \d+/);
      assert.match(text, /berth_http_request_duration_seconds_bucket/);
    } finally {
      await b.stop();
    }
  });

  test('a bad configuration stops the start with a message naming the key', async () => {
    const dir = await tempDir();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${dir}/bad.yaml`, 'registry:\n  deleteEnabld: false\nhttp:\n  workers: many\n');
    const res = await runCli(['serve', '--data', dir, '--config', `${dir}/bad.yaml`, '--listen', '127.0.0.1:0']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /registry\.deleteEnabld/);
    assert.match(res.stderr, /http\.workers/);
    const env = await runCli(['serve', '--data', dir], { BERTH_REGISTRY__MAX_MANIFEST_BYTES: '-5' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /registry\.maxManifestBytes/);
  });

  test('SIGTERM lets an in-flight upload finish, and an open session resumes after restart', async () => {
    const b = await startBerth();
    const data = randomBytes(3 * 1024 * 1024);
    const half = data.length / 2;
    // An open session that will outlive the restart.
    const start = await fetch(`${b.url}/v2/ops/shutdown/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, b.url);
    // A PATCH whose body is still being sent when SIGTERM arrives.
    const inflight = new Promise<number>((resolve, reject) => {
      const req = http.request(loc, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-length': half, 'content-range': `0-${half - 1}` } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.write(data.subarray(0, 1024 * 1024));
      setTimeout(() => {
        b.proc.kill('SIGTERM');
        setTimeout(() => req.end(data.subarray(1024 * 1024, half)), 300);
      }, 200);
    });
    assert.equal(await inflight, 202, 'the in-flight chunk completes during shutdown');
    await b.stop();
    assert.equal(b.proc.exitCode, 0);

    const again = await startBerth({ dataDir: b.dataDir });
    try {
      const url = new URL(loc.pathname, again.url);
      const status = await fetch(url);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${half - 1}`);
      const put = await fetch(`${url}?digest=${sha256(data)}`, { method: 'PUT', body: data.subarray(half), headers: { 'content-type': 'application/octet-stream', 'content-range': `${half}-${data.length - 1}` } });
      assert.equal(put.status, 201, await put.text());
      const get = await fetch(`${again.url}/v2/ops/shutdown/blobs/${sha256(data)}`);
      assert.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data));
    } finally {
      await again.stop();
    }
  });

  test('SIGTERM stops the server even when nobody reads its stdout', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI, freePort } = await import('../helpers/berth.js');
    const dir = await tempDir();
    const port = await freePort();
    // stdout is a pipe this test never reads: once the OS buffer fills, every log write would block.
    const proc = spawn(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    proc.stdout!.pause();
    const exited = new Promise<string>((resolve) => proc.once('exit', (code, signal) => resolve(`${code ?? signal}`)));
    try {
      for (let i = 0; ; i++) {
        try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break; } catch { /* starting */ }
        assert.ok(i < 200, 'server did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      await Promise.all(Array.from({ length: 3000 }, () => new Promise<void>((resolve, reject) => {
        http.get(`http://127.0.0.1:${port}/v2/`, { agent, headers: { 'user-agent': 'x'.repeat(200) } }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      })));
      agent.destroy();
      proc.kill('SIGTERM');
      const how = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
      // A write stuck on the full pipe cannot be waited for: Berth stops hard rather than hang.
      assert.ok(how === '0' || how === 'SIGKILL', `the process stops promptly (got ${how})`);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  test('publicUrl makes Location headers absolute', async () => {
    const b = await startBerth({ config: { publicUrl: 'https://registry.example.test/' } });
    try {
      const res = await fetch(`${b.url}/v2/ops/public/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 202);
      assert.match(res.headers.get('location')!, /^https:\/\/registry\.example\.test\/v2\/ops\/public\/blobs\/uploads\/[0-9a-f-]{36}$/);
    } finally {
      await b.stop();
    }
  });

  test('several worker processes share the port and the data', async () => {
    const b = await startBerth({ config: { http: { workers: 2 } } });
    try {
      const blob = randomBytes(10_000);
      const digest = sha256(blob);
      const post = await fetch(`${b.url}/v2/ops/workers/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(post.status, 201);
      const logged = (msg: string) => {
        const pids = new Set<number>();
        for (const l of b.logs) { try { const j = JSON.parse(l); if (j.msg === msg) pids.add(j.pid); } catch { /* not JSON */ } }
        return pids;
      };
      // The harness saw one worker ready; the other may still be starting.
      const deadline = Date.now() + 20_000;
      while (logged('listening').size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(logged('listening').size, 2, 'both workers listen');
      for (let i = 0; i < 200 && logged('request').size < 2; i++) {
        const agent = new http.Agent({ keepAlive: false });
        const status = await new Promise<number>((resolve) => http.get(`${b.url}/v2/ops/workers/blobs/${digest}`, { agent }, (res) => { res.resume(); resolve(res.statusCode!); }));
        assert.equal(status, 200);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(logged('request').size, 2, 'requests were served by both workers');
    } finally {
      await b.stop();
    }
  });
});
