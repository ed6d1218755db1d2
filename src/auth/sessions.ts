// Login sessions for the web UI and API clients that prefer cookies. The cookie carries a random secret;
// the database keeps only its SHA-256. The CSRF token is derived from the secret, so it needs no storage
// and cannot be guessed without the cookie.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database.js';
import { deleteSession, deleteSessionsOf, deleteStaleSessions, findSession, insertSession, touchSession } from '../db/sessions.js';

export const SESSION_COOKIE = 'berth_session';

export interface SessionInfo { userId: number; createdAt: number; expiresAt: number; csrfToken: string }

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const SECRET = /^[A-Za-z0-9_-]{43}$/;

export function csrfTokenFor(secret: string): string {
  return createHmac('sha256', secret).update('berth csrf').digest('base64url');
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Sessions {
  constructor(private readonly db: Db, private readonly opts: { lifetime: number; idleTimeout: number }) {}

  async create(userId: number, address: string, userAgent: string): Promise<{ secret: string } & SessionInfo> {
    const secret = randomBytes(32).toString('base64url');
    const now = Date.now();
    const expiresAt = now + this.opts.lifetime * 1000;
    await insertSession(this.db, { idHash: sha256(secret), userId, now, expiresAt, address: address.slice(0, 100), userAgent: userAgent.slice(0, 300) });
    return { secret, userId, createdAt: now, expiresAt, csrfToken: csrfTokenFor(secret) };
  }

  /** The live session a cookie names: not expired, not idle too long; its last use is recorded. */
  async resolve(secret: string): Promise<SessionInfo | null> {
    if (!SECRET.test(secret)) return null;
    const row = await findSession(this.db, sha256(secret));
    if (!row) return null;
    const now = Date.now();
    if (row.expiresAt <= now || row.lastSeenAt + this.opts.idleTimeout * 1000 <= now) {
      await deleteSession(this.db, row.idHash);
      return null;
    }
    // At most one write a minute per session, not one per request.
    if (now - row.lastSeenAt > 60_000) await touchSession(this.db, row.idHash, now);
    return { userId: row.userId, createdAt: row.createdAt, expiresAt: row.expiresAt, csrfToken: csrfTokenFor(secret) };
  }

  async destroy(secret: string): Promise<void> {
    await deleteSession(this.db, sha256(secret));
  }

  /** Ends every session of a user (password change, disabling, second factor changes). */
  async destroyAll(userId: number): Promise<void> {
    await deleteSessionsOf(this.db, userId);
  }

  async purgeExpired(): Promise<number> {
    const now = Date.now();
    return deleteStaleSessions(this.db, now, now - this.opts.idleTimeout * 1000);
  }
}
