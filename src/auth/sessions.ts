// Login sessions for the web UI and API clients that prefer cookies. The cookie carries a random secret;
// the database keeps only its SHA-256. The CSRF token is derived from the secret, so it needs no storage
// and cannot be guessed without the cookie.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database.js';

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
    await this.db.insertInto('sessions').values({
      id_hash: sha256(secret), user_id: userId, created_at: now, last_seen_at: now, expires_at: expiresAt,
      address: address.slice(0, 100), user_agent: userAgent.slice(0, 300),
    }).execute();
    return { secret, userId, createdAt: now, expiresAt, csrfToken: csrfTokenFor(secret) };
  }

  /** The live session a cookie names: not expired, not idle too long; its last use is recorded. */
  async resolve(secret: string): Promise<SessionInfo | null> {
    if (!SECRET.test(secret)) return null;
    const row = await this.db.selectFrom('sessions').selectAll().where('id_hash', '=', sha256(secret)).executeTakeFirst();
    if (!row) return null;
    const now = Date.now();
    if (Number(row.expires_at) <= now || Number(row.last_seen_at) + this.opts.idleTimeout * 1000 <= now) {
      await this.db.deleteFrom('sessions').where('id_hash', '=', row.id_hash).execute();
      return null;
    }
    // At most one write a minute per session, not one per request.
    if (now - Number(row.last_seen_at) > 60_000) await this.db.updateTable('sessions').set({ last_seen_at: now }).where('id_hash', '=', row.id_hash).execute();
    return { userId: Number(row.user_id), createdAt: Number(row.created_at), expiresAt: Number(row.expires_at), csrfToken: csrfTokenFor(secret) };
  }

  async destroy(secret: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', sha256(secret)).execute();
  }

  /** Ends every session of a user (password change, disabling, second factor changes). */
  async destroyAll(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async purgeExpired(): Promise<number> {
    const now = Date.now();
    const res = await this.db.deleteFrom('sessions').where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - this.opts.idleTimeout * 1000)])).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
