// Failed login counters (table login_throttle, one row per key: auth/login-throttle.ts names the keys)
// and the record of failures (table auth_failures).
import type { ExpressionBuilder } from 'kysely';
import type { Tx } from './database.js';
import type { Database } from './schema.js';

export interface ThrottleRow { key: string; failures: number; windowStart: number; lockedUntil: number }

/** The counters of one account: its account-wide key, and the range [from, to) of its per-address keys. */
export interface AccountCounters { key: string; from: string; to: string }

const ofAccount = (c: AccountCounters) => (eb: ExpressionBuilder<Database, 'login_throttle'>) => eb.or([
  eb('key', '=', c.key),
  eb.and([eb('key', '>=', c.from), eb('key', '<', c.to)]),
]);

/** The lock ends of the counters that exist among `keys`. */
export async function lockEnds(db: Tx, keys: string[]): Promise<number[]> {
  return (await db.selectFrom('login_throttle').select(['locked_until']).where('key', 'in', keys).execute()).map((r) => Number(r.locked_until));
}

export async function findCounter(tx: Tx, key: string): Promise<ThrottleRow | undefined> {
  const r = await tx.selectFrom('login_throttle').selectAll().where('key', '=', key).executeTakeFirst();
  return r && { key: r.key, failures: Number(r.failures), windowStart: Number(r.window_start), lockedUntil: Number(r.locked_until) };
}

/** Writes a counter, created or replaced. */
export async function putCounter(tx: Tx, r: ThrottleRow): Promise<void> {
  const { failures, windowStart, lockedUntil } = r;
  await tx.insertInto('login_throttle').values({ key: r.key, failures, window_start: windowStart, locked_until: lockedUntil })
    .onConflict((oc) => oc.column('key').doUpdateSet({ failures, window_start: windowStart, locked_until: lockedUntil })).execute();
}

/** Which of `keys` have a counter. */
export async function existingCounters(db: Tx, keys: string[]): Promise<string[]> {
  return (await db.selectFrom('login_throttle').select('key').where('key', 'in', keys).execute()).map((r) => r.key);
}

export async function deleteCounters(db: Tx, keys: string[]): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', 'in', keys).execute();
}

/** The keys of an account's counters locked after `now`. */
export async function lockedAccountCounters(tx: Tx, c: AccountCounters, now: number): Promise<string[]> {
  return (await tx.selectFrom('login_throttle').select('key').where(ofAccount(c)).where('locked_until', '>', now).execute()).map((r) => r.key);
}

/** The lock ends of every counter of an account. */
export async function accountLockEnds(db: Tx, c: AccountCounters): Promise<number[]> {
  return (await db.selectFrom('login_throttle').select('locked_until').where(ofAccount(c)).execute()).map((r) => Number(r.locked_until));
}

export async function deleteAccountCounters(tx: Tx, c: AccountCounters): Promise<void> {
  await tx.deleteFrom('login_throttle').where(ofAccount(c)).execute();
}

export async function recordAuthFailure(tx: Tx, f: { at: number; userName: string; address: string; source: string; reason: string }): Promise<void> {
  await tx.insertInto('auth_failures').values({ at: f.at, user_name: f.userName, address: f.address, source: f.source, reason: f.reason }).execute();
}
