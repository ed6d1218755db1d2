// Password guessing defence: failures are counted in the database (so every process sees them) per account
// and client address together, per client address, and per account from anywhere with a higher limit.
// Answers slow down as failures mount, then that key is locked for a while. Counting per account and address
// means a guesser elsewhere cannot lock a user out; the account-wide limit still stops guessing from many
// addresses. Administrators can lift a lock (`berth user unlock`, POST /api/v1/users/{name}/unlock).
import type { Db, MetadataStore } from '../db/database.js';
import {
  accountLockEnds, deleteAccountCounters, deleteCounters, existingCounters, findCounter, lockEnds, lockedAccountCounters, putCounter, recordAuthFailure,
  type AccountCounters,
} from '../db/login-throttle.js';
import type { Journal, RequestContext } from '../audit/journal.js';
import { LoginFailed } from '../events/catalogue.js';
import type { Outbox } from '../events/outbox.js';
import { BerthError } from '../errors/berth-error.js';

export interface ThrottleLimits { accountFailures: number; accountWideFailures?: number; addressFailures: number; window: number; lockout: number }

/** LOGIN_LOCKED, with how long the lock lasts. */
export function loginLocked(retryAfterSeconds: number): BerthError {
  return new BerthError('LOGIN_LOCKED', {
    message: `too many failed attempts; try again in ${retryAfterSeconds} s (after ${new Date(Date.now() + retryAfterSeconds * 1000).toISOString()})`,
    retryAfterSeconds,
  });
}

/**
 * A login name as counters name it: control characters (which no account name holds) become U+FFFD, so
 * that none can stand for the separator below, and the key is text every dialect stores (PostgreSQL's
 * text holds no NUL).
 */
const keyName = (name: string) => name.replace(/[\u0000-\u001f]/g, '\uFFFD');

/** Keys of one account's pair locks (account and address): `pair:NAME\x01ADDRESS`, so a range holds them all. */
const pairKey = (name: string, address: string) => `pair:${keyName(name)}\u0001${address}`;

/** Every counter of one account: account-wide and per address. */
const accountKeys = (name: string): AccountCounters => ({ key: `user:${keyName(name)}`, from: pairKey(name, ''), to: `pair:${keyName(name)}\u0002` });

export class LoginThrottle {
  private readonly db: Db;

  constructor(private readonly meta: MetadataStore, private readonly limits: ThrottleLimits, private readonly journal: Journal, private readonly outbox: Outbox) {
    this.db = meta.db;
  }

  /** The counters a failure of `name` from `address` adds to, with their limits. */
  private keys(name: string, address: string): [string, number][] {
    return [
      [pairKey(name, address), this.limits.accountFailures],
      [`user:${keyName(name)}`, this.limits.accountWideFailures ?? this.limits.accountFailures * 10],
      [`addr:${address}`, this.limits.addressFailures],
    ];
  }

  /** Throws LOGIN_LOCKED while the account from this address, the account, or the address is locked. */
  async check(name: string, address: string): Promise<void> {
    const now = Date.now();
    const until = Math.max(0, ...(await lockEnds(this.db, this.keys(name, address).map(([k]) => k))));
    if (until > now) throw loginLocked(Math.ceil((until - now) / 1000));
  }

  /** Records a failure; returns how long to hold the answer back (it grows with the failures). */
  async failed(name: string, address: string, source: string, reason: string, ctx?: RequestContext): Promise<number> {
    const now = Date.now();
    // One transaction: concurrent failures in several processes all count.
    const worst = await this.meta.transaction(async (tx) => {
      let share = 0;
      for (const [key, limit] of this.keys(name, address)) {
        const row = await findCounter(tx, key);
        const fresh = !row || now - row.windowStart > this.limits.window * 1000;
        const failures = fresh ? 1 : row!.failures + 1;
        const windowStart = fresh ? now : row!.windowStart;
        const lockedUntil = failures >= limit ? now + this.limits.lockout * 1000 : fresh ? 0 : row!.lockedUntil;
        await putCounter(tx, { key, failures, windowStart, lockedUntil });
        // Once locked, the lock answers; before that, each failure waits a little longer.
        if (failures < limit) share = Math.max(share, failures / limit);
      }
      await recordAuthFailure(tx, { at: now, userName: keyName(name).slice(0, 256), address, source, reason });
      // The failure, its record and its event commit together.
      const who = { ...(ctx ?? { userAgent: '', requestId: '' }), actor: name.slice(0, 256), actorSource: source, address };
      await this.journal.write(tx, who, [{ action: 'auth.login', resource: `user:${name.slice(0, 256)}`, outcome: 'failure', detail: { source, reason } }]);
      await this.outbox.append(tx, who, LoginFailed({ user: name.slice(0, 256), source, reason }));
      return share;
    });
    // Up to 1 s, rising with the share of the limit already used.
    return Math.round(Math.min(1, worst) ** 2 * 1000);
  }

  /** A success from this address clears the account's counters (not the address's: it may be guessing others). */
  async succeeded(name: string, address: string): Promise<void> {
    const keys = [pairKey(name, address), `user:${keyName(name)}`];
    // Read first: Basic on every request must not turn every request into a write.
    if ((await existingCounters(this.db, keys)).length) await deleteCounters(this.db, keys);
  }

  /** Lifts every lock and counter of an account (from every address); returns how many were lifted. */
  async unlock(name: string, ctx: RequestContext): Promise<number> {
    return this.meta.transaction(async (tx) => {
      const locked = await lockedAccountCounters(tx, accountKeys(name), Date.now());
      await deleteAccountCounters(tx, accountKeys(name));
      await this.journal.write(tx, ctx, [{ action: 'user.unlock', resource: `user:${name.slice(0, 256)}`, detail: { locks: locked.length } }]);
      return locked.length;
    });
  }

  /** Whether an account is locked from anywhere right now (for the UI and the CLI). */
  async lockedUntil(name: string): Promise<number | null> {
    const until = Math.max(0, ...(await accountLockEnds(this.db, accountKeys(name))));
    return until > Date.now() ? until : null;
  }
}
