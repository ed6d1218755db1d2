// Password guessing defence: failures are counted per account and per client address in the database
// (so every process sees them); answers slow down as failures mount, then the key is locked for a while.
import type { Db, MetadataStore } from '../db/database.js';
import type { Journal, RequestContext } from '../audit/journal.js';

export interface ThrottleLimits { accountFailures: number; addressFailures: number; window: number; lockout: number }

export class LoginLocked extends Error {
  constructor(readonly retryAfterSeconds: number) { super('too many failed logins; try again later'); }
}

export class LoginThrottle {
  private readonly db: Db;

  constructor(private readonly meta: MetadataStore, private readonly limits: ThrottleLimits, private readonly journal?: Journal) {
    this.db = meta.db;
  }

  private keys(name: string, address: string): [string, string] {
    return [`user:${name}`, `addr:${address}`];
  }

  /** Throws LoginLocked while the account or the address is locked. */
  async check(name: string, address: string): Promise<void> {
    const now = Date.now();
    const rows = await this.db.selectFrom('login_throttle').select(['locked_until']).where('key', 'in', this.keys(name, address)).execute();
    const until = Math.max(0, ...rows.map((r) => Number(r.locked_until)));
    if (until > now) throw new LoginLocked(Math.ceil((until - now) / 1000));
  }

  /** Records a failure; returns how long to hold the answer back (it grows with the failures). */
  async failed(name: string, address: string, source: string, reason: string, ctx?: RequestContext): Promise<number> {
    const now = Date.now();
    const [userKey, addrKey] = this.keys(name, address);
    // One transaction: concurrent failures in several processes all count.
    const worst = await this.meta.transaction(async (tx) => {
      let share = 0;
      for (const [key, limit] of [[userKey, this.limits.accountFailures], [addrKey, this.limits.addressFailures]] as const) {
        const row = await tx.selectFrom('login_throttle').selectAll().where('key', '=', key).executeTakeFirst();
        const fresh = !row || now - Number(row.window_start) > this.limits.window * 1000;
        const failures = fresh ? 1 : Number(row!.failures) + 1;
        const windowStart = fresh ? now : Number(row!.window_start);
        const lockedUntil = failures >= limit ? now + this.limits.lockout * 1000 : fresh ? 0 : Number(row!.locked_until);
        await tx.insertInto('login_throttle').values({ key, failures, window_start: windowStart, locked_until: lockedUntil })
          .onConflict((oc) => oc.column('key').doUpdateSet({ failures, window_start: windowStart, locked_until: lockedUntil })).execute();
        // Once locked, the lock answers; before that, each failure waits a little longer.
        if (failures < limit) share = Math.max(share, failures / limit);
      }
      await tx.insertInto('auth_failures').values({ at: now, user_name: name.slice(0, 256), address, source, reason }).execute();
      // The failure, its record and its event commit together.
      await this.journal?.write(tx, { ...(ctx ?? { userAgent: '', requestId: '' }), actor: name.slice(0, 256), actorSource: source, address }, [{
        action: 'auth.login', resource: `user:${name.slice(0, 256)}`, outcome: 'failure', detail: { source, reason },
        event: { type: 'login.failed', data: { user: name.slice(0, 256), source, reason } },
      }]);
      return share;
    });
    // Up to 1 s, rising with the share of the limit already used.
    return Math.round(Math.min(1, worst) ** 2 * 1000);
  }

  async succeeded(name: string): Promise<void> {
    // Read first: Basic on every request must not turn every request into a write.
    const row = await this.db.selectFrom('login_throttle').select('key').where('key', '=', `user:${name}`).executeTakeFirst();
    if (row) await this.db.deleteFrom('login_throttle').where('key', '=', `user:${name}`).execute();
  }
}
