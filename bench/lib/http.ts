// A small OCI Distribution client on node:http with keep-alive and streaming bodies.
// Every failure is a RequestError naming the request, the status and the response body,
// so the benchmark can report precisely what a registry refused.
import http from 'node:http';
import { repoScope, type Auth } from './auth.js';
import { slices, type Payload } from './data.js';

export const agent = new http.Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 10_000 });

export class RequestError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number | undefined,
    readonly body: string,
    readonly detail = '',
  ) {
    super(
      `${method} ${url} -> ${status === undefined ? 'no response' : `HTTP ${status}`}` +
        (detail ? ` (${detail})` : '') +
        (body ? `; body: ${body}` : ''),
    );
  }
}

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface StreamBody {
  length: number;
  chunks: () => Iterable<Buffer>;
}

export interface ReqOpts {
  headers?: Record<string, string>;
  body?: Buffer | StreamBody;
  timeoutMs?: number;
  /** consumes a 2xx response body instead of buffering it */
  sink?: (res: http.IncomingMessage) => Promise<void>;
}

const MAX_ERROR_BODY = 2000;
/** idle (no bytes moving) timeout for big uploads/downloads; small requests get 15 s */
const BIG_TIMEOUT_MS = 30_000;

function pathOf(u: URL): string {
  return u.pathname + u.search;
}

