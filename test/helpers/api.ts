// A small /api/v1 client for tests: a session cookie jar and the CSRF header, or other credentials.
export interface ApiResult<T = any> { status: number; body: T; headers: Headers }

export class ApiClient {
  cookie?: string;
  csrf?: string;

  constructor(readonly base: string, private readonly auth?: string) {}

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.auth) h.authorization = this.auth;
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET') h['x-csrf-token'] = this.csrf;
    if (body !== undefined) h['content-type'] ??= 'application/json';
    const res = await fetch(`${this.base}/api/v1${path}`, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const set = res.headers.get('set-cookie');
    if (set?.startsWith('berth_session=')) {
      const value = set.split(';')[0];
      this.cookie = value === 'berth_session=' ? undefined : value;
    }
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) { return this.call<T>('GET', path); }
  post<T = any>(path: string, body?: unknown) { return this.call<T>('POST', path, body ?? {}); }
  put<T = any>(path: string, body?: unknown) { return this.call<T>('PUT', path, body); }
  patch<T = any>(path: string, body?: unknown) { return this.call<T>('PATCH', path, body); }
  delete<T = any>(path: string) { return this.call<T>('DELETE', path); }

  /** Logs in with a session; keeps the cookie and CSRF token. */
  async login(username: string, password: string, code?: string): Promise<ApiResult> {
    const r = await this.call('POST', '/session', { username, password, ...(code ? { code } : {}) });
    if (r.status === 200) this.csrf = r.body.csrfToken;
    return r;
  }
}

export const basicAuth = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
