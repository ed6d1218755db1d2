// One webhook delivery attempt: a single POST with a hard deadline, no redirects, SSRF-guarded, and a
// bounded read of the answer. Retries, backoff and the delivery history belong to the caller (jobs/).
//
// Contract:
//  - ok only for 2xx. 3xx is a failure (status recorded): following a redirect would let a receiver bounce
//    Berth's signed POST to an address the guard never saw.
//  - timeoutMs bounds everything until the status line (DNS, connect, TLS, sending, waiting); on expiry
//    the socket is destroyed. Once a status has arrived the outcome is that status: reading the snippet
//    is cut at the same deadline, it does not turn a received 2xx into a failure.
//  - At most 4 KiB of the response body is kept (UTF-8 snippet for the history); then the connection is
//    closed instead of draining the rest (connections are never reused: agent false).
//  - Custom `headers` must not name Content-Type, Content-Length, Host, User-Agent, hop-by-hop headers or
//    any Berth-Webhook-* header: such a request is refused as a whole (ok false, nothing sent) so a
//    misconfigured endpoint shows up in its delivery history instead of being silently altered. The
//    signature headers come only from `signature`, computed here over the exact bytes sent.
//  - Errors name the failure (code and message) but never the URL's path or query, the body or secrets.
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { checkUrl, guardedLookup, type AddressPolicy } from '../lib/address-guard.js';
import { signatureHeaders } from './webhook-signature.js';

export const WEBHOOK_USER_AGENT = 'Berth-Webhook/1';
export const RESPONSE_SNIPPET_BYTES = 4096;

export interface DeliveryRequest {
  url: string;
  body: Buffer;
  contentType: string;
  /** custom headers configured on the endpoint (see isReservedHeader) */
  headers: Record<string, string>;
  timeoutMs: number;
  policy: AddressPolicy;
  /** TLS verification is on unless verify is false; `ca` (PEM) replaces the default roots for this endpoint */
  tls?: { verify: boolean; ca?: string };
  /** when set, Berth-Webhook-Id/-Timestamp/-Signature are added (see webhook-signature.ts) */
  signature?: { secret: string | readonly string[]; id: string; timestamp?: number };
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  latencyMs: number;
  error?: string;
  responseSnippet?: string;
}

const RESERVED_HEADERS = new Set([
  'content-type', 'content-length', 'host', 'user-agent',
  // hop-by-hop or framing: a custom value would corrupt the request or change its semantics
  'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect', 'proxy-connection',
]);

/** Whether a custom endpoint header name is one Berth controls (use it to validate endpoint config). */
export function isReservedHeader(name: string): boolean {
  const n = name.trim().toLowerCase();
  return RESERVED_HEADERS.has(n) || n.startsWith('berth-webhook-');
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const message = (e instanceof Error ? e.message : String(err)).replace(/\s+/g, ' ').slice(0, 300);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

export async function deliver(req: DeliveryRequest): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failure = (error: string, status?: number): DeliveryResult =>
    ({ ok: false, ...(status === undefined ? {} : { status }), latencyMs: elapsed(), error });

  let url: URL;
  try { url = new URL(req.url); } catch { return failure('invalid URL'); }
  try { checkUrl(url, req.policy); } catch (err) { return failure(describe(err)); }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    } catch {
      return failure('a custom header has an invalid name or value');
    }
    if (isReservedHeader(name)) return failure(`custom header ${name} is reserved and may not be set`);
    headers[name] = value;
  }
  if (req.signature) {
    Object.assign(headers, signatureHeaders(req.signature.secret, req.body, { id: req.signature.id, timestamp: req.signature.timestamp }));
  }
  headers['Content-Type'] = req.contentType;
  headers['Content-Length'] = String(req.body.length);
  headers['User-Agent'] = WEBHOOK_USER_AGENT;

  const isHttps = url.protocol === 'https:';
  const options: https.RequestOptions = {
    method: 'POST',
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || (isHttps ? 443 : 80),
    path: `${url.pathname || '/'}${url.search}`,
    headers,
    agent: false,
    lookup: guardedLookup(req.policy),
  };
  if (url.username || url.password) options.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  if (isHttps) {
    options.rejectUnauthorized = req.tls?.verify !== false;
    if (req.tls?.ca) options.ca = req.tls.ca;
  }

  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    let status: number | undefined;
    let finishResponse: (() => void) | undefined;
    let request: http.ClientRequest | undefined;

    const settle = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request?.destroy(); // also closes a response we stopped reading
      resolve(result);
    };

    const timer = setTimeout(() => {
      if (finishResponse) return finishResponse(); // status known: keep it, cut the snippet here
      settle(failure(`timed out after ${req.timeoutMs} ms without a response`));
    }, Math.max(1, req.timeoutMs));

    try {
      request = (isHttps ? https : http).request(options, (res) => {
        status = res.statusCode ?? 0;
        const decoder = new StringDecoder('utf8'); // holds back a character cut at the 4 KiB boundary
        let kept = 0;
        let snippet = '';
        finishResponse = () => {
          const s = status!;
          const ok = s >= 200 && s < 300;
          const result: DeliveryResult = { ok, status: s, latencyMs: elapsed(), responseSnippet: snippet };
          if (!ok) result.error = s >= 300 && s < 400 ? `HTTP ${s}: redirect not followed` : `HTTP ${s}`;
          settle(result);
        };
        res.on('data', (chunk: Buffer) => {
          if (kept < RESPONSE_SNIPPET_BYTES) {
            const part = chunk.subarray(0, RESPONSE_SNIPPET_BYTES - kept);
            kept += part.length;
            snippet += decoder.write(part);
          }
          if (kept >= RESPONSE_SNIPPET_BYTES) finishResponse!();
        });
        res.on('end', () => finishResponse!());
        res.on('error', () => finishResponse!());
        res.on('aborted', () => finishResponse!());
      });
    } catch (err) {
      return settle(failure(describe(err)));
    }
    request.on('error', (err) => {
      if (finishResponse) return finishResponse();
      settle(failure(describe(err)));
    });
    request.end(req.body);
  });
}
