// Who is signed in. Loads GET /api/v1/session once; a 401 from any later request ends the session here
// and the app shows the sign-in page with the reason.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, setUnauthorizedHandler } from './api';
import type { Session, User } from './api-types';

interface SessionState {
  /** undefined while loading, null when signed out */
  session: Session | null | undefined;
  user: User | null;
  /** why the user was sent to the sign-in page (expired session, password changed, …) */
  notice: string | null;
  loadError: unknown;
  signIn(username: string, password: string, code?: string): Promise<void>;
  signOut(notice?: string): Promise<void>;
  /** forget the session locally (the server already ended it) with a message for the sign-in page */
  ended(notice: string): void;
  refresh(): Promise<void>;
  /** checks now and then (at most every 30 s) that the session is still alive; ends it here if not */
  checkAlive(): void;
}

const Ctx = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const lastCheck = useRef(0);

  const apply = useCallback((s: Session | null) => {
    lastCheck.current = Date.now();
    setCsrfToken(s?.csrfToken ?? null);
    setSession(s);
  }, []);

  const load = useCallback(async () => {
    try {
      apply(await api.get<Session>('/session', { anonymous: true }));
      setLoadError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) apply(null);
      else { setLoadError(e); apply(null); }
    }
  }, [apply]);

  useEffect(() => { void load(); }, [load]);

  const ended = useCallback((message: string) => {
    setNotice(message);
    apply(null);
  }, [apply]);

  useEffect(() => {
    setUnauthorizedHandler((message) => { if (session) ended(message); });
    return () => setUnauthorizedHandler(null);
  }, [session, ended]);

  // Pages that anonymous callers may also read (public repositories) answer without a 401 when the
  // session has ended, so the session is checked on navigation and when it is due to expire.
  const checkAlive = useCallback(() => {
    if (!session || Date.now() - lastCheck.current < 30_000) return;
    lastCheck.current = Date.now();
    api.get<Session>('/session', { anonymous: true }).then(
      (s) => { setCsrfToken(s.csrfToken); },
      (e: unknown) => { if (e instanceof ApiError && e.status === 401) ended('Your session has ended. Sign in again to continue.'); },
    );
  }, [session, ended]);
  useEffect(() => {
    if (!session?.expiresAt) return;
    const ms = session.expiresAt - Date.now() + 1000;
    if (ms > 2_000_000_000) return;
    const t = window.setTimeout(() => ended('Your session has expired. Sign in again to continue.'), Math.max(ms, 0));
    return () => window.clearTimeout(t);
  }, [session, ended]);

  const value = useMemo<SessionState>(() => ({
    session,
    user: session?.user ?? null,
    notice,
    loadError,
    async signIn(username, password, code) {
      const s = await api.post<Session>('/session', { username, password, ...(code ? { code } : {}) }, { anonymous: true });
      setNotice(null);
      apply(s);
    },
    async signOut(message) {
      try { await api.del('/session'); } catch { /* signed out either way */ }
      setNotice(message ?? 'You have signed out.');
      apply(null);
    },
    ended,
    async refresh() { await load(); },
    checkAlive,
  }), [session, notice, loadError, apply, ended, load, checkAlive]);

  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionState {
  const c = useContext(Ctx);
  if (!c) throw new Error('useSession outside SessionProvider');
  return c;
}

/** The signed-in user (inside the signed-in part of the app). */
export function useUser(): User {
  const u = useSession().user;
  if (!u) throw new Error('no user');
  return u;
}
