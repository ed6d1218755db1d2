// The one way the UI talks to Berth: /api/v1 with the session cookie, the CSRF header on state-changing
// requests, and errors turned into ApiError (the API's {error:{code,message,detail,requestId}}).
let csrfToken: string | null = null;
let onUnauthorized: ((message: string) => void) | null = null;

export function setCsrfToken(token: string | null): void { csrfToken = token; }
/** Called when a request made with a session answers 401: the session ended (expired, signed out elsewhere). */
export function setUnauthorizedHandler(fn: ((message: string) => void) | null): void { onUnauthorized = fn; }

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly requestId?: string, readonly detail?: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A repository name (with slashes) as one path segment. */
export const repoPath = (name: string) => `/repositories/${encodeURIComponent(name)}`;

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; requestId?: string; detail?: unknown } };
    if (body.error?.message) return new ApiError(res.status, body.error.code ?? 'ERROR', body.error.message, body.error.requestId, body.error.detail);
  } catch { /* not the API's error shape */ }
  const generic = res.status === 502 || res.status === 503 || res.status === 504
    ? 'Berth is not reachable right now. Try again in a moment.'
    : `The server answered ${res.status} ${res.statusText || ''}`.trim();
  return new ApiError(res.status, 'HTTP_' + res.status, generic, res.headers.get('x-request-id') ?? undefined);
}

export interface RequestOptions { signal?: AbortSignal; /** do not treat 401 as an ended session (the login form) */ anonymous?: boolean }

/** Sends a request and returns the raw Response once it answered 2xx; throws ApiError otherwise. */
export async function send(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (UNSAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let payload: string | undefined;
  if (body !== undefined || method === 'POST') {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body ?? {});
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', 'Berth cannot be reached. Check your network connection and try again.');
  }
  if (res.ok) return res;
  const err = await errorOf(res);
  if (res.status === 401 && err.code === 'UNAUTHORIZED' && !opts.anonymous) onUnauthorized?.('Your session has ended. Sign in again to continue.');
  throw err;
}

export async function request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
  const res = await send(method, path, body, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, body, opts),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  del: <T = void>(path: string) => request<T>('DELETE', path),
};

/** A message for any error, for an ErrorBanner or a toast. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Per-field messages of a 400 (the API's detail: [{ path, message }]), keyed by the field's path. */
export function fieldErrors(e: unknown): Record<string, string> {
  if (!(e instanceof ApiError) || !Array.isArray(e.detail)) return {};
  const out: Record<string, string> = {};
  for (const d of e.detail as { path?: unknown; message?: unknown }[]) {
    if (typeof d?.path === 'string' && d.path && typeof d.message === 'string') out[d.path] ??= d.message;
  }
  return out;
}

/** The error unless every problem in it is shown next to a field. */
export function formLevelError(e: unknown, fields: string[]): unknown {
  const fe = fieldErrors(e);
  const keys = Object.keys(fe);
  return keys.length && keys.every((k) => fields.includes(k)) ? null : e;
}
