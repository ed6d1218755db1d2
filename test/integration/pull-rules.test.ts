// The second access decision on manifest pulls: a fact source and a pull rule registered in the composition
// root (as vulnerability scanning and signature trust will) refuse a manifest once its digest is known: by
// tag and by digest (GET; HEAD hands out no content and is never refused), with Basic credentials, a bearer token and anonymously, for system
// administrators too; the refusal names its reason to the client (OCI envelope), the audit log and the UI.
// Berth runs in this process (createBerth with the rule, the real HTTP server on a loopback port, SQLite
// and filesystem storage in a temp dir): a rule is code, so a separate process could not be given one.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { allow, refuse, type ManifestFactSource, type PullRule } from '../../src/auth/pull-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { buildServer } from '../../src/http/server.js';
import { createBerth, type Berth } from '../../src/main.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, ROOT, removeDir, tempDir } from '../helpers/berth.js';
import { launchBrowser, requireChromium } from '../helpers/browser.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';

const REASON = 'not signed by a trusted key';

interface Running { berth: Berth; app: FastifyInstance; url: string; dir: string }

/** Signatures as a trust feature would record them: digests signed by a trusted key. */
const trusted = new Set<string>();
/** The (repository, digest) pairs the fact source was asked about. */
const asked: { name: string; digest: string }[] = [];

const trustFacts: ManifestFactSource = {
  name: 'trust',
  async facts(name, digest) {
    asked.push({ name, digest });
    if (name.endsWith('/broken')) throw new Error('signature store unreachable');
    return { trust: { signed: trusted.has(digest) } };
  },
};

const signedOnly: PullRule = {
  name: 'trusted-signature',
  evaluate(_principal, resource) {
    return (resource.facts.trust as { signed?: boolean } | undefined)?.signed === true ? allow() : refuse(REASON);
  },
};

async function start(config: Record<string, unknown>): Promise<Running> {
  const dir = await tempDir('berth-pull-rules-');
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, stringify({ data: path.join(dir, 'data'), ...config }));
  const berth = await createBerth(loadConfig({ file, env: {} }), undefined, { factSources: [trustFacts], pullRules: [signedOnly] });
  await berth.accounts.ensureAdmin(ADMIN_PASSWORD);
  const app = await buildServer(berth.services, { logger: pino({ level: 'silent' }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { berth, app, url: `http://127.0.0.1:${port}`, dir };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r) return;
  await r.app.close();
  await r.berth.close();
  await removeDir(r.dir);
}

/** Pushes a small image; returns its manifest digest and bytes. */
async function push(url: string, name: string, tag: string, headers: Record<string, string>): Promise<{ digest: string; body: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, name }));
  await pushBlob(url, name, config, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [] };
  const r = await pushManifest(url, name, tag, m, MT.ociManifest, headers);
  assert.equal(r.res.status, 201, `push ${name}:${tag}`);
  return { digest: r.digest, body: r.body };
}

const accept = { accept: MT.ociManifest };

/** Asserts a 403 DENIED in the OCI envelope that names the rule's reason. */
async function assertRefused(res: Response, digest: string, reason = REASON): Promise<void> {
  assert.equal(res.status, 403);
  const body = await res.json() as { errors: { code: string; message: string; detail: { digest: string; rule: string; reason: string } }[] };
  assert.equal(body.errors.length, 1);
  assert.equal(body.errors[0].code, 'DENIED');
  assert.ok(body.errors[0].message.includes(reason), `the message names the reason: ${body.errors[0].message}`);
  assert.equal(body.errors[0].detail.reason, reason);
  assert.equal(body.errors[0].detail.digest, digest);
  assert.equal(res.headers.get('docker-content-digest'), null, 'a refused pull does not tell the digest in headers');
}

