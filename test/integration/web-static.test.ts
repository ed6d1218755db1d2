// Berth serves the built web UI at /: the app's index for client-side routes, hashed assets cached for
// good, strict security headers, and no file outside the build.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, startBerth, type BerthProcess } from '../helpers/berth.js';

describe('web UI files', () => {
  let b: BerthProcess;
  before(async () => {
    assert.ok(existsSync(path.join(ROOT, 'web/dist/index.html')), 'the web UI is not built: run npm run build');
    b = await startBerth({ auth: true });
  });
  after(async () => { await b.stop(); });

  test('the index for / and for client-side routes, with a strict Content-Security-Policy', async () => {
    for (const p of ['/', '/repositories/acme%2Fapp', '/admin/users', '/repositories/acme/app/-/tags/1.0', '/repositories/acme/app.v2']) {
      const r = await fetch(`${b.url}${p}`);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type')!, /^text\/html/);
      assert.match(r.headers.get('content-security-policy')!, /default-src 'self'.*frame-ancestors 'none'/);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      assert.match(await r.text(), /<div id="root">/);
    }
  });

  test('hashed assets are cached for good; missing files and paths outside the build are 404', async () => {
    const html = await (await fetch(`${b.url}/`)).text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'the index references a script');
    const r = await fetch(`${b.url}${asset}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /javascript/);
    assert.match(r.headers.get('cache-control')!, /immutable/);
    assert.equal((await fetch(`${b.url}/assets/missing-123.js`)).status, 404);
    assert.equal((await fetch(`${b.url}/robots.txt`)).status, 404);
    // Escapes from the build folder get the app's index (or a 404), never the file.
    for (const p of ['/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2f..%2fpackage.json']) {
      const r = await fetch(`${b.url}${p}`);
      assert.ok(!(await r.text()).includes('"name": "berth"'), p);
    }
    const api = await fetch(`${b.url}/api/v1/no-such-route`);
    assert.equal(api.status, 404);
    assert.equal((await api.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
  });
});
