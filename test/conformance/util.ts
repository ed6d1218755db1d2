// Shared helpers for the black-box OCI distribution conformance suite (test/conformance/*.test.ts).
// Everything here talks HTTP only; nothing imports server code.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';

// A hung request must fail its test instead of stalling the whole file: every fetch made by the
// conformance suite (including the ones in test/helpers/oci.ts) gets a deadline unless it has a signal.
export const REQUEST_TIMEOUT_MS = Number(process.env.CONFORMANCE_REQUEST_TIMEOUT_MS ?? 30_000);
const realFetch = globalThis.fetch;
if (!(realFetch as { __conformanceDeadline?: boolean }).__conformanceDeadline) {
  const withDeadline = ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    realFetch(input, init?.signal ? init : { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })) as typeof fetch;
  (withDeadline as { __conformanceDeadline?: boolean }).__conformanceDeadline = true;
  globalThis.fetch = withDeadline;
}

/** Every error code the distribution spec allows in an errors envelope. */
export const SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED',
  'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];

export interface OciErrorItem { code: string; message?: string; detail?: unknown }

let counter = 0;
/** A fresh, valid, unique repository name. */
export function repo(prefix = 'conf'): string {
  counter += 1;
  return `${prefix}/r${Date.now().toString(36)}${counter}${randomBytes(3).toString('hex')}`;
}

export const sha512 = (b: Buffer | string) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
export const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);
export const randomDigest = () => `sha256:${randomBytes(32).toString('hex')}`;

/** Parses an OCI errors envelope out of a body, failing the assertion if the body is not one. */
export function parseEnvelope(body: string, ctx = ''): OciErrorItem[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    assert.fail(`${ctx}: expected a JSON errors envelope, got ${JSON.stringify(body.slice(0, 300))}`);
  }
  assert.ok(json && typeof json === 'object' && Array.isArray((json as { errors?: unknown }).errors),
    `${ctx}: body is not {"errors":[...]}: ${body.slice(0, 300)}`);
  const errors = (json as { errors: OciErrorItem[] }).errors;
  assert.ok(errors.length >= 1, `${ctx}: errors[] is empty`);
  for (const e of errors) {
    assert.equal(typeof e.code, 'string', `${ctx}: error without a string code: ${body.slice(0, 300)}`);
    assert.match(e.code, /^[A-Z_]+$/, `${ctx}: error code must be upper case and underscores`);
    if (e.message !== undefined) assert.equal(typeof e.message, 'string', `${ctx}: message must be a string`);
  }
  return errors;
}

/**
 * Asserts an OCI error response: the exact status (or one of several) and that the envelope carries
 * (at least) one of the given codes. Returns the parsed errors.
 */
export async function expectError(res: Response, status: number | number[], codes: string | string[], ctx = ''): Promise<OciErrorItem[]> {
  const body = await res.text();
  const statuses = Array.isArray(status) ? status : [status];
  const want = Array.isArray(codes) ? codes : [codes];
  const where = `${ctx} ${res.url ? new URL(res.url).pathname + new URL(res.url).search : ''}`.trim();
  assert.ok(statuses.includes(res.status), `${where}: expected status ${statuses.join('|')}, got ${res.status}: ${body.slice(0, 400)}`);
  const errors = parseEnvelope(body, where);
  assert.ok(errors.some((e) => want.includes(e.code)),
    `${where}: expected error code ${want.join('|')}, got ${errors.map((e) => e.code).join(',')}: ${body.slice(0, 400)}`);
  return errors;
}

/** Asserts a status and returns the body text (with the body in the failure message). */
export async function expectStatus(res: Response, status: number | number[], ctx = ''): Promise<string> {
  const body = await res.text();
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(res.status),
    `${ctx} ${res.url ? new URL(res.url).pathname : ''}: expected status ${statuses.join('|')}, got ${res.status}: ${body.slice(0, 400)}`);
  return body;
}

/** Resolves a Location header (absolute or relative) against the registry base. */
export function resolveLocation(base: string, res: Response): URL {
  const loc = res.headers.get('location');
  assert.ok(loc, `response ${res.status} has no Location header`);
  return new URL(loc, base);
}

