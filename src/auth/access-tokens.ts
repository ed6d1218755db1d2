// Personal access tokens: secrets for clients that log in as a user (`docker login -u alice -p <token>`),
// limited to chosen repositories (patterns) and actions, expiring, revocable, last use recorded.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db, Tx } from '../db/database.js';
import { SYSTEM_CONTEXT, type Journal, type RequestContext } from '../audit/journal.js';
import type { Transact } from './accounts.js';
import { BerthError } from '../errors/berth-error.js';
import { globProblem } from '../lib/glob.js';

export const TOKEN_PREFIX = 'berth_pat_';

export interface TokenScope { pattern: string; actions: string[] }

export interface AccessToken {
  id: string;
  userId: number;
  name: string;
  scopes: TokenScope[] | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class AccessTokens {
  constructor(private readonly db: Db, private readonly transact: Transact, private readonly journal: Journal) {}

  /** Creates a token; the secret is returned once and stored only as a hash. */
  async create(userId: number, name: string, opts: { scopes?: TokenScope[]; expiresAt?: number } = {}, ctx: RequestContext = SYSTEM_CONTEXT): Promise<{ token: AccessToken; secret: string }> {
    for (const sc of opts.scopes ?? []) {
      const problem = globProblem(sc.pattern);
      if (problem) throw new BerthError('INPUT_INVALID', { message: `scope ${sc.pattern.slice(0, 300)}: ${problem}` });
    }
    const id = randomBytes(6).toString('hex');
    const secret = `${TOKEN_PREFIX}${id}_${randomBytes(24).toString('base64url')}`;
    const now = Date.now();
    await this.transact(async (tx: Tx) => {
      await tx.insertInto('access_tokens').values({
        id, user_id: userId, name, secret_hash: sha256(secret), scopes: opts.scopes ? JSON.stringify(opts.scopes) : null,
        created_at: now, expires_at: opts.expiresAt ?? null, last_used_at: null, revoked_at: null,
      }).execute();
      const owner = await tx.selectFrom('users').select('name').where('id', '=', userId).executeTakeFirst();
      await this.journal.write(tx, ctx, [{ action: 'token.create', resource: `user:${owner?.name ?? userId}`, detail: { id, name, scopes: opts.scopes ?? null, expiresAt: opts.expiresAt ?? null } }]);
    });
    return { token: (await this.get(id))!, secret };
  }

  async get(id: string): Promise<AccessToken | undefined> {
    const r = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toToken(r) : undefined;
  }

  async list(userId: number): Promise<AccessToken[]> {
    return (await this.db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute()).map(toToken);
  }

  async revoke(id: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<boolean> {
    return this.transact(async (tx: Tx) => {
      const res = await tx.updateTable('access_tokens').set({ revoked_at: Date.now() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      const owner = await tx.selectFrom('access_tokens as t').innerJoin('users as u', 'u.id', 't.user_id').select('u.name').where('t.id', '=', id).executeTakeFirst();
      await this.journal.write(tx, ctx, [{ action: 'token.revoke', resource: `user:${owner?.name ?? ''}`, detail: { id } }]);
      return true;
    });
  }

  /** Whether a token of this user is still in force (not revoked, not expired): access tokens minted with it live only as long. */
  async active(id: string, userId: number): Promise<boolean> {
    const row = await this.db.selectFrom('access_tokens').select(['user_id', 'revoked_at', 'expires_at']).where('id', '=', id).executeTakeFirst();
    return Boolean(row) && Number(row!.user_id) === userId && row!.revoked_at === null && (row!.expires_at === null || Number(row!.expires_at) > Date.now());
  }

  /** The token a secret belongs to, when it is valid now; records the use. */
  async verify(secret: string): Promise<AccessToken | null> {
    const m = new RegExp(`^${TOKEN_PREFIX}([0-9a-f]{12})_[A-Za-z0-9_-]{32}$`).exec(secret);
    if (!m) return null;
    const row = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', m[1]).executeTakeFirst();
    if (!row) return null;
    const a = Buffer.from(row.secret_hash, 'hex');
    const b = Buffer.from(sha256(secret), 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    const now = Date.now();
    if (row.revoked_at !== null || (row.expires_at !== null && Number(row.expires_at) <= now)) return null;
    // At most once a minute: a login per request must not become a write per request.
    if (row.last_used_at === null || now - Number(row.last_used_at) > 60_000) {
      await this.db.updateTable('access_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return toToken({ ...row, last_used_at: now });
  }
}

function toToken(r: { id: string; user_id: number; name: string; scopes: string | null; created_at: number; expires_at: number | null; last_used_at: number | null; revoked_at: number | null }): AccessToken {
  return {
    id: r.id, userId: Number(r.user_id), name: r.name, scopes: r.scopes ? JSON.parse(r.scopes) : null,
    createdAt: Number(r.created_at), expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}
