// Webhook request signing, in the style of Standard Webhooks / Stripe, so a receiver can check in a few
// lines that a delivery came from Berth, was not altered, and is not an old one replayed.
//
// Scheme (version v1):
//   Berth-Webhook-Id:        the delivery id (stable across retries: receivers drop duplicates by it)
//   Berth-Webhook-Timestamp: unix time in seconds when this attempt was signed
//   Berth-Webhook-Signature: "v1=<hex>" — lower-case hex of HMAC-SHA256(key, "<id>.<timestamp>.<body>")
//     key  = the endpoint's secret as UTF-8 bytes, used as is (no base64 decoding, no prefix)
//     body = the exact request body bytes (verify before parsing JSON; re-serializing changes bytes)
//   The id is signed too, so a captured request cannot be replayed under a fresh id to slip past
//   de-duplication. During secret rotation Berth signs with every active secret and sends the values
//   separated by single spaces ("v1=<hex> v1=<hex>"); a receiver accepts if any value matches. Values
//   with another version prefix are ignored, so future schemes can be added alongside.
//   Receivers should reject timestamps more than 5 minutes from their clock (replay window).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_ID_HEADER = 'Berth-Webhook-Id';
export const WEBHOOK_TIMESTAMP_HEADER = 'Berth-Webhook-Timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'Berth-Webhook-Signature';

/** Receiver-side verification in plain Node.js (ESM), for the README. Kept runnable: a test imports it. */
export const RECEIVER_EXAMPLE = `import { createHmac, timingSafeEqual } from 'node:crypto';

// headers: Node's lower-cased request headers; rawBody: the exact bytes received (a Buffer).
export function verifyBerthWebhook(secret, headers, rawBody, toleranceSeconds = 300) {
  const id = headers['berth-webhook-id'], ts = headers['berth-webhook-timestamp'] ?? '';
  if (!id || !/^\\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(\`\${id}.\${ts}.\`).update(rawBody).digest();
  return (headers['berth-webhook-signature'] ?? '').split(' ').some((value) => {
    const given = Buffer.from(value.startsWith('v1=') ? value.slice(3) : '', 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
`;

function sign(secret: string, id: string, timestamp: number, body: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${id}.${timestamp}.`).update(body).digest();
}

/**
 * The three signature headers for one delivery attempt. `secret` may list several secrets (rotation):
 * one `v1=` value each, in order. `timestamp` is unix seconds (default: now).
 */
export function signatureHeaders(secret: string | readonly string[], body: Buffer, opts: { id: string; timestamp?: number }): Record<string, string> {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => s.length === 0)) throw new TypeError('webhook secret must not be empty');
  if (!opts.id || /[\r\n]/.test(opts.id)) throw new TypeError('webhook delivery id must be a non-empty single line');
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new TypeError('timestamp must be whole unix seconds');
  return {
    [WEBHOOK_ID_HEADER]: opts.id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
    [WEBHOOK_SIGNATURE_HEADER]: secrets.map((s) => `v1=${sign(s, opts.id, timestamp, body).toString('hex')}`).join(' '),
  };
}

type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const bag = headers as Record<string, string | string[] | undefined>;
  const wanted = name.toLowerCase();
  const key = Object.keys(bag).find((k) => k.toLowerCase() === wanted);
  const v = key === undefined ? undefined : bag[key];
  return Array.isArray(v) ? v.join(' ') : v;
}

/**
 * Checks a received delivery: a fresh timestamp (within toleranceSeconds of `now`, unix seconds, either
 * direction) and at least one `v1=` value matching one of the secrets. Header names are matched
 * case-insensitively; accepts Node's IncomingHttpHeaders, a plain record or a fetch Headers object.
 */
export function verifySignature(
  secret: string | readonly string[],
  headers: HeaderBag,
  body: Buffer,
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { toleranceSeconds = 300 } = opts;
  const now = opts.now ?? Date.now() / 1000;
  const id = header(headers, WEBHOOK_ID_HEADER);
  const ts = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  const sig = header(headers, WEBHOOK_SIGNATURE_HEADER);
  if (!id || !ts || !sig || !/^\d{1,15}$/.test(ts)) return false;
  const timestamp = Number(ts);
  if (Math.abs(now - timestamp) > toleranceSeconds) return false;
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  const expected = secrets.filter((s) => s.length > 0).map((s) => sign(s, id, timestamp, body));
  let ok = false;
  for (const value of sig.split(' ')) {
    if (!value.startsWith('v1=')) continue;
    const hex = value.slice(3);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) continue;
    const given = Buffer.from(hex, 'hex');
    // no early exit: the time taken does not depend on which value or secret matched
    for (const e of expected) if (timingSafeEqual(given, e)) ok = true;
  }
  return ok;
}
