// Webhooks against a real Berth (auth on) and local receivers on 127.0.0.1: what a push, pull, delete and a
// failed login deliver in each payload format, signatures, filters, custom headers, the SSRF guard,
// retries and dead letters, per-endpoint ordering, slow receivers, pings, and who may manage endpoints.
// Negative checks ("this endpoint got nothing about X") use a later marker event the endpoint does get:
// deliveries to one endpoint go out in event order, so once the marker arrived anything earlier would have.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { RECEIVER_EXAMPLE, verifySignature } from '../../src/events/webhook-signature.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, startBerth, tempDir, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';
import { Receiver, eventsOf, tick, waitFor, type SeenEvent } from '../helpers/receiver.js';

const PW = { alice: 'wonderland-rabbit-41', bob: 'builder-can-fix-it-7', carol: 'christmas-song-1843' };
const AUTH = {
  admin: basicAuth('admin', ADMIN_PASSWORD), alice: basicAuth('alice', PW.alice), bob: basicAuth('bob', PW.bob), carol: basicAuth('carol', PW.carol),
};
const WEBHOOKS = { allowLoopback: true, backoffBase: 0.05, backoffMax: 0.5, timeout: 2, maxAttempts: 3 };
const UA = 'webhook-test-client/1.0 (+berth)';

interface Pushed { name: string; tag: string; digest: string; size: number; status: number; requestId: string }

/** Pushes a small OCI image (one config blob, no layers) with Basic credentials. */
async function pushImage(b: BerthProcess, name: string, tag: string, auth: string): Promise<Pushed> {
  const headers = { authorization: auth, 'user-agent': UA };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  await pushBlob(b.url, name, config, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [] };
  const { digest, res, body } = await pushManifest(b.url, name, tag, m, MT.ociManifest, headers);
  const text = await res.text();
  assert.equal(res.status, 201, `push ${name}:${tag}: ${res.status} ${text}`);
  return { name, tag, digest, size: body.length, status: res.status, requestId: res.headers.get('x-request-id') ?? '' };
}

/** Events of every delivery to `path` answered 2xx, in arrival order. */
const acceptedEvents = (rcv: Receiver, path: string): SeenEvent[] => rcv.accepted(path).flatMap(eventsOf);
const find = (rcv: Receiver, path: string, pred: (e: SeenEvent) => boolean) => acceptedEvents(rcv, path).find(pred);
const waitEvent = (rcv: Receiver, path: string, what: string, pred: (e: SeenEvent) => boolean) => waitFor(`${what} at ${path}`, () => find(rcv, path, pred));

