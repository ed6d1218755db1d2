// Accounts (table users): local users, directory (LDAP) users and organizations' robots, their
// administrator and disabled flags, the token generation (tokens_valid_after) and the sealed TOTP secrets.
// Passwords are hashed and TOTP secrets sealed by auth/ before they reach this module.
import type { Selectable } from 'kysely';
import type { Db, Tx } from './database.js';
import { param, PreparedQuery } from './prepared.js';
import type { UsersTable } from './schema.js';
import { ACCESS_CURSOR, bumpAccessGeneration } from './cursors.js';
import { InvalidatedCache, type Invalidations } from './invalidation.js';

type UserTableRow = Selectable<UsersTable>;

export interface UserRow {
  id: number; name: string; passwordHash: string | null; admin: boolean; disabled: boolean;
  /** local, ldap or robot */
  source: string;
  tokensValidAfter: number;
  /** a TOTP secret is in force */
  totp: boolean;
  email: string | null; displayName: string | null; createdAt: number;
}

const toUserRow = (r: {
  id: number; name: string; password_hash: string | null; is_admin: number; disabled: number; source: string; tokens_valid_after: number;
  totp_secret_sealed: string | null; email: string | null; display_name: string | null; created_at: number;
}): UserRow => ({
  id: Number(r.id), name: r.name, passwordHash: r.password_hash, admin: Boolean(r.is_admin), disabled: Boolean(r.disabled), source: r.source,
  tokensValidAfter: Number(r.tokens_valid_after), totp: Boolean(r.totp_secret_sealed), email: r.email, displayName: r.display_name,
  createdAt: Number(r.created_at),
});

export async function findUserByName(db: Tx, name: string): Promise<UserRow | undefined> {
  const r = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  return r && toUserRow(r);
}

/**
 * The user lookup every bearer-token request makes (a disabled user or reset tokens take effect at once,
 * in every process), with the access generation read in the same statement, compiled once: building the
 * query cost more than running it.
 */
export class UserLookups {
  private readonly byName: PreparedQuery<UserTableRow & { access_generation: number | null }>;
  // On PostgreSQL, kept until the triggers announce a change to the user or to the access generation.
  private readonly cache?: InvalidatedCache<UserRow & { accessGeneration: number }>;

  constructor(private readonly db: Db, invalidations?: Invalidations) {
    if (invalidations) this.cache = new InvalidatedCache(invalidations, { maxEntries: 10_000 });
    this.byName = new PreparedQuery(() => db.selectFrom('users').selectAll('users')
      .select((eb) => eb.selectFrom('cursors').select('cursors.value').where('cursors.name', '=', param('cursor')).as('access_generation'))
      .where('users.name', '=', param('name')));
  }

  async find(name: string): Promise<(UserRow & { accessGeneration: number }) | undefined> {
    const hit = this.cache?.get(name);
    if (hit) return hit;
    const epoch = this.cache?.epoch() ?? 0;
    const r = await this.byName.first(this.db, { name, cursor: ACCESS_CURSOR });
    const u = r && { ...toUserRow(r), accessGeneration: Number(r.access_generation ?? 0) };
    if (u) this.cache?.fill(name, u, [`u:${name}`, 'a'], epoch);
    return u;
  }
}

/** The access generation now (db/cursors.ts bumpAccessGeneration). */
export async function accessGeneration(db: Tx): Promise<number> {
  const r = await db.selectFrom('cursors').select('value').where('name', '=', ACCESS_CURSOR).executeTakeFirst();
  return Number(r?.value ?? 0);
}

export async function findUserById(db: Tx, id: number): Promise<UserRow | undefined> {
  const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toUserRow(r);
}

/** A user's id by name. */
export async function findUserId(db: Tx, name: string): Promise<number | undefined> {
  const u = await db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirst();
  return u ? Number(u.id) : undefined;
}