describe('pull rules (authentication on)', () => {
  let r: Running;
  const admin = { authorization: basicAuth('admin', ADMIN_PASSWORD) };
  let signed: { digest: string; body: Buffer };
  let unsigned: { digest: string; body: Buffer };

  before(async () => {
    r = await start({});
    signed = await push(r.url, 'admin/app', 'signed', admin);
    unsigned = await push(r.url, 'admin/app', 'unsigned', admin);
    trusted.add(signed.digest);
  });
  after(() => stop(r));

  test('an unsigned manifest is refused by tag and by digest, for a system administrator too; HEAD is never refused', async () => {
    asked.length = 0;
    await assertRefused(await fetch(`${r.url}/v2/admin/app/manifests/unsigned`, { headers: { ...admin, ...accept } }), unsigned.digest);
    // The facts are asked for the digest the tag resolved to.
    assert.deepEqual(asked, [{ name: 'admin/app', digest: unsigned.digest }]);
    await assertRefused(await fetch(`${r.url}/v2/admin/app/manifests/${unsigned.digest}`, { headers: { ...admin, ...accept } }), unsigned.digest);
    for (const ref of ['unsigned', unsigned.digest]) {
      // HEAD hands out no content (signers and scanners need it): the rules do not apply to it.
      const head = await fetch(`${r.url}/v2/admin/app/manifests/${ref}`, { method: 'HEAD', headers: { ...admin, ...accept } });
      assert.equal(head.status, 200, `HEAD ${ref}`);
      assert.equal(head.headers.get('docker-content-digest'), unsigned.digest);
    }
  });

  test('a signed manifest of the same repository is pulled as before', async () => {
    for (const ref of ['signed', signed.digest]) {
      const get = await fetch(`${r.url}/v2/admin/app/manifests/${ref}`, { headers: { ...admin, ...accept } });
      assert.equal(get.status, 200, `GET ${ref}`);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), signed.body);
      assert.equal(get.headers.get('docker-content-digest'), signed.digest);
      const head = await fetch(`${r.url}/v2/admin/app/manifests/${ref}`, { method: 'HEAD', headers: { ...admin, ...accept } });
      assert.equal(head.status, 200, `HEAD ${ref}`);
    }
  });

  test('a bearer token that grants pull does not get past the rule', async () => {
    const t = await fetch(`${r.url}/token?scope=${encodeURIComponent('repository:admin/app:pull')}`, { headers: admin });
    assert.equal(t.status, 200);
    const bearer = { authorization: `Bearer ${(await t.json() as { token: string }).token}`, ...accept };
    await assertRefused(await fetch(`${r.url}/v2/admin/app/manifests/unsigned`, { headers: bearer }), unsigned.digest);
    assert.equal((await fetch(`${r.url}/v2/admin/app/manifests/signed`, { headers: bearer })).status, 200);
  });

  test('anonymous callers of a public repository are refused with the reason, not challenged', async () => {
    await r.berth.organizations.create('acme', { public: true, owner: 'admin' });
    const pub = await push(r.url, 'acme/app', 'unsigned', admin);
    const pubSigned = await push(r.url, 'acme/app', 'signed', admin);
    trusted.add(pubSigned.digest);
    await assertRefused(await fetch(`${r.url}/v2/acme/app/manifests/unsigned`, { headers: accept }), pub.digest);
    assert.equal((await fetch(`${r.url}/v2/acme/app/manifests/signed`, { headers: accept })).status, 200);
  });

  test('facts that cannot be gathered refuse the pull (fail closed)', async () => {
    const broken = await push(r.url, 'admin/broken', 'v1', admin);
    trusted.add(broken.digest);
    await assertRefused(await fetch(`${r.url}/v2/admin/broken/manifests/v1`, { headers: { ...admin, ...accept } }), broken.digest, 'facts about the manifest are unavailable (trust)');
  });

  test('each refusal is a denied manifest.pull on record, with the rule and the reason', async () => {
    const api = new ApiClient(r.url, basicAuth('admin', ADMIN_PASSWORD));
    const res = await api.get('/audit?action=manifest.pull&outcome=denied&n=100');
    assert.equal(res.status, 200);
    const items = res.body.items as { actor: string; resource: string; outcome: string; detail: { digest: string; rule: string; reason: string } }[];
    const mine = items.filter((i) => i.detail.digest === unsigned.digest);
    // GET by tag and by digest, with Basic; GET with the bearer token (HEAD is never refused).
    assert.equal(mine.length, 3, JSON.stringify(mine));
    for (const i of mine) {
      assert.equal(i.actor, 'admin');
      assert.equal(i.detail.rule, 'trusted-signature');
      assert.equal(i.detail.reason, REASON);
    }
    assert.ok(mine.some((i) => i.resource === 'repository:admin/app:unsigned'));
    assert.ok(mine.some((i) => i.resource === `repository:admin/app@${unsigned.digest}`));
    assert.ok(items.some((i) => i.actor === '' && i.resource === 'repository:acme/app:unsigned'), 'anonymous refusals are on record too');
    // A refused pull is not also recorded as a pull.
    const pulls = await api.get('/audit?action=manifest.pull&outcome=success&n=100');
    assert.ok(!(pulls.body.items as { detail: { digest: string } }[]).some((i) => i.detail.digest === unsigned.digest));
    assert.ok((pulls.body.items as { detail: { digest: string } }[]).some((i) => i.detail.digest === signed.digest));
  });

  test("the audit view of the UI shows the refusal's reason in the record's row", async () => {
    requireChromium();
    assert.ok(existsSync(path.join(ROOT, 'web/dist/index.html')), 'the web UI is not built: run npm run build');
    const browser = await launchBrowser();
    try {
      const page = browser.page;
      await page.goto(`${r.url}/admin/audit`);
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Action or prefix').fill('manifest.pull');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      const records = page.getByRole('table', { name: /Audit records/ });
      const row = records.locator('tr', { hasText: 'repository:admin/app:unsigned' }).first();
      await row.waitFor();
      // Visible in the row itself, without opening the record.
      assert.ok(await row.getByText(REASON).isVisible());
      // (The sign-in page's session probe answers 401 before signing in: a console line, not a page error.)
      assert.deepEqual(browser.errors.filter((e) => e.startsWith('pageerror')), []);
    } finally {
      await browser.close();
    }
  });
});

describe('pull rules (authentication off)', () => {
  let r: Running;
  before(async () => { r = await start({ auth: { enabled: false } }); });
  after(() => stop(r));

  test('the rules hold without authentication too', async () => {
    const pushed = await push(r.url, 'library/app', 'v1', {});
    await assertRefused(await fetch(`${r.url}/v2/library/app/manifests/v1`, { headers: accept }), pushed.digest);
    trusted.add(pushed.digest);
    assert.equal((await fetch(`${r.url}/v2/library/app/manifests/v1`, { headers: accept })).status, 200);
  });
});