describe('webhooks', () => {
  let b: BerthProcess;
  let rcv: Receiver;
  const api: Record<keyof typeof AUTH, ApiClient> = {} as never;
  /** endpoint path at the receiver -> its secret */
  const secrets = new Map<string, string>();

  async function createEndpoint(client: ApiClient, org: string | null, body: Record<string, unknown>): Promise<{ id: number; secret: string; webhook: any }> {
    const r = await client.post(org ? `/organizations/${org}/webhooks` : '/webhooks', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const url = new URL(String(body.url));
    secrets.set(url.pathname, r.body.secret);
    return { id: r.body.webhook.id, secret: r.body.secret, webhook: r.body.webhook };
  }

  async function deliveries(client: ApiClient, org: string | null, id: number): Promise<any[]> {
    const r = await client.get(`${org ? `/organizations/${org}` : ''}/webhooks/${id}/deliveries`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.items;
  }

  before(async () => {
    rcv = await new Receiver().start();
    b = await startBerth({ auth: true, config: { webhooks: WEBHOOKS } });
    for (const k of Object.keys(AUTH) as (keyof typeof AUTH)[]) api[k] = new ApiClient(b.url, AUTH[k]);
    for (const [name, password] of Object.entries(PW)) assert.equal((await api.admin.post('/users', { name, password })).status, 201);
    // alice runs acme (bob develops there), carol runs globex.
    assert.equal((await api.alice.post('/organizations', { name: 'acme' })).status, 201);
    assert.equal((await api.alice.put('/organizations/acme/members/bob', { role: 'developer' })).status, 204);
    assert.equal((await api.carol.post('/organizations', { name: 'globex' })).status, 201);
  });

  after(async () => {
    await b?.stop();
    await rcv?.close();
    // Every delivery any test received is signed with its endpoint's secret.
    for (const r of rcv?.received ?? []) {
      const secret = secrets.get(r.path);
      if (secret) assert.ok(verifySignature(secret, r.headers, r.body), `delivery to ${r.path} has a valid signature`);
    }
  });

  test('push, pull and delete reach the organization endpoint (Distribution v1) and the global one (CloudEvents); a failed login only the global one; all signed', async () => {
    const org = await createEndpoint(api.alice, 'acme', { name: 'acme-dist', url: rcv.url('/t1/org'), format: 'distribution-v1', events: ['push', 'pull', 'delete'] });
    const orgLogins = await createEndpoint(api.alice, 'acme', { name: 'acme-logins', url: rcv.url('/t1/org-logins'), format: 'cloudevents', events: ['login_failure', 'push'] });
    const global = await createEndpoint(api.admin, null, { name: 'siem', url: rcv.url('/t1/global'), format: 'cloudevents', events: ['login_failure', 'push'] });
    assert.equal(org.webhook.org, 'acme');
    assert.equal(global.webhook.org, null);
    assert.equal(org.webhook.createdBy, 'alice');
    assert.match(org.secret, /\S{16,}/);
    assert.notEqual(org.secret, global.secret);

    // push (by bob, a developer of acme)
    const p = await pushImage(b, 'acme/app', 'v1', AUTH.bob);
    assert.match(p.requestId, /\S/);
    const pushed = await waitEvent(rcv, '/t1/org', 'push event', (e) => e.kind === 'push' && e.digest === p.digest);
    const delivery = rcv.accepted('/t1/org').find((r) => eventsOf(r).some((e) => e.id === pushed.id))!;
    assert.equal(delivery.method, 'POST');
    assert.equal(delivery.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
    assert.equal(delivery.headers['user-agent'], 'Berth-Webhook/1');
    assert.equal(delivery.headers['berth-webhook-id'], pushed.id, 'the signature id is the event id');
    const envelope = JSON.parse(delivery.body.toString());
    assert.equal(envelope.events.length, 1);
    const ev = envelope.events[0];
    assert.equal(ev.action, 'push');
    assert.match(ev.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(ev.timestamp)));
    assert.equal(ev.target.repository, 'acme/app');
    assert.equal(ev.target.tag, 'v1');
    assert.equal(ev.target.digest, p.digest);
    assert.equal(ev.target.mediaType, MT.ociManifest);
    assert.equal(ev.target.size, p.size);
    assert.equal(ev.target.length, p.size);
    assert.equal(ev.request.id, p.requestId, 'request.id is the push request\'s X-Request-Id');
    assert.equal(ev.request.useragent, UA);
    assert.equal(ev.request.method, 'PUT');
    assert.equal(ev.actor.name, 'bob');
    assert.ok(ev.source.instanceID);

    // The global endpoint gets the same push as a CloudEvent.
    const ce = await waitEvent(rcv, '/t1/global', 'push CloudEvent', (e) => e.kind === 'io.berth.manifest.pushed' && e.digest === p.digest);
    const ceDelivery = rcv.accepted('/t1/global').find((r) => eventsOf(r)[0]!.id === ce.id)!;
    assert.equal(ceDelivery.headers['content-type'], 'application/cloudevents+json');
    assert.equal(ce.raw.specversion, '1.0');
    assert.equal(ce.raw.subject, 'acme/app:v1');
    assert.equal(ce.id, pushed.id, 'one event, one id, whatever the format');
    assert.equal(ce.raw.data.actor.name, 'bob');
    assert.equal(ce.raw.data.request.id, p.requestId);

    // pull
    const get = await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { authorization: AUTH.bob, accept: MT.ociManifest } });
    assert.equal(get.status, 200);
    await get.arrayBuffer();
    const pull = await waitEvent(rcv, '/t1/org', 'pull event', (e) => e.kind === 'pull' && e.digest === p.digest);
    assert.equal(pull.repository, 'acme/app');
    assert.equal(pull.tag, 'v1');
    assert.equal(pull.raw.request.id, get.headers.get('x-request-id'));
    assert.equal(pull.raw.actor.name, 'bob');

    // delete (of the tag, by alice: a developer may not delete)
    const del = await fetch(`${b.url}/v2/acme/app/manifests/v1`, { method: 'DELETE', headers: { authorization: AUTH.alice } });
    assert.equal(del.status, 202, await del.text());
    const deleted = await waitEvent(rcv, '/t1/org', 'delete event', (e) => e.kind === 'delete' && e.tag === 'v1');
    assert.equal(deleted.repository, 'acme/app');
    assert.equal(deleted.raw.actor.name, 'alice');

    // A failed login: a CloudEvent to the global endpoint, never to an organization's (not even one that asked for logins).
    const bad = await new ApiClient(b.url).login('alice', 'not-alices-password-0');
    assert.equal(bad.status, 401);
    const login = await waitEvent(rcv, '/t1/global', 'login.failed CloudEvent', (e) => e.kind === 'io.berth.login.failed');
    assert.equal(login.raw.data.data.user, 'alice');
    assert.equal(login.repository, undefined);
    // Marker: a later push to acme that both organization endpoints receive.
    const marker = await pushImage(b, 'acme/app', 'marker', AUTH.bob);
    await waitEvent(rcv, '/t1/org-logins', 'marker push', (e) => e.digest === marker.digest);
    await waitEvent(rcv, '/t1/org', 'marker push', (e) => e.digest === marker.digest);
    for (const pathName of ['/t1/org', '/t1/org-logins']) {
      assert.deepEqual(acceptedEvents(rcv, pathName).filter((e) => /login/.test(e.kind)), [], `${pathName} got no login event`);
    }
    assert.equal(acceptedEvents(rcv, '/t1/org').filter((e) => e.kind === 'login.failed').length, 0);
    // The org endpoint heard exactly: push, pull, delete, marker push — in that order.
    assert.deepEqual(acceptedEvents(rcv, '/t1/org').map((e) => `${e.kind}:${e.tag}`), ['push:v1', 'pull:v1', 'delete:v1', 'push:marker']);

    // Signatures: every delivery verifies with its own endpoint's secret, not another's; a changed body does not.
    const all = [...rcv.at('/t1/org'), ...rcv.at('/t1/global'), ...rcv.at('/t1/org-logins')];
    assert.ok(all.length >= 7);
    for (const r of all) {
      const secret = secrets.get(r.path)!;
      assert.ok(verifySignature(secret, r.headers, r.body), `${r.path} delivery verifies`);
      assert.match(String(r.headers['berth-webhook-signature']), /^v1=[0-9a-f]{64}$/);
      const other = r.path === '/t1/global' ? org.secret : global.secret;
      assert.equal(verifySignature(other, r.headers, r.body), false, 'another endpoint\'s secret does not verify');
      const tampered = Buffer.from(r.body);
      tampered[tampered.length >> 1] ^= 0x01; // one bit changed
      assert.equal(verifySignature(secret, r.headers, tampered), false, 'a tampered body does not verify');
      assert.equal(verifySignature(secret, { ...r.headers, 'berth-webhook-id': 'replayed-id' }, r.body), false, 'the id is signed too');
    }
    assert.ok(orgLogins.id > 0);

    // The README's receiver example, run as a receiver would run it.
    const dir = await tempDir('berth-receiver-example-');
    try {
      const file = path.join(dir, 'verify.mjs');
      await writeFile(file, RECEIVER_EXAMPLE);
      const { verifyBerthWebhook } = (await import(pathToFileURL(file).href)) as { verifyBerthWebhook: (s: string, h: Record<string, unknown>, b: Buffer) => boolean };
      assert.equal(verifyBerthWebhook(org.secret, delivery.headers, delivery.body), true);
      assert.equal(verifyBerthWebhook(global.secret, ceDelivery.headers, ceDelivery.body), true);
      assert.equal(verifyBerthWebhook(org.secret, delivery.headers, Buffer.concat([delivery.body, Buffer.from(' ')])), false);
      assert.equal(verifyBerthWebhook(global.secret, delivery.headers, delivery.body), false);
    } finally {
      await removeDir(dir);
    }
  });

  test('distribution-v2 deliveries use the v2 events media type', async () => {
    await createEndpoint(api.alice, 'acme', { name: 'v2', url: rcv.url('/t2'), format: 'distribution-v2', events: ['push'], repositoryPattern: 'acme/v2app' });
    const p = await pushImage(b, 'acme/v2app', '1.0', AUTH.bob);
    const e = await waitEvent(rcv, '/t2', 'v2 push', (x) => x.digest === p.digest);
    const r = rcv.accepted('/t2')[0]!;
    assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
    assert.equal(e.kind, 'push');
    assert.deepEqual(Object.keys(e.raw.target).slice(0, 3), ['mediaType', 'digest', 'size']);
    assert.equal(e.raw.target.size, p.size);
  });

  test('filters: repository pattern, event families, organization scope, and no events from before an endpoint existed', async () => {
    // pattern
    await createEndpoint(api.alice, 'acme', { name: 'other-only', url: rcv.url('/t3/pattern'), events: ['push'], repositoryPattern: 'acme/other-*' });
    // delete only
    await createEndpoint(api.alice, 'acme', { name: 'deletes', url: rcv.url('/t3/deletes'), events: ['delete'], repositoryPattern: 'acme/filtered' });
    // an organization hears about its own repositories only
    await createEndpoint(api.carol, 'globex', { name: 'globex', url: rcv.url('/t3/globex'), events: ['push'] });

    const early = await pushImage(b, 'acme/late', 'before', AUTH.bob); // before the "late" endpoint exists
    const app = await pushImage(b, 'acme/filtered', 'x', AUTH.bob);
    const del = await fetch(`${b.url}/v2/acme/filtered/manifests/x`, { method: 'DELETE', headers: { authorization: AUTH.alice } });
    assert.equal(del.status, 202);
    const other = await pushImage(b, 'acme/other-svc', 'x', AUTH.bob);
    const globexPush = await pushImage(b, 'globex/tool', 'x', AUTH.carol);
    await createEndpoint(api.alice, 'acme', { name: 'late', url: rcv.url('/t3/late'), events: ['push'], repositoryPattern: 'acme/late' });
    const later = await pushImage(b, 'acme/late', 'after', AUTH.bob);

    // Markers received, so anything earlier for those endpoints would have arrived already.
    await waitEvent(rcv, '/t3/pattern', 'acme/other-svc push', (e) => e.digest === other.digest);
    assert.deepEqual(acceptedEvents(rcv, '/t3/pattern').map((e) => e.repository), ['acme/other-svc']);

    await waitEvent(rcv, '/t3/deletes', 'delete of acme/filtered:x', (e) => e.kind === 'delete' && e.tag === 'x');
    assert.deepEqual(acceptedEvents(rcv, '/t3/deletes').map((e) => e.kind), ['delete'], 'no push for a delete-only endpoint');
    assert.ok(app.digest);

    await waitEvent(rcv, '/t3/globex', 'globex push', (e) => e.digest === globexPush.digest);
    assert.deepEqual(acceptedEvents(rcv, '/t3/globex').map((e) => e.repository), ['globex/tool'], 'globex hears nothing about acme');

    await waitEvent(rcv, '/t3/late', 'push after creation', (e) => e.digest === later.digest);
    assert.deepEqual(acceptedEvents(rcv, '/t3/late').map((e) => e.tag), ['after']);
    assert.equal(find(rcv, '/t3/late', (e) => e.digest === early.digest), undefined);
  });

  test('custom headers arrive; the API never shows the secret or header values again; reserved headers are refused', async () => {
    const secret = 'my-own-webhook-secret-2024';
    const headerValue = `sekrit-${randomBytes(6).toString('hex')}`;
    const created = await api.alice.post('/organizations/acme/webhooks', {
      name: 'with-headers', url: rcv.url('/t4'), events: ['push'], repositoryPattern: 'acme/headers', secret,
      headers: { 'X-Api-Key': headerValue, 'X-Team': 'platform' },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.secret, secret);
    secrets.set('/t4', secret);
    const id = created.body.webhook.id;
    assert.deepEqual([...created.body.webhook.headerNames].sort(), ['X-Api-Key', 'X-Team']);
    assert.ok(!JSON.stringify(created.body.webhook).includes(headerValue));

    const p = await pushImage(b, 'acme/headers', '1', AUTH.bob);
    await waitEvent(rcv, '/t4', 'push with headers', (e) => e.digest === p.digest);
    const r = rcv.accepted('/t4')[0]!;
    assert.equal(r.headers['x-api-key'], headerValue);
    assert.equal(r.headers['x-team'], 'platform');
    assert.ok(verifySignature(secret, r.headers, r.body));

    const list = await api.alice.get('/organizations/acme/webhooks');
    const one = await api.alice.get(`/organizations/acme/webhooks/${id}`);
    const globalList = await api.admin.get('/webhooks');
    for (const res of [list, one, globalList]) {
      assert.equal(res.status, 200);
      const text = JSON.stringify(res.body);
      assert.ok(!text.includes(secret), 'no secret');
      assert.ok(!text.includes(headerValue), 'no header value');
      assert.ok(!/whsec_/.test(text), 'no generated secret either');
    }
    assert.deepEqual([...one.body.headerNames].sort(), ['X-Api-Key', 'X-Team']);
    assert.equal(one.body.secret, undefined);
    assert.equal(one.body.headers, undefined);
    const listed = list.body.items.find((w: { id: number }) => w.id === id);
    assert.deepEqual([...listed.headerNames].sort(), ['X-Api-Key', 'X-Team']);
    for (const w of list.body.items) assert.equal(w.secret, undefined);

    for (const name of ['Content-Type', 'Berth-Webhook-Signature', 'berth-webhook-id', 'Host', 'Content-Length', 'Transfer-Encoding', 'User-Agent']) {
      const res = await api.alice.post('/organizations/acme/webhooks', { name: 'reserved', url: rcv.url('/t4x'), events: ['push'], headers: { [name]: 'x' } });
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'INVALID_REQUEST');
      const patch = await api.alice.patch(`/organizations/acme/webhooks/${id}`, { headers: { [name]: 'x' } });
      assert.equal(patch.status, 400, `PATCH ${name}`);
    }
    const crlf = await api.alice.post('/organizations/acme/webhooks', { name: 'crlf', url: rcv.url('/t4x'), events: ['push'], headers: { 'X-A': 'a\r\nX-Injected: 1' } });
    assert.equal(crlf.status, 400);
    // The refused changes changed nothing.
    assert.deepEqual([...(await api.alice.get(`/organizations/acme/webhooks/${id}`)).body.headerNames].sort(), ['X-Api-Key', 'X-Team']);
    assert.equal((await api.alice.get('/organizations/acme/webhooks')).body.items.filter((w: { name: string }) => w.name === 'reserved' || w.name === 'crlf').length, 0);
  });

  test('SSRF guard: loopback refused without allowLoopback (also by name, at delivery); metadata and other schemes always', async (t) => {
    const bare = await startBerth({ auth: true, config: { webhooks: { ...WEBHOOKS, allowLoopback: undefined, allowPrivate: false } } });
    try {
      const admin = new ApiClient(bare.url, AUTH.admin);
      for (const url of [rcv.url('/t5'), `http://[::1]:${rcv.port}/t5`, `http://2130706433:${rcv.port}/t5`, `http://0x7f.1:${rcv.port}/t5`, `http://0.0.0.0:${rcv.port}/t5`]) {
        const r = await admin.post('/webhooks', { name: 'loop', url, events: ['push'] });
        assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'INVALID_REQUEST');
      }
      // The refusal names the setting that would allow the address.
      const loop = await admin.post('/webhooks', { name: 'loop', url: rcv.url('/t5'), events: ['push'] });
      assert.equal(loop.body.error.message, 'url refused: 127.0.0.1 is a loopback address; set webhooks.allowLoopback: true to allow it');
      const priv = await admin.post('/webhooks', { name: 'private', url: 'http://10.1.2.3:8080/hook', events: ['push'] });
      assert.equal(priv.status, 400, JSON.stringify(priv.body));
      assert.equal(priv.body.error.message, 'url refused: 10.1.2.3 is a private address; set webhooks.allowPrivate: true to allow it');
      // A name that resolves to loopback passes creation (names are judged at connect time) but is never reached.
      const byName = await admin.post('/webhooks', { name: 'localhost', url: `http://localhost:${rcv.port}/t5`, events: ['push'] });
      t.diagnostic(`http://localhost:PORT/ on creation: ${byName.status}`);
      if (byName.status === 400) {
        assert.equal(byName.body.error.code, 'INVALID_REQUEST');
      } else {
        assert.equal(byName.status, 201, JSON.stringify(byName.body));
        const id = byName.body.webhook.id;
        assert.equal((await admin.post(`/webhooks/${id}/ping`)).status, 202);
        const items = await waitFor('a blocked attempt', async () => {
          const r = await admin.get(`/webhooks/${id}/deliveries`);
          return r.body.items.length && r.body.items[0].history.length ? r.body.items : undefined;
        });
        assert.match(items[0].history[0].error, /EADDRBLOCKED: refused to connect: localhost resolves to a loopback address \(.+\); set webhooks\.allowLoopback: true to allow it/);
        assert.equal(items[0].history[0].status, null);
        assert.notEqual(items[0].state, 'delivered');
        // The refused attempt is logged with the same explanation.
        await waitFor('the refused attempt in the log', () => bare.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.endpoint === id && /webhooks\.allowLoopback: true/.test(l.error ?? '')));
        // Patching it to an address literal is refused like creating one, with the same explanation.
        const patch = await admin.patch(`/webhooks/${id}`, { url: `http://127.0.0.1:${rcv.port}/t5` });
        assert.equal(patch.status, 400);
        assert.match(patch.body.error.message, /127\.0\.0\.1 is a loopback address; set webhooks\.allowLoopback: true to allow it/);
      }
      // Metadata, link-local and non-http schemes: refused everywhere, also where loopback is allowed.
      for (const client of [admin, api.admin]) {
        for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://169.254.1.1/', `ftp://127.0.0.1:${rcv.port}/t5`, 'file:///etc/passwd', 'gopher://example.com/', 'not a url']) {
          const r = await client.post('/webhooks', { name: 'bad', url, events: ['push'] });
          assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.error.code, 'INVALID_REQUEST');
        }
      }
      assert.equal(rcv.at('/t5').length, 0, 'nothing reached the receiver');
      assert.equal((await admin.get('/webhooks')).body.items.filter((w: { name: string }) => w.name !== 'localhost').length, 0);
    } finally {
      await bare.stop();
    }
  });

  test('a failing receiver: 3 attempts then dead; redelivery after it recovers succeeds with the same event id', async () => {
    let healthy = false;
    rcv.on('/t6', () => (healthy ? 200 : { status: 500, body: 'database unavailable' }));
    const ep = await createEndpoint(api.alice, 'acme', { name: 'flaky', url: rcv.url('/t6'), events: ['push'], repositoryPattern: 'acme/retry' });
    const p = await pushImage(b, 'acme/retry', '1', AUTH.bob);
    const [dead] = await waitFor('the delivery to be dead-lettered', async () => {
      const items = await deliveries(api.alice, 'acme', ep.id);
      return items.length && items[0].state === 'dead' ? items : undefined;
    });
    assert.equal(dead.attempts, 3);
    assert.equal(dead.eventType, 'manifest.pushed');
    assert.deepEqual(dead.history.map((h: { status: number }) => h.status), [500, 500, 500]);
    assert.deepEqual(dead.history.map((h: { attempt: number }) => h.attempt), [1, 2, 3]);
    assert.equal(dead.lastStatus, 500);
    assert.match(dead.lastError, /500/);
    assert.match(dead.history[0].response, /database unavailable/);
    assert.ok(dead.finishedAt);
    const seen = rcv.at('/t6');
    assert.equal(seen.length, 3);
    assert.ok(seen.every((r) => r.headers['berth-webhook-id'] === dead.eventId));
    assert.equal(eventsOf(seen[0]!)[0]!.digest, p.digest);

    healthy = true;
    const other = await api.alice.post(`/organizations/acme/webhooks/${ep.id}/deliveries/999999/redeliver`);
    assert.equal(other.status, 404);
    const re = await api.alice.post(`/organizations/acme/webhooks/${ep.id}/deliveries/${dead.id}/redeliver`);
    assert.equal(re.status, 202, JSON.stringify(re.body));
    const [done] = await waitFor('the redelivery', async () => {
      const items = await deliveries(api.alice, 'acme', ep.id);
      return items.length && items[0].state === 'delivered' ? items : undefined;
    });
    assert.equal(done.id, dead.id);
    assert.equal(done.eventId, dead.eventId);
    assert.equal(done.lastStatus, 200);
    assert.equal(done.lastError, null);
    assert.equal(done.history.length, 4);
    assert.equal(done.history[done.history.length - 1].status, 200, 'the newest attempt is last in the history');
    const accepted = rcv.accepted('/t6');
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.headers['berth-webhook-id'], dead.eventId, 'the same event id again: receivers can drop duplicates');
    assert.equal(eventsOf(accepted[0]!)[0]!.id, dead.eventId);
    assert.ok(verifySignature(ep.secret, accepted[0]!.headers, accepted[0]!.body));
  });

  test('failed deliveries are logged: warn per failed attempt (masked URL, status, attempt, next retry), error for the dead letter; never secrets or the query', async () => {
    rcv.on('/t6log', { status: 503, body: 'maintenance' });
    const url = `http://hookuser:hook-password-77@127.0.0.1:${rcv.port}/t6log?token=query-secret-77`;
    const ep = await createEndpoint(api.alice, 'acme', { name: 'logged', url, events: ['push'], repositoryPattern: 'acme/logged' });
    await pushImage(b, 'acme/logged', '1', AUTH.bob);
    const lines = () => b.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.endpoint === ep.id);
    const deadLine = await waitFor('the dead letter in the log', () => lines().find((l) => l.msg === 'webhook delivery dead-lettered'));
    const warns = lines().filter((l) => l.msg === 'webhook delivery attempt failed; will retry');
    assert.deepEqual(warns.map((l) => l.attempt), [1, 2], 'one warn line per failed attempt before the last');
    for (const w of warns) {
      assert.equal(w.level, 40);
      assert.equal(w.status, 503);
      assert.equal(w.error, 'HTTP 503');
      assert.equal(w.url, `http://127.0.0.1:${rcv.port}/t6log`);
      assert.ok(!Number.isNaN(Date.parse(w.nextAttemptAt)), `next retry time: ${w.nextAttemptAt}`);
      assert.equal(typeof w.delivery, 'number');
    }
    assert.equal(deadLine.level, 50);
    assert.equal(deadLine.attempt, 3);
    assert.equal(deadLine.status, 503);
    assert.equal(deadLine.url, `http://127.0.0.1:${rcv.port}/t6log`);
    const all = b.logs.join('\n');
    for (const secret of ['query-secret-77', 'hook-password-77', ep.secret]) assert.ok(!all.includes(secret), `the log never shows ${secret}`);
  });

  test('per-endpoint ordering: after failures, events still arrive in push order', async () => {
    rcv.on('/t7', (_r, i) => (i < 2 ? 503 : 200));
    await createEndpoint(api.alice, 'acme', { name: 'ordered', url: rcv.url('/t7'), events: ['push'], repositoryPattern: 'acme/order' });
    const tags = ['t1', 't2', 't3', 't4', 't5'];
    for (const t of tags) await pushImage(b, 'acme/order', t, AUTH.bob);
    await waitFor('all five pushes', () => rcv.accepted('/t7').length >= 5);
    assert.deepEqual(acceptedEvents(rcv, '/t7').map((e) => e.tag), tags);
    // The two failures were the first event's, retried before anything later was sent.
    assert.deepEqual(rcv.at('/t7').slice(0, 3).map((r) => eventsOf(r)[0]!.tag), ['t1', 't1', 't1']);
    assert.deepEqual(rcv.at('/t7').map((r) => r.status), [503, 503, 200, 200, 200, 200, 200]);
  });

  test('a slow receiver does not hold up pushes; its timed-out delivery is retried', async () => {
    // The first request is answered after 3 s (past the 2 s timeout), later ones at once.
    rcv.on('/t8', (_r, i) => (i === 0 ? { status: 200, delayMs: 3000 } : 200));
    const ep = await createEndpoint(api.alice, 'acme', { name: 'slow', url: rcv.url('/t8'), events: ['push'], repositoryPattern: 'acme/slow' });
    const first = await pushImage(b, 'acme/slow', '1', AUTH.bob);
    const firstAcked = tick();
    const slow = await waitFor('the slow delivery to arrive', () => rcv.at('/t8')[0]);
    assert.ok(firstAcked < slow.arrivedAt, 'the push was answered before its delivery was even sent');
    // While that delivery is held open, pushes go on.
    const second = await pushImage(b, 'acme/slow', '2', AUTH.bob);
    const secondAcked = tick();
    const third = await pushImage(b, 'acme/slow', '3', AUTH.bob);
    const thirdAcked = tick();
    assert.equal(slow.answeredAt, undefined, 'the receiver had not answered yet when the pushes were acknowledged');
    await waitFor('the slow answer', () => slow.answeredAt);
    assert.ok(secondAcked < slow.answeredAt! && thirdAcked < slow.answeredAt!);

    await waitFor('all three delivered', () => rcv.accepted('/t8').length >= 3);
    assert.deepEqual(acceptedEvents(rcv, '/t8').map((e) => e.digest).filter((d, i, a) => a.indexOf(d) === i), [first.digest, second.digest, third.digest]);
    const items = await deliveries(api.alice, 'acme', ep.id);
    const d1 = items.find((d) => d.eventId === eventsOf(slow)[0]!.id);
    await waitFor('the first delivery recorded as delivered', async () => (await deliveries(api.alice, 'acme', ep.id)).every((d) => d.state === 'delivered'));
    const again = (await deliveries(api.alice, 'acme', ep.id)).find((d) => d.id === d1.id);
    assert.match(again.history[0].error, /timed out/);
    assert.equal(again.history[0].status, null);
    assert.equal(again.history[again.history.length - 1].status, 200);
  });

  test('removing an endpoint while its delivery is in flight leaves the server running', async () => {
    let answered = 0;
    rcv.on('/t8b', () => { answered++; return { status: 200, delayMs: 1000 }; });
    const ep = await createEndpoint(api.alice, 'acme', { name: 'going-away', url: rcv.url('/t8b'), events: ['push'], repositoryPattern: 'acme/going' });
    await pushImage(b, 'acme/going', '1', AUTH.bob);
    const inFlight = await waitFor('the delivery to arrive', () => rcv.at('/t8b')[0]);
    assert.equal((await api.alice.delete(`/organizations/acme/webhooks/${ep.id}`)).status, 204);
    await waitFor('the receiver to answer', () => inFlight.answeredAt);
    // The dispatcher then records the attempt of a delivery that no longer exists: the process must survive,
    // and deliveries to other endpoints go on.
    rcv.on('/t8c', 200);
    await createEndpoint(api.alice, 'acme', { name: 'still-here', url: rcv.url('/t8c'), events: ['push'], repositoryPattern: 'acme/going' });
    const p = await pushImage(b, 'acme/going', '2', AUTH.bob);
    await waitEvent(rcv, '/t8c', 'a later delivery', (e) => e.digest === p.digest);
    assert.equal(b.proc.exitCode, null, 'berth is still running');
    assert.equal((await fetch(`${b.url}/healthz`)).status, 200);
    assert.equal(answered, 1);
  });

  test('a disabled endpoint is sent nothing, not even retries; enabled again, it gets what was pending', async () => {
    let healthy = false;
    rcv.on('/t11', () => (healthy ? 200 : 500));
    const ep = await createEndpoint(api.alice, 'acme', { name: 'paused', url: rcv.url('/t11'), events: ['push'], repositoryPattern: 'acme/paused' });
    await createEndpoint(api.alice, 'acme', { name: 'paused-marker', url: rcv.url('/t11m'), events: ['push'], repositoryPattern: 'acme/paused-marker' });
    const first = await pushImage(b, 'acme/paused', '1', AUTH.bob);
    await waitFor('the first failed attempt', () => rcv.at('/t11').length >= 1);
    const off = await api.alice.patch(`/organizations/acme/webhooks/${ep.id}`, { enabled: false });
    assert.equal(off.status, 200);
    assert.equal(off.body.enabled, false);
    const [pending] = await deliveries(api.alice, 'acme', ep.id);
    assert.equal(pending.state, 'pending');
    const seenAtDisable = rcv.at('/t11').length;
    // Past the moment its next retry was due, and after two later deliveries elsewhere, it was not retried.
    await waitFor('the retry to be due', async () => {
      const [d] = await deliveries(api.alice, 'acme', ep.id);
      return Date.now() > d.nextAttemptAt;
    });
    for (const tag of ['m1', 'm2']) {
      const m = await pushImage(b, 'acme/paused-marker', tag, AUTH.bob);
      await waitEvent(rcv, '/t11m', 'marker', (e) => e.digest === m.digest);
    }
    const second = await pushImage(b, 'acme/paused', '2', AUTH.bob); // while disabled: not for this endpoint
    const m3 = await pushImage(b, 'acme/paused-marker', 'm3', AUTH.bob);
    await waitEvent(rcv, '/t11m', 'marker', (e) => e.digest === m3.digest);
    const [still] = await deliveries(api.alice, 'acme', ep.id);
    assert.equal(still.state, 'pending', `a disabled endpoint's delivery is paused, not retried to death (${still.attempts} attempts)`);
    assert.ok(rcv.at('/t11').length <= seenAtDisable + 1, 'at most an attempt already in flight when it was disabled');
    assert.equal((await deliveries(api.alice, 'acme', ep.id)).length, 1, 'an event while disabled makes no delivery');

    healthy = true;
    assert.equal((await api.alice.patch(`/organizations/acme/webhooks/${ep.id}`, { enabled: true })).status, 200);
    const third = await pushImage(b, 'acme/paused', '3', AUTH.bob);
    await waitEvent(rcv, '/t11', 'the push after re-enabling', (e) => e.digest === third.digest);
    assert.deepEqual(acceptedEvents(rcv, '/t11').map((e) => e.digest), [first.digest, third.digest]);
    assert.equal(find(rcv, '/t11', (e) => e.digest === second.digest), undefined);
  });

  test('ping: the receiver gets webhook.ping and the history shows it delivered', async () => {
    const ep = await createEndpoint(api.alice, 'acme', { name: 'pinged', url: rcv.url('/t9'), format: 'distribution-v1', events: ['push'] });
    const ping = await api.alice.post(`/organizations/acme/webhooks/${ep.id}/ping`);
    assert.equal(ping.status, 202, JSON.stringify(ping.body));
    assert.match(ping.body.eventId, /^[0-9a-f-]{36}$/);
    const e = await waitEvent(rcv, '/t9', 'ping', (x) => x.kind === 'webhook.ping');
    assert.equal(e.id, ping.body.eventId);
    assert.equal(e.raw.actor.name, 'alice');
    const [d] = await waitFor('the ping delivery recorded', async () => {
      const items = await deliveries(api.alice, 'acme', ep.id);
      return items.length && items[0].state === 'delivered' ? items : undefined;
    });
    assert.equal(d.id, ping.body.deliveryId);
    assert.equal(d.eventType, 'webhook.ping');
    assert.equal(d.attempts, 1);
    assert.equal(d.history.length, 1);
    assert.equal(d.history[0].status, 200);
    assert.ok(d.history[0].latencyMs >= 0);
    assert.equal(d.history[0].error, null);
    // A ping reaches only the endpoint it was sent to.
    const globalPing = await api.admin.post('/webhooks/999999/ping');
    assert.equal(globalPing.status, 404);
    assert.equal((await api.admin.post(`/webhooks/${ep.id}/ping`)).status, 404, 'an organization endpoint is not a global one');
    assert.equal((await api.carol.post(`/organizations/globex/webhooks/${ep.id}/ping`)).status, 404, 'nor another organization\'s');
  });

  test('authorization: organization admins manage their endpoints, developers and outsiders may not; global ones are for system administrators', async () => {
    const ep = await createEndpoint(api.alice, 'acme', { name: 'authz', url: rcv.url('/t10'), events: ['push'], repositoryPattern: 'acme/authz' });
    const routes: [string, string, unknown?][] = [
      ['GET', '/organizations/acme/webhooks'],
      ['POST', '/organizations/acme/webhooks', { name: 'x', url: rcv.url('/t10x'), events: ['push'] }],
      ['GET', `/organizations/acme/webhooks/${ep.id}`],
      ['PATCH', `/organizations/acme/webhooks/${ep.id}`, { enabled: false }],
      ['DELETE', `/organizations/acme/webhooks/${ep.id}`],
      ['POST', `/organizations/acme/webhooks/${ep.id}/ping`, {}],
      ['GET', `/organizations/acme/webhooks/${ep.id}/deliveries`],
      ['POST', `/organizations/acme/webhooks/${ep.id}/deliveries/1/redeliver`, {}],
      ['GET', '/webhooks'],
      ['POST', '/webhooks', { name: 'x', url: rcv.url('/t10x'), events: ['push'] }],
    ];
    for (const [method, p, body] of routes) {
      const dev = await api.bob.call(method, p, body);
      assert.equal(dev.status, 403, `developer ${method} ${p}: ${JSON.stringify(dev.body)}`);
      assert.equal(dev.body.error.code, 'DENIED');
      const outsider = await api.carol.call(method, p, body);
      assert.ok([403, 404].includes(outsider.status), `outsider ${method} ${p}: ${outsider.status}`);
      const anon = await new ApiClient(b.url).call(method, p, body);
      assert.equal(anon.status, 401, `anonymous ${method} ${p}`);
    }
    for (const [method, p, body] of routes.slice(-2)) {
      assert.equal((await api.alice.call(method, p, body)).status, 403, `org admin ${method} ${p}`);
    }
    // The organization admin manages it all.
    assert.equal((await api.alice.get('/organizations/acme/webhooks')).status, 200);
    const patched = await api.alice.patch(`/organizations/acme/webhooks/${ep.id}`, { events: ['push', 'delete'], name: 'authz2' });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.events, ['push', 'delete']);
    assert.equal(patched.body.name, 'authz2');
    assert.equal((await api.alice.post(`/organizations/acme/webhooks/${ep.id}/ping`)).status, 202);
    await waitEvent(rcv, '/t10', 'ping', (e) => e.kind === 'webhook.ping');
    assert.equal((await api.alice.get(`/organizations/acme/webhooks/${ep.id}/deliveries`)).status, 200);
    assert.equal((await api.alice.delete(`/organizations/acme/webhooks/${ep.id}`)).status, 204);
    assert.equal((await api.alice.get(`/organizations/acme/webhooks/${ep.id}`)).status, 404);
    // A system administrator manages both kinds.
    assert.equal((await api.admin.get('/organizations/acme/webhooks')).status, 200);
    assert.equal((await api.admin.get('/webhooks')).status, 200);
    // Carol administers globex, and that gives her nothing over acme's endpoints.
    assert.equal((await api.carol.get('/organizations/globex/webhooks')).status, 200);
    // Changes to endpoints are in the audit log.
    const audit = await api.admin.get('/audit?action=webhook.');
    assert.equal(audit.status, 200);
    const actions = new Set(audit.body.items.map((r: { action: string }) => r.action));
    for (const a of ['webhook.create', 'webhook.update', 'webhook.delete', 'webhook.ping', 'webhook.redeliver']) assert.ok(actions.has(a), a);
    assert.ok(!JSON.stringify(audit.body).includes('my-own-webhook-secret-2024'), 'no secret in the audit log');
  });
});

