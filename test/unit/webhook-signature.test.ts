import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RECEIVER_EXAMPLE, signatureHeaders, verifySignature } from '../../src/events/webhook-signature.js';

const SECRET = 'whsec-test-0123456789';
const BODY = Buffer.from('{"events":[{"id":"e1","action":"push"}]}');
const TS = 1_700_000_000;

/** Node's IncomingHttpHeaders shape: lower-case names. */
const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

describe('signatureHeaders', () => {
  test('id, timestamp and v1=<hex HMAC-SHA256 over "<id>.<timestamp>.<body>">', () => {
    const h = signatureHeaders(SECRET, BODY, { id: 'delivery-1', timestamp: TS });
    assert.deepEqual(Object.keys(h).sort(), ['Berth-Webhook-Id', 'Berth-Webhook-Signature', 'Berth-Webhook-Timestamp']);
    assert.equal(h['Berth-Webhook-Id'], 'delivery-1');
    assert.equal(h['Berth-Webhook-Timestamp'], String(TS));
    const expected = createHmac('sha256', SECRET).update(`delivery-1.${TS}.${BODY.toString()}`).digest('hex');
    assert.equal(h['Berth-Webhook-Signature'], `v1=${expected}`);
  });

  test('timestamp defaults to now, in seconds', () => {
    const before = Math.floor(Date.now() / 1000);
    const ts = Number(signatureHeaders(SECRET, BODY, { id: 'x' })['Berth-Webhook-Timestamp']);
    assert.ok(ts >= before && ts <= before + 2, `${ts} is unix seconds near ${before}`);
  });

  test('several secrets (rotation) give one v1= value each, space separated', () => {
    const h = signatureHeaders(['old-secret', 'new-secret'], BODY, { id: 'd', timestamp: TS });
    const values = h['Berth-Webhook-Signature']!.split(' ');
    assert.equal(values.length, 2);
    assert.equal(values[0], `v1=${createHmac('sha256', 'old-secret').update(`d.${TS}.`).update(BODY).digest('hex')}`);
    assert.equal(values[1], `v1=${createHmac('sha256', 'new-secret').update(`d.${TS}.`).update(BODY).digest('hex')}`);
  });

  test('refuses empty secrets and ids that could break the header', () => {
    assert.throws(() => signatureHeaders('', BODY, { id: 'd' }), TypeError);
    assert.throws(() => signatureHeaders([], BODY, { id: 'd' }), TypeError);
    assert.throws(() => signatureHeaders(SECRET, BODY, { id: '' }), TypeError);
    assert.throws(() => signatureHeaders(SECRET, BODY, { id: 'a\r\nX-Evil: 1' }), TypeError);
    assert.throws(() => signatureHeaders(SECRET, BODY, { id: 'd', timestamp: 1.5 }), TypeError);
  });
});

describe('verifySignature', () => {
  const signed = lower(signatureHeaders(SECRET, BODY, { id: 'delivery-1', timestamp: TS }));
  const at = { now: TS + 10 };

  test('accepts a fresh, correctly signed delivery (any header-name case)', () => {
    assert.equal(verifySignature(SECRET, signed, BODY, at), true);
    assert.equal(verifySignature(SECRET, signatureHeaders(SECRET, BODY, { id: 'delivery-1', timestamp: TS }), BODY, at), true);
    assert.equal(verifySignature(SECRET, new Headers(signed), BODY, at), true);
  });

  test('rejects a wrong secret, a changed body, a changed id or timestamp', () => {
    assert.equal(verifySignature('other-secret', signed, BODY, at), false);
    assert.equal(verifySignature(SECRET, signed, Buffer.from(BODY.toString().replace('push', 'pull')), at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-id': 'delivery-2' }, BODY, at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-timestamp': String(TS + 1) }, BODY, { now: TS }), false);
  });

  test('rejects stale and far-future timestamps; tolerance is configurable', () => {
    assert.equal(verifySignature(SECRET, signed, BODY, { now: TS + 301 }), false);
    assert.equal(verifySignature(SECRET, signed, BODY, { now: TS + 300 }), true);
    assert.equal(verifySignature(SECRET, signed, BODY, { now: TS - 301 }), false, 'from the future');
    assert.equal(verifySignature(SECRET, signed, BODY, { now: TS + 1000, toleranceSeconds: 1200 }), true);
    // default `now` is the real clock: TS is long past
    assert.equal(verifySignature(SECRET, signed, BODY), false);
  });

  test('missing or malformed headers are a plain false, never a throw', () => {
    assert.equal(verifySignature(SECRET, {}, BODY, at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-signature': undefined }, BODY, at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-timestamp': 'yesterday' }, BODY, at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-signature': 'v1=zz v1= v1=abc' }, BODY, at), false);
    assert.equal(verifySignature(SECRET, { ...signed, 'berth-webhook-signature': signed['berth-webhook-signature']!.replace('v1=', 'v0=') }, BODY, at), false);
  });

  test('secret rotation: any matching value passes, either secret on the receiver side works', () => {
    const rotating = lower(signatureHeaders(['old-secret', 'new-secret'], BODY, { id: 'd', timestamp: TS }));
    assert.equal(verifySignature('old-secret', rotating, BODY, at), true);
    assert.equal(verifySignature('new-secret', rotating, BODY, at), true);
    assert.equal(verifySignature('third', rotating, BODY, at), false);
    assert.equal(verifySignature(['third', 'new-secret'], rotating, BODY, at), true);
    // unknown future versions and junk next to a good value are ignored
    const mixed = { ...rotating, 'berth-webhook-signature': `v2=abcdef junk ${rotating['berth-webhook-signature']}` };
    assert.equal(verifySignature('new-secret', mixed, BODY, at), true);
  });

  describe('the README receiver example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sig-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('is about ten lines and verifies what Berth signs', async () => {
      const lines = RECEIVER_EXAMPLE.trim().split('\n');
      assert.ok(lines.length <= 14, `${lines.length} lines`);
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, RECEIVER_EXAMPLE);
      const { verifyBerthWebhook } = await import(pathToFileURL(file).href) as {
        verifyBerthWebhook: (secret: string, headers: Record<string, string>, body: Buffer) => boolean;
      };
      const now = lower(signatureHeaders(SECRET, BODY, { id: 'd-1' }));
      assert.equal(verifyBerthWebhook(SECRET, now, BODY), true);
      assert.equal(verifyBerthWebhook('wrong', now, BODY), false);
      assert.equal(verifyBerthWebhook(SECRET, now, Buffer.from(`${BODY} `)), false);
      assert.equal(verifyBerthWebhook(SECRET, signed, BODY), false, 'stale timestamp');
      const rotating = lower(signatureHeaders(['old', SECRET], BODY, { id: 'd-2' }));
      assert.equal(verifyBerthWebhook(SECRET, rotating, BODY), true);
      assert.equal(verifyBerthWebhook(SECRET, {}, BODY), false);
    });
  });
});