/** A user's name by id. */
export async function findUserName(db: Tx, id: number): Promise<string | undefined> {
  const u = await db.selectFrom('users').select('name').where('id', '=', id).executeTakeFirst();
  return u?.name;
}

/** Every account, by name. */
export async function listUsers(db: Tx): Promise<UserRow[]> {
  return (await db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUserRow);
}

/** Whether any account exists. */
export async function anyUser(db: Tx): Promise<boolean> {
  return Boolean(await db.selectFrom('users').select('id').limit(1).executeTakeFirst());
}

/** A local user (with a password hash) or a robot (`passwordHash` null), enabled, of the first token generation. */
/** Creates the user unless the name was taken meanwhile (by another process); true when it was created. */
export async function insertUser(tx: Tx, u: { name: string; passwordHash: string | null; admin: boolean; source: 'local' | 'robot'; createdAt: number }): Promise<boolean> {
  const res = await tx.insertInto('users').values({
    name: u.name, password_hash: u.passwordHash, is_admin: u.admin ? 1 : 0, disabled: 0, source: u.source, tokens_valid_after: 0, created_at: u.createdAt,
  }).onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
  const created = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  // A new user's name is a namespace that had no owner.
  if (created) await bumpAccessGeneration(tx);
  return created;
}

/** The robots of an organization (`ORG+NAME`), by name. */
export async function robotsOf(db: Tx, org: string): Promise<UserRow[]> {
  // ',' follows '+' in byte order: the range holds exactly the names ORG+…
  return (await db.selectFrom('users').selectAll().where('source', '=', 'robot').where('name', '>=', `${org}+`).where('name', '<', `${org},`).orderBy('name').execute()).map(toUserRow);
}

/** Deletes every robot of an organization. */
export async function deleteRobotsOf(tx: Tx, org: string): Promise<void> {
  await tx.deleteFrom('users').where('source', '=', 'robot').where('name', '>=', `${org}+`).where('name', '<', `${org},`).execute();
  await bumpAccessGeneration(tx);
}

/** Deletes a user and the roles given to it (role rows name their subject without a foreign key). */
export async function deleteUserAndRoles(tx: Tx, id: number): Promise<void> {
  await tx.deleteFrom('org_members').where('subject_kind', '=', 'user').where('subject_id', '=', id).execute();
  await tx.deleteFrom('repository_members').where('subject_kind', '=', 'user').where('subject_id', '=', id).execute();
  await tx.deleteFrom('users').where('id', '=', id).execute();
  await bumpAccessGeneration(tx);
}