function waitDrain(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

export function request(method: string, url: URL | string, opts: ReqOpts = {}): Promise<Res> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise<Res>((resolve, reject) => {
    let settled = false;
    let responded = false;
    let written = 0;
    let bodyDone = false;
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body) headers['content-length'] = String(opts.body.length);
    else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['content-length'] = '0';

    const fail = (err: unknown, status?: number, body = '') => {
      if (settled) return;
      settled = true;
      const msg = err instanceof Error ? err.message : String(err);
      const progress = opts.body ? `; ${written} of ${opts.body.length} body bytes sent` : '';
      reject(err instanceof RequestError ? err : new RequestError(method, pathOf(u), status, body, msg + progress));
    };

    const req = http.request(u, { method, headers, agent }, (res) => {
      responded = true;
      const status = res.statusCode ?? 0;
      res.on('error', (e) => fail(e, status));
      if (opts.sink && status >= 200 && status < 300) {
        opts.sink(res).then(
          () => {
            if (!settled) {
              settled = true;
              resolve({ status, headers: res.headers, body: Buffer.alloc(0) });
            }
          },
          (e) => {
            res.destroy();
            fail(e, status);
          },
        );
        return;
      }
      const parts: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        if (n < 64 * 1024 * 1024) parts.push(c);
        n += c.length;
      });
      res.on('end', () => {
        if (!bodyDone) req.destroy(); // answered before the body was sent: socket is not reusable
        if (!settled) {
          settled = true;
          resolve({ status, headers: res.headers, body: Buffer.concat(parts) });
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: no progress for ${timeoutMs} ms`)));
    req.on('error', (e) => fail(e));

    const body = opts.body;
    if (!body) {
      bodyDone = true;
      req.end();
    } else if (Buffer.isBuffer(body)) {
      req.end(body);
      written = body.length;
      bodyDone = true;
    } else {
      (async () => {
        for (const c of body.chunks()) {
          if (responded || req.destroyed) return;
          const ok = req.write(c);
          written += c.length;
          if (!ok) await waitDrain(req);
        }
        if (!req.destroyed) {
          bodyDone = true;
          req.end();
        }
      })().catch((e) => fail(e));
    }
  });
}

function brief(b: Buffer): string {
  const s = b.toString('utf8');
  return s.length > MAX_ERROR_BODY ? `${s.slice(0, MAX_ERROR_BODY)}…` : s;
}

/** Throws a RequestError unless the status is one of `want`. */
export function expect(method: string, u: URL, res: Res, ...want: number[]): Res {
  if (!want.includes(res.status)) {
    throw new RequestError(method, pathOf(u), res.status, brief(res.body), `expected ${want.join(' or ')}`);
  }
  return res;
}

function location(base: string, method: string, u: URL, res: Res): URL {
  const loc = res.headers.location;
  if (!loc) throw new RequestError(method, pathOf(u), res.status, brief(res.body), 'response has no Location header');
  return new URL(loc, base);
}

/** A registry and how to authenticate to it (tokens for Berth as shipped, nothing for the others). */
export interface Endpoint {
  url: string;
  auth: Auth;
}

const pushScope = (name: string) => [repoScope(name, 'pull,push')];

/** POST /v2/<name>/blobs/uploads/ and return the session URL. */
export async function startUpload(ep: Endpoint, name: string): Promise<URL> {
  const u = new URL(`/v2/${name}/blobs/uploads/`, ep.url);
  const res = expect('POST', u, await request('POST', u, { headers: await ep.auth.headers(pushScope(name)) }), 202);
  return location(ep.url, 'POST', u, res);
}

function checkDigestHeader(method: string, u: URL, res: Res, digest: string): void {
  const got = res.headers['docker-content-digest'];
  if (got !== undefined && got !== digest) {
    throw new RequestError(method, pathOf(u), res.status, brief(res.body), `Docker-Content-Digest ${String(got)} != ${digest}`);
  }
}

/** Monolithic push: POST, then one PUT ?digest= streaming the whole payload. */
export async function pushMonolithic(ep: Endpoint, name: string, p: Payload | { data: Buffer; digest: string }): Promise<void> {
  const loc = await startUpload(ep, name);
  loc.searchParams.set('digest', p.digest);
  const body: Buffer | StreamBody = 'data' in p ? p.data : { length: p.size, chunks: () => slices(p.pattern, 0, p.size) };
  const headers = { ...(await ep.auth.headers(pushScope(name))), 'content-type': 'application/octet-stream' };
  const res = expect('PUT', loc, await request('PUT', loc, { body, headers, timeoutMs: BIG_TIMEOUT_MS }), 201);
  checkDigestHeader('PUT', loc, res, p.digest);
}

/**
 * Monolithic push in one request: POST /v2/<name>/blobs/uploads/?digest= with the bytes (Berth; CNCF
 * Distribution 2.8 answers 202 and ignores the body). The quickest way to store many small blobs.
 */
export async function postBlob(ep: Endpoint, name: string, blob: { data: Buffer; digest: string }): Promise<void> {
  const u = new URL(`/v2/${name}/blobs/uploads/`, ep.url);
  u.searchParams.set('digest', blob.digest);
  const headers = { ...(await ep.auth.headers(pushScope(name))), 'content-type': 'application/octet-stream' };
  const res = expect('POST', u, await request('POST', u, { body: blob.data, headers }), 201);
  checkDigestHeader('POST', u, res, blob.digest);
}

/** Chunked push: POST, PATCH chunks with Content-Range/Content-Length, then PUT ?digest= with no body. */
export async function pushChunked(ep: Endpoint, name: string, p: Payload, chunkSize: number): Promise<void> {
  let loc = await startUpload(ep, name);
  for (let start = 0; start < p.size; start += chunkSize) {
    const len = Math.min(chunkSize, p.size - start);
    const end = start + len - 1;
    const res = expect(
      'PATCH',
      loc,
      await request('PATCH', loc, {
        body: { length: len, chunks: () => slices(p.pattern, start, len) },
        headers: { ...(await ep.auth.headers(pushScope(name))), 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
        timeoutMs: BIG_TIMEOUT_MS,
      }),
      202,
    );
    const range = res.headers.range;
    if (range !== undefined && range !== `0-${end}` && range !== `bytes=0-${end}`) {
      throw new RequestError('PATCH', pathOf(loc), res.status, brief(res.body), `Range ${range} after sending bytes ${start}-${end}`);
    }
    loc = location(ep.url, 'PATCH', loc, res);
  }
  loc.searchParams.set('digest', p.digest);
  const res = expect('PUT', loc, await request('PUT', loc, { headers: await ep.auth.headers(pushScope(name)), timeoutMs: BIG_TIMEOUT_MS }), 201);
  checkDigestHeader('PUT', loc, res, p.digest);
}

/**
 * Cross-repository mount (POST ?mount=&from=): 201 when the registry linked the blob; a registry that
 * cannot mount answers 202 with an upload session, which is then completed with the bytes.
 */
export async function mountBlob(ep: Endpoint, name: string, from: string, blob: { data: Buffer; digest: string }): Promise<'mounted' | 'uploaded'> {
  const u = new URL(`/v2/${name}/blobs/uploads/`, ep.url);
  u.searchParams.set('mount', blob.digest);
  u.searchParams.set('from', from);
  const headers = await ep.auth.headers(mountScopes(name, from));
  const res = expect('POST', u, await request('POST', u, { headers }), 201, 202);
  if (res.status === 201) return 'mounted';
  const loc = location(ep.url, 'POST', u, res);
  loc.searchParams.set('digest', blob.digest);
  expect('PUT', loc, await request('PUT', loc, { body: blob.data, headers: { ...headers, 'content-type': 'application/octet-stream' } }), 201);
  return 'uploaded';
}

/** The scopes of a push that mounts blobs from `from`: one token covers the mounts and the manifest PUT. */
export const mountScopes = (name: string, from: string) => [repoScope(name, 'pull,push'), repoScope(from, 'pull')];

/** PUT /v2/<name>/manifests/<ref>; expects 201. `scopes`: those of the token to use (default pull,push on name). */
export async function putManifest(ep: Endpoint, name: string, ref: string, body: Buffer, mediaType: string, scopes = pushScope(name)): Promise<void> {
  const u = new URL(`/v2/${name}/manifests/${ref}`, ep.url);
  const headers = { ...(await ep.auth.headers(scopes)), 'content-type': mediaType };
  expect('PUT', u, await request('PUT', u, { body, headers }), 201);
}

export async function headBlob(ep: Endpoint, name: string, digest: string): Promise<number> {
  const u = new URL(`/v2/${name}/blobs/${digest}`, ep.url);
  return (await request('HEAD', u, { headers: await ep.auth.headers([repoScope(name, 'pull')]) })).status;
}

/** GET and return status and body (for checks before wrk). */
export async function get(url: URL, headers: Record<string, string> = {}): Promise<Res> {
  return request('GET', url, { headers });
}

export function describe(res: Res): string {
  return `HTTP ${res.status}; body: ${brief(res.body)}`;
}