/** Starts an upload session; returns the session URL and the response. */
export async function startUpload(base: string, name: string, headers: Record<string, string> = {}): Promise<{ url: URL; res: Response }> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0', ...headers } });
  const body = await res.text();
  assert.equal(res.status, 202, `POST /v2/${name}/blobs/uploads/: ${res.status} ${body}`);
  return { url: resolveLocation(base, res), res };
}

/** Copies a URL and sets query parameters on it (keeps any the registry put there). */
export function withQuery(u: URL, params: Record<string, string>): URL {
  const c = new URL(u);
  for (const [k, v] of Object.entries(params)) c.searchParams.set(k, v);
  return c;
}

export async function patchChunk(url: URL, data: Buffer<ArrayBuffer>, range?: string, extra: Record<string, string> = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(data.length), ...extra };
  if (range !== undefined) headers['content-range'] = range;
  return fetch(url, { method: 'PATCH', body: data, headers });
}

/** Uploads a whole blob with POST then PUT ?digest=, asserting 201. */
export async function putBlob(base: string, name: string, data: Buffer<ArrayBuffer>, digest: string): Promise<Response> {
  const { url } = await startUpload(base, name);
  const res = await fetch(withQuery(url, { digest }), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  const body = await res.text();
  assert.equal(res.status, 201, `PUT blob ${digest} into ${name}: ${res.status} ${body}`);
  return res;
}

export interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** node:http request with a literal path (no URL normalisation, unlike fetch). */
export function rawRequest(base: string, method: string, rawPath: string, opts: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: Number(u.port), method, path: rawPath, headers: { connection: 'close', ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout ${method} ${rawPath}`)));
    if (opts.body !== undefined) req.end(opts.body); else req.end();
  });
}

/**
 * Writes raw bytes to the server socket and collects everything the server sends back until it closes
 * the connection (or the timeout fires). Used to check that HEAD responses carry no body.
 */
export function rawSocket(base: string, payload: Buffer | string, timeoutMs = 3000): Promise<Buffer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(Number(u.port), u.hostname, () => sock.write(payload));
    const done = () => { clearTimeout(t); sock.destroy(); resolve(Buffer.concat(chunks)); };
    const t = setTimeout(done, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', (e) => { clearTimeout(t); if (chunks.length) resolve(Buffer.concat(chunks)); else reject(e); });
  });
}

/**
 * Sends a request whose Content-Length promises more bytes than are sent, then destroys the socket.
 * Resolves once the socket is gone; whatever the server answered (if anything) is returned.
 */
export function lyingRequest(base: string, method: string, rawPath: string, declared: number, sent: Buffer, headers: Record<string, string> = {}): Promise<Buffer> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect(Number(u.port), u.hostname, () => {
      const head = [`${method} ${rawPath} HTTP/1.1`, `Host: ${u.host}`, `Content-Length: ${declared}`,
        'Content-Type: application/octet-stream', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      sock.write(head);
      sock.write(sent, () => setTimeout(() => sock.destroy(), 300));
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.on('error', () => { /* destroyed on purpose */ });
  });
}

/** Splits a raw HTTP/1.1 response into status, header block and body bytes. */
export function splitRaw(raw: Buffer): { status: number; head: string; body: Buffer } {
  const idx = raw.indexOf('\r\n\r\n');
  assert.ok(idx >= 0, `no complete HTTP response head in ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const head = raw.subarray(0, idx).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, head, body: raw.subarray(idx + 4) };
}

/** All regular files below dir (recursive); missing dir → []. */
export async function listFiles(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Files below dir whose sha256 content digest is one of `digests`. */
export async function filesWithContent(dir: string, digests: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const f of await listFiles(dir)) {
    try {
      const s = await stat(f);
      if (s.size > 64 * 1024 * 1024) continue;
      const d = `sha256:${createHash('sha256').update(await readFile(f)).digest('hex')}`;
      if (digests.includes(d)) found.push(f);
    } catch { /* vanished while listing */ }
  }
  return found;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Parses `Link: <url>; rel="next"`; returns the URL (resolved against base) or null when absent. */
export function nextLink(base: string, res: Response): URL | null {
  const link = res.headers.get('link');
  if (!link) return null;
  const m = /^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return new URL(m[1], base);
}

/** Media type of a Content-Type header without parameters. */
export const mediaTypeOf = (ct: string | null) => (ct ?? '').split(';')[0].trim().toLowerCase();