/** Disables (moving the token generation to `now`) or enables a user; false when there is no such user. */
export async function setUserDisabled(tx: Tx, name: string, disabled: boolean, now: number): Promise<boolean> {
  const res = await tx.updateTable('users').set(disabled ? { disabled: 1, tokens_valid_after: now } : { disabled: 0 })
    .where('name', '=', name).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** A new password hash; the token generation moves to `now`. */
export async function setPasswordHash(tx: Tx, id: number, hash: string, now: number): Promise<void> {
  await tx.updateTable('users').set({ password_hash: hash, tokens_valid_after: now }).where('id', '=', id).execute();
}

export async function setUserAdmin(tx: Tx, id: number, admin: boolean): Promise<void> {
  await tx.updateTable('users').set({ is_admin: admin ? 1 : 0 }).where('id', '=', id).execute();
  await bumpAccessGeneration(tx);
}

/** Whether an active administrator other than `id` exists. */
export async function otherActiveAdminExists(tx: Tx, id: number): Promise<boolean> {
  return Boolean(await tx.selectFrom('users').select('id').where('is_admin', '=', 1).where('disabled', '=', 0).where('id', '!=', id).limit(1).executeTakeFirst());
}

/** The active administrators (robots excluded). */
export async function activeAdmins(tx: Tx): Promise<{ id: number; name: string }[]> {
  const rows = await tx.selectFrom('users').select(['id', 'name']).where('is_admin', '=', 1).where('disabled', '=', 0).where('source', '!=', 'robot').execute();
  return rows.map((u) => ({ id: Number(u.id), name: u.name }));
}

// Directory accounts.

/** What the directory says of a user, written on every login and sync. */
export interface DirectoryFields { dn: string; email: string | null; displayName: string | null; syncedAt: number; admin: boolean }

const directoryColumns = (f: DirectoryFields) => ({
  external_dn: f.dn, email: f.email, display_name: f.displayName, synced_at: f.syncedAt, is_admin: f.admin ? 1 : 0,
});

export async function updateDirectoryFields(tx: Tx, id: number, f: DirectoryFields): Promise<void> {
  // Written on every login: the access generation moves only when the directory changed the administrator flag.
  const promoted = await tx.updateTable('users').set({ is_admin: f.admin ? 1 : 0 }).where('id', '=', id).where('is_admin', '!=', f.admin ? 1 : 0).executeTakeFirst();
  if (Number(promoted.numUpdatedRows) > 0) await bumpAccessGeneration(tx);
  await tx.updateTable('users').set(directoryColumns(f)).where('id', '=', id).execute();
}

/** Creates a directory user unless the name was taken meanwhile; true when it was created. */
export async function insertDirectoryUser(tx: Tx, name: string, f: DirectoryFields, now: number): Promise<boolean> {
  const res = await tx.insertInto('users').values({ name, password_hash: null, disabled: 0, source: 'ldap', tokens_valid_after: 0, created_at: now, ...directoryColumns(f) })
    .onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
  const created = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  if (created) await bumpAccessGeneration(tx);
  return created;
}

/** A user's id and source by name. */
export async function findUserSource(tx: Tx, name: string): Promise<{ id: number; source: string } | undefined> {
  const row = await tx.selectFrom('users').select(['id', 'source']).where('name', '=', name).executeTakeFirst();
  return row && { id: Number(row.id), source: row.source };
}

/** The names of the enabled directory users, in order. */
export async function activeDirectoryUserNames(db: Tx): Promise<string[]> {
  return (await db.selectFrom('users').select(['name']).where('source', '=', 'ldap').where('disabled', '=', 0).orderBy('name').execute()).map((u) => u.name);
}

// The second factor (TOTP): secrets sealed by auth/second-factor.ts.

/** Stores a secret being enrolled (not yet in force). */
export async function setPendingTotp(db: Tx, id: number, sealed: string): Promise<void> {
  await db.updateTable('users').set({ totp_pending_sealed: sealed }).where('id', '=', id).execute();
}

/** The sealed secret being enrolled, and the one in force. */
export async function totpSecrets(db: Tx, id: number): Promise<{ pending: string | null; active: string | null } | undefined> {
  const row = await db.selectFrom('users').select(['totp_pending_sealed', 'totp_secret_sealed']).where('id', '=', id).executeTakeFirst();
  return row && { pending: row.totp_pending_sealed, active: row.totp_secret_sealed };
}

/** Puts a secret in force, with the time step of the code that confirmed it as used. */
export async function enableTotp(tx: Tx, id: number, sealed: string, step: number): Promise<void> {
  await tx.updateTable('users').set({ totp_secret_sealed: sealed, totp_pending_sealed: null, totp_last_step: step }).where('id', '=', id).execute();
}

export async function clearTotp(tx: Tx, id: number): Promise<void> {
  await tx.updateTable('users').set({ totp_secret_sealed: null, totp_pending_sealed: null, totp_last_step: null }).where('id', '=', id).execute();
}

/** Records a time step as used only if it is later than the last used one; false otherwise (a replay). */
export async function useTotpStep(db: Tx, id: number, step: number): Promise<boolean> {
  const res = await db.updateTable('users').set({ totp_last_step: step }).where('id', '=', id)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)])).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
