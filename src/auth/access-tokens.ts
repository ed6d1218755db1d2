// Personal access tokens: secrets for clients that log in as a user (`docker login -u alice -p <token>`),
// limited to chosen repositories (patterns) and actions, expiring, revocable, last use recorded.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db, Tx } from '../db/database.js';
import { SYSTEM_CONTEXT, type Journal, type RequestContext } from '../audit/journal.js';
import type { Transact } from './accounts.js';
import { BerthError } from '../errors/berth-error.js';
import { globProblem } from '../lib/glob.js';
import {
  accessTokenOwnerName, accessTokensOf, findAccessToken, insertAccessToken, recordAccessTokenUse, revokeAccessToken, type AccessTokenRow,
} from '../db/access-tokens.js';
import { findUserName } from '../db/users.js';

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
      await insertAccessToken(tx, {
        id, userId, name, secretHash: sha256(secret), scopes: opts.scopes ? JSON.stringify(opts.scopes) : null, createdAt: now, expiresAt: opts.expiresAt ?? null,
      });
      const owner = await findUserName(tx, userId);
      await this.journal.write(tx, ctx, [{ action: 'token.create', resource: `user:${owner ?? userId}`, detail: { id, name, scopes: opts.scopes ?? null, expiresAt: opts.expiresAt ?? null } }]);
    });
    return { token: (await this.get(id))!, secret };
  }

  async get(id: string): Promise<AccessToken | undefined> {
    const r = await findAccessToken(this.db, id);
    return r ? toToken(r) : undefined;
  }

  async list(userId: number): Promise<AccessToken[]> {
    return (await accessTokensOf(this.db, userId)).map(toToken);
  }

  async revoke(id: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<boolean> {
    return this.transact(async (tx: Tx) => {
      if (!(await revokeAccessToken(tx, id, Date.now()))) return false;
      const owner = await accessTokenOwnerName(tx, id);
      await this.journal.write(tx, ctx, [{ action: 'token.revoke', resource: `user:${owner ?? ''}`, detail: { id } }]);
      return true;
    });
  }

  /** Whether a token of this user is still in force (not revoked, not expired): access tokens minted with it live only as long. */
  async active(id: string, userId: number): Promise<boolean> {
    const row = await findAccessToken(this.db, id);
    return Boolean(row) && row!.userId === userId && row!.revokedAt === null && (row!.expiresAt === null || row!.expiresAt > Date.now());
  }

  /** The token a secret belongs to, when it is valid now; records the use. */
  async verify(secret: string): Promise<AccessToken | null> {
    const m = new RegExp(`^${TOKEN_PREFIX}([0-9a-f]{12})_[A-Za-z0-9_-]{32}$`).exec(secret);
    if (!m) return null;
    const row = await findAccessToken(this.db, m[1]);
    if (!row) return null;
    const a = Buffer.from(row.secretHash, 'hex');
    const b = Buffer.from(sha256(secret), 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    const now = Date.now();
    if (row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt <= now)) return null;
    // At most once a minute: a login per request must not become a write per request.
    if (row.lastUsedAt === null || now - row.lastUsedAt > 60_000) await recordAccessTokenUse(this.db, row.id, now);
    return toToken({ ...row, lastUsedAt: now });
  }
}

/** The token without its secret's hash, its scopes parsed. */
function toToken(r: AccessTokenRow): AccessToken {
  return {
    id: r.id, userId: r.userId, name: r.name, scopes: r.scopes ? JSON.parse(r.scopes) : null,
    createdAt: r.createdAt, expiresAt: r.expiresAt, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt,
  };
}
