// Local accounts: creation, the first administrator, and password authentication.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/database.js';
import { hashPassword, passwordProblem, verifyPassword } from '../lib/password.js';

export interface User { id: number; name: string; admin: boolean; disabled: boolean; source: string; tokensValidAfter: number }

const USER_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export class AccountError extends Error {}

export class Accounts {
  /** Recently verified credentials (by a hash of them), so Basic on every request costs one scrypt a minute. */
  private readonly verified = new Map<string, { id: number; until: number }>();

  constructor(private readonly db: Db) {}

  async byName(name: string): Promise<User | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toUser(r) : undefined;
  }

  async byId(id: number): Promise<User | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toUser(r) : undefined;
  }

  async create(name: string, password: string, opts: { admin?: boolean } = {}): Promise<User> {
    // A user name is also the user's namespace, so it follows the repository name grammar.
    if (!USER_NAME.test(name) || name.length > 64) throw new AccountError('user name must be lower-case letters, digits and . _ - (at most 64)');
    const problem = passwordProblem(password, name);
    if (problem) throw new AccountError(`password ${problem}`);
    if (await this.byName(name)) throw new AccountError(`user ${name} already exists`);
    if (await this.db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst()) throw new AccountError(`${name} is an organization's namespace`);
    await this.db.insertInto('users').values({
      name, password_hash: await hashPassword(password), is_admin: opts.admin ? 1 : 0, disabled: 0, source: 'local',
      tokens_valid_after: 0, created_at: Date.now(),
    }).execute();
    return (await this.byName(name))!;
  }

  /**
   * A robot account of an organization, `ORG+NAME` ('+' never appears in a namespace): no password, its
   * only secret is its access token, limited to repositories of the organization.
   */
  async createRobot(org: string, name: string): Promise<User> {
    if (!USER_NAME.test(name) || name.length > 64) throw new AccountError('robot name must be lower-case letters, digits and . _ -');
    if (!(await this.db.selectFrom('organizations').select('id').where('name', '=', org).executeTakeFirst())) throw new AccountError(`no organization ${org}`);
    const full = `${org}+${name}`;
    if (await this.byName(full)) throw new AccountError(`robot ${full} already exists`);
    await this.db.insertInto('users').values({ name: full, password_hash: null, is_admin: 0, disabled: 0, source: 'robot', tokens_valid_after: 0, created_at: Date.now() }).execute();
    return (await this.byName(full))!;
  }

  async robots(org: string): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().where('source', '=', 'robot').where('name', '>=', `${org}+`).where('name', '<', `${org},`).orderBy('name').execute()).map(toUser);
  }

  async remove(name: string): Promise<void> {
    const res = await this.db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw new AccountError(`no account ${name}`);
    this.verified.clear();
  }

  async list(): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  /** Disabling revokes every token issued so far: they fail their next check, not only at expiry. */
  async setDisabled(name: string, disabled: boolean): Promise<void> {
    const res = await this.db.updateTable('users').set(disabled ? { disabled: 1, tokens_valid_after: Date.now() } : { disabled: 0 })
      .where('name', '=', name).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw new AccountError(`no user ${name}`);
    this.verified.clear();
  }

  /** On a registry without users: creates `admin`; returns the password when Berth generated it. */
  async ensureAdmin(password?: string): Promise<{ created: boolean; generated?: string }> {
    const any = await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return { created: false };
    const generated = password ? undefined : randomBytes(18).toString('base64url');
    try {
      await this.create('admin', password ?? generated!, { admin: true });
    } catch (e) {
      // Another process created it at the same moment.
      if (e instanceof AccountError && /already exists/.test(e.message)) return { created: false };
      throw e;
    }
    return { created: true, generated };
  }

  /** The user, when the password is right and the account active; null otherwise. */
  async authenticate(name: string, password: string): Promise<User | null> {
    const key = createHash('sha256').update(name).update('\u0000').update(password).digest('hex');
    const user = await this.byName(name);
    if (!user || user.disabled || user.source !== 'local') {
      // Same work either way: timing does not tell whether the account exists.
      await verifyPassword(password, DUMMY_HASH);
      return null;
    }
    const hit = this.verified.get(key);
    if (hit && hit.id === user.id && hit.until > Date.now()) return user;
    const row = await this.db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirst();
    if (!row?.password_hash || !(await verifyPassword(password, row.password_hash))) return null;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { id: user.id, until: Date.now() + 60_000 });
    return user;
  }
}

// A valid hash of a random password, for constant-time refusals of unknown users.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function toUser(r: { id: number; name: string; is_admin: number; disabled: number; source: string; tokens_valid_after: number }): User {
  return { id: Number(r.id), name: r.name, admin: Boolean(r.is_admin), disabled: Boolean(r.disabled), source: r.source, tokensValidAfter: Number(r.tokens_valid_after) };
}
