// Local accounts: creation, the first administrator, and password authentication.
import { createHash, randomBytes } from 'node:crypto';
import type { Db, Transact, Tx } from '../db/database.js';
import type { Invalidations } from '../db/invalidation.js';

export type { Transact } from '../db/database.js';
import { hashPassword, passwordProblem, verifyPassword } from '../lib/password.js';
import { BerthError, isBerthError } from '../errors/berth-error.js';
import { SYSTEM_CONTEXT, type Journal, type JournalEntry, type RequestContext } from '../audit/journal.js';
import { OrganizationMemberAdded } from '../events/catalogue.js';
import type { Outbox } from '../events/outbox.js';
import { findOrganizationId } from '../db/webhook-endpoints.js';
import { addOrgMember, insertOrganization } from '../db/organizations.js';
import {
  anyUser, deleteUserAndRoles, findUserById, findUserByName, insertUser, UserLookups, listUsers, otherActiveAdminExists, robotsOf,
  setPasswordHash, setUserAdmin, setUserDisabled, type UserRow,
} from '../db/users.js';
import { forgetNamespaceSettings, namespaceOwner, namespaceRepositories } from '../db/namespaces.js';

/**
 * What becomes of a user's repositories when the user is removed: `refuse` (the default) while any
 * remain; `transfer`: the namespace becomes an organization with `transferTo` as its admin, so the
 * repositories keep their names; `delete`: they are deleted with the user (their blobs left to gc).
 */
export interface RemoveOptions { repositories?: 'refuse' | 'transfer' | 'delete'; transferTo?: string }

/** Deletes every repository of a namespace inside the caller's transaction; returns how many. */
export type DeleteNamespaceRepositories = (tx: Tx, ns: string, ctx: RequestContext) => Promise<number>;

export interface User {
  id: number; name: string; admin: boolean; disabled: boolean;
  /** local, ldap or robot */
  source: string;
  tokensValidAfter: number;
  /** a second factor (TOTP) is in force: password-only logins are refused */
  totp: boolean;
  email: string | null;
  displayName: string | null;
  createdAt: number;
}

const USER_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export class Accounts {
  /** Recently verified credentials (by a hash of them), so Basic on every request costs one scrypt a minute. */
  private readonly verified = new Map<string, { id: number; hash: string; generation: number; until: number }>();

  private readonly lookups: UserLookups;

  constructor(private readonly db: Db, private readonly transact: Transact, private readonly journal: Journal, private readonly outbox: Outbox, invalidations?: Invalidations) {
    this.lookups = new UserLookups(db, invalidations);
  }

  async byName(name: string): Promise<User | undefined> {
    const r = await this.lookups.find(name);
    return r ? toUser(r) : undefined;
  }

  /** The user a bearer token names, with the access generation of now (one statement). */
  async forBearer(name: string): Promise<{ user: User; accessGeneration: number } | undefined> {
    const r = await this.lookups.find(name);
    if (!r) return undefined;
    const { accessGeneration, ...row } = r;
    return { user: toUser(row), accessGeneration };
  }

  async byId(id: number): Promise<User | undefined> {
    const r = await findUserById(this.db, id);
    return r ? toUser(r) : undefined;
  }

  async create(name: string, password: string, opts: { admin?: boolean } = {}, ctx: RequestContext = SYSTEM_CONTEXT): Promise<User> {
    // A user name is also the user's namespace, so it follows the repository name grammar.
    if (!USER_NAME.test(name) || name.length > 64) throw new BerthError('INPUT_INVALID', { message: 'user name must be lower-case letters, digits and . _ - (at most 64)', field: 'name' });
    const problem = passwordProblem(password, name);
    if (problem) throw new BerthError('INPUT_INVALID', { message: `password ${problem}`, field: 'password' });
    if (await this.byName(name)) throw new BerthError('CONFLICT', { message: `user ${name} already exists`, field: 'name' });
    if ((await findOrganizationId(this.db, name)) !== undefined) throw new BerthError('CONFLICT', { message: `${name} is an organization's namespace`, field: 'name' });
    const hash = await hashPassword(password);
    await this.transact(async (tx: Tx) => {
      // The check above and this insert are apart by the password hashing: another process may have taken the name.
      if (!(await insertUser(tx, { name, passwordHash: hash, admin: Boolean(opts.admin), source: 'local', createdAt: Date.now() }))) {
        throw new BerthError('CONFLICT', { message: `user ${name} already exists`, field: 'name' });
      }
      await this.journal.write(tx, ctx, [{ action: 'user.create', resource: `user:${name}`, detail: { admin: Boolean(opts.admin) } }]);
    });
    return (await this.byName(name))!;
  }

  /**
   * A robot account of an organization, `ORG+NAME` ('+' never appears in a namespace): no password, its
   * only secret is its access token, limited to repositories of the organization.
   */
  async createRobot(org: string, name: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<User> {
    if (!USER_NAME.test(name) || name.length > 64) throw new BerthError('INPUT_INVALID', { message: 'robot name must be lower-case letters, digits and . _ -' });
    if ((await findOrganizationId(this.db, org)) === undefined) throw new BerthError('NOT_FOUND', { message: `no organization ${org}` });
    const full = `${org}+${name}`;
    if (await this.byName(full)) throw new BerthError('CONFLICT', { message: `robot ${full} already exists` });
    await this.transact(async (tx: Tx) => {
      if (!(await insertUser(tx, { name: full, passwordHash: null, admin: false, source: 'robot', createdAt: Date.now() }))) {
        throw new BerthError('CONFLICT', { message: `robot ${full} already exists` });
      }
      await this.journal.write(tx, ctx, [{ action: 'robot.create', resource: `organization:${org}`, detail: { robot: full } }]);
    });
    return (await this.byName(full))!;
  }

  async robots(org: string): Promise<User[]> {
    return (await robotsOf(this.db, org)).map(toUser);
  }

  /** Set by the composition root: deletes a namespace's repositories (registry/), for `repositories: 'delete'`. */
  deleteRepositories?: DeleteNamespaceRepositories;

  /**
   * Removes an account and the roles given to it (role rows name their subject without a foreign key). A
   * user's namespace is never left without an owner: see RemoveOptions.
   */
  async remove(name: string, ctx: RequestContext = SYSTEM_CONTEXT, opts: RemoveOptions = {}): Promise<{ repositories: number; transferredTo?: string }> {
    const u = await this.byName(name);
    if (!u) throw new BerthError('NOT_FOUND', { message: `no account ${name}` });
    const mode = u.source === 'robot' ? 'refuse' : opts.repositories ?? 'refuse';
    let heir: User | undefined;
    if (mode === 'transfer') {
      heir = opts.transferTo ? await this.byName(opts.transferTo) : undefined;
      if (!heir || heir.source === 'robot' || heir.id === u.id || heir.disabled) throw new BerthError('INPUT_INVALID', { message: `transfer needs another active user to own the organization ${name} (not ${opts.transferTo ?? 'nobody'})` });
    }
    if (mode === 'delete' && !this.deleteRepositories) throw new BerthError('INPUT_INVALID', { message: 'deleting repositories is not available here' });
    return this.transact(async (tx: Tx) => {
      const entries: JournalEntry[] = [u.source === 'robot'
        ? { action: 'robot.delete', resource: `organization:${name.split('+')[0]}`, detail: { robot: name } }
        : { action: 'user.delete', resource: `user:${name}`, detail: { repositories: mode } }];
      let repositories = 0;
      if (u.source !== 'robot') {
        const held = await namespaceRepositories(tx, name, 4);
        if (held.length > 0 && mode === 'refuse') {
          throw new BerthError('CONFLICT', { message: `user ${name} still owns repositories (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', …' : ''}); delete them, or transfer the namespace to an organization or delete them with the user` });
        }
        if (mode === 'delete') repositories = await this.deleteRepositories!(tx, name, ctx);
        if (mode !== 'transfer') await forgetNamespaceSettings(tx, name);
      }
      await this.journal.write(tx, ctx, entries);
      await deleteUserAndRoles(tx, u.id);
      if (mode === 'transfer') {
        // The namespace changes owner in the same transaction: it is never without one.
        if (await namespaceOwner(tx, name)) throw new BerthError('CONFLICT', { message: `${name} is already taken` });
        const id = await insertOrganization(tx, name, false, Date.now());
        await addOrgMember(tx, id, { kind: 'user', id: heir!.id }, 'admin');
        repositories = (await namespaceRepositories(tx, name, 1_000_000)).length;
        await this.journal.write(tx, ctx, [{ action: 'org.create', resource: `organization:${name}`, detail: { transferredFrom: `user:${name}`, owner: heir!.name, repositories } }]);
        await this.outbox.append(tx, ctx, OrganizationMemberAdded({ organization: name, subject: { kind: 'user', name: heir!.name }, role: 'admin' }));
      }
      return { repositories, ...(heir ? { transferredTo: heir.name } : {}) };
    });
  }

  async list(): Promise<User[]> {
    return (await listUsers(this.db)).map(toUser);
  }

  /** Disabling revokes every token issued so far: they fail their next check, not only at expiry. */
  async setDisabled(name: string, disabled: boolean, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.transact(async (tx: Tx) => {
      if (!(await setUserDisabled(tx, name, disabled, Date.now()))) throw new BerthError('NOT_FOUND', { message: `no user ${name}` });
      await this.journal.write(tx, ctx, [{ action: disabled ? 'user.disable' : 'user.enable', resource: `user:${name}` }]);
    });
    this.verified.clear();
  }

  /** Sets a local user's password; every earlier token and session stops working. */
  async setPassword(name: string, password: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const u = await this.byName(name);
    if (!u || u.source !== 'local') throw new BerthError('NOT_FOUND', { message: `no local user ${name}` });
    const problem = passwordProblem(password, name);
    if (problem) throw new BerthError('INPUT_INVALID', { message: `password ${problem}`, field: 'password' });
    const hash = await hashPassword(password);
    await this.transact(async (tx: Tx) => {
      await setPasswordHash(tx, u.id, hash, Date.now());
      await this.journal.write(tx, ctx, [{ action: 'user.password', resource: `user:${name}` }]);
    });
    this.verified.clear();
  }

  /** Grants or revokes system administration; the last active administrator keeps it. */
  async setAdmin(name: string, admin: boolean, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const u = await this.byName(name);
    if (!u || u.source === 'robot') throw new BerthError('NOT_FOUND', { message: `no user ${name}` });
    await this.transact(async (tx: Tx) => {
      // Checked inside the write transaction, so two revocations at once cannot both pass it.
      if (!admin && u.admin && !u.disabled) {
        if (!(await otherActiveAdminExists(tx, u.id))) throw new BerthError('CONFLICT', { message: `${name} is the last active system administrator` });
      }
      await setUserAdmin(tx, u.id, admin);
      await this.journal.write(tx, ctx, [{ action: 'user.update', resource: `user:${name}`, detail: { admin } }]);
    });
  }

  /** On a registry without users: creates `admin`; returns the password when Berth generated it. */
  async ensureAdmin(password?: string): Promise<{ created: boolean; generated?: string }> {
    if (await anyUser(this.db)) return { created: false };
    const generated = password ? undefined : randomBytes(18).toString('base64url');
    try {
      await this.create('admin', password ?? generated!, { admin: true });
    } catch (e) {
      // Another process created it at the same moment.
      if (isBerthError(e, 'CONFLICT') && /already exists/.test(e.message)) return { created: false };
      throw e;
    }
    return { created: true, generated };
  }

  /**
   * The user, when the password is right and the account active; null otherwise. A remembered verification
   * counts only while the stored hash and token generation are those it was made against: a password change
   * or a revocation in any process ends it on the next request here.
   */
  async authenticate(name: string, password: string): Promise<User | null> {
    const key = createHash('sha256').update(name).update('\u0000').update(password).digest('hex');
    const row = await findUserByName(this.db, name);
    const user = row ? toUser(row) : undefined;
    if (!row || !user || user.disabled || user.source !== 'local' || !row.passwordHash) {
      // Same work either way: timing does not tell whether the account exists.
      await verifyPassword(password, DUMMY_HASH);
      return null;
    }
    const hit = this.verified.get(key);
    if (hit && hit.id === user.id && hit.hash === row.passwordHash && hit.generation === user.tokensValidAfter && hit.until > Date.now()) return user;
    if (!(await verifyPassword(password, row.passwordHash))) return null;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { id: user.id, hash: row.passwordHash, generation: user.tokensValidAfter, until: Date.now() + 60_000 });
    return user;
  }
}

// A valid hash of a random password, for constant-time refusals of unknown users.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** The account without its password hash. */
function toUser({ passwordHash: _hash, ...u }: UserRow): User {
  return u;
}
