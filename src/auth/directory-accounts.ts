// Directory (LDAP / Active Directory) accounts in Berth: provisioned on first login, their administrator
// flag and team memberships following directory groups, and a background sync that disables users who
// left the directory (revoking their tokens) — not only at login time.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/database.js';
import type { Accounts, Transact, User } from './accounts.js';
import { DirectoryUnavailableError, dnKey, type DirectoryUser } from './ldap/ldap-directory.js';
import type { Sessions } from './sessions.js';
import type { Journal, JournalEntry, RequestContext } from '../audit/journal.js';
import { TeamMemberAdded, TeamMemberRemoved } from '../events/catalogue.js';
import type { NewEvent } from '../events/event.js';
import type { Outbox } from '../events/outbox.js';
import { addDirectoryTeamMember, directoryTeams, removeTeamMember, teamMemberships } from '../db/organizations.js';
import { activeDirectoryUserNames, findUserSource, insertDirectoryUser, updateDirectoryFields } from '../db/users.js';
import { findOrganizationId } from '../db/webhook-endpoints.js';

/** Changes the directory makes are on record as Berth's directory sync. */
const DIRECTORY: RequestContext = { actor: 'berth', actorSource: 'directory', address: '', userAgent: '', requestId: '' };

/** What Berth needs of a directory (LdapDirectory; tests may pass their own). */
export interface Directory {
  authenticate(username: string, password: string): Promise<DirectoryUser | null>;
  lookup(username: string): Promise<DirectoryUser | null>;
}

export interface SyncReport { checked: number; updated: number; disabled: number; skipped: number; aborted?: string }

const USER_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export class DirectoryAccounts {
  /** Recently verified directory logins (by a hash of the credentials): Basic on every request binds once a minute. */
  private readonly verified = new Map<string, { id: number; generation: number; until: number }>();
  private readonly adminGroups: Set<string>;

  constructor(
    private readonly db: Db, private readonly transact: Transact, private readonly accounts: Accounts, private readonly sessions: Sessions,
    private readonly directory: Directory, opts: { adminGroups: string[] }, private readonly journal: Journal, private readonly outbox: Outbox,
    private readonly log?: Logger,
  ) {
    this.adminGroups = new Set(opts.adminGroups.map(dnKey));
  }

  /**
   * A directory login: the user when the directory accepts the password and the account may log in.
   * Throws DirectoryUnavailableError when the directory cannot be asked.
   */
  async login(name: string, password: string): Promise<User | null> {
    const key = createHash('sha256').update(name).update('\u0000').update(password).digest('hex');
    const hit = this.verified.get(key);
    if (hit && hit.until > Date.now()) {
      const u = await this.accounts.byId(hit.id);
      // Only while nothing revoked the account's tokens since (in any process): the generation is in the database.
      if (u && !u.disabled && u.source === 'ldap' && u.tokensValidAfter === hit.generation) return u;
    }
    const local = await this.accounts.byName(name.toLowerCase());
    // A local or robot account owns its name: the directory cannot log in as it.
    if (local && local.source !== 'ldap') return null;
    const du = await this.directory.authenticate(name, password);
    if (!du) return null;
    const u = await this.provision(du);
    if (!u) return null;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { id: u.id, generation: u.tokensValidAfter, until: Date.now() + 60_000 });
    return u;
  }

  /** Creates or updates the Berth account of a directory user; null when it must not log in. */
  async provision(du: DirectoryUser): Promise<User | null> {
    const name = du.username.toLowerCase();
    if (!USER_NAME.test(name) || name.length > 64) {
      this.log?.warn({ user: du.username.slice(0, 100) }, 'directory user name is not a valid Berth user name; login refused');
      return null;
    }
    const existing = await this.accounts.byName(name);
    if (existing && existing.source !== 'ldap') return null;
    if (du.disabled) {
      if (existing && !existing.disabled) await this.disable(existing, 'disabled in the directory');
      return null;
    }
    // Disabled in Berth (by an administrator, or by a sync when the user had left): stays disabled.
    if (existing?.disabled) return null;
    const groups = new Set(du.groups.map(dnKey));
    const admin = this.adminGroups.size > 0 ? [...this.adminGroups].some((g) => groups.has(g)) : existing?.admin ?? false;
    const fields = { dn: du.dn, email: du.email ?? null, displayName: du.displayName ?? null, syncedAt: Date.now(), admin };
    await this.transact(async (tx) => {
      const entries: JournalEntry[] = [];
      if (existing) {
        await updateDirectoryFields(tx, existing.id, fields);
        if (existing.admin !== admin) entries.push({ action: 'user.update', resource: `user:${name}`, detail: { admin, by: 'directory group' } });
      } else {
        if ((await findOrganizationId(tx, name)) !== undefined) {
          // Organizations cannot be created under names the directory knows; one made before the directory
          // was configured blocks this login until an administrator renames or removes it.
          this.log?.warn({ user: name }, 'directory login refused: an organization has this name');
          entries.push({ action: 'auth.login', resource: `user:${name}`, outcome: 'denied', detail: { source: 'ldap', reason: `an organization is named ${name}; an administrator must remove it before this directory user can log in` } });
          await this.journal.write(tx, DIRECTORY, entries);
          return;
        }
        if (await insertDirectoryUser(tx, name, fields, Date.now())) entries.push({ action: 'user.create', resource: `user:${name}`, detail: { source: 'ldap', dn: du.dn, admin } });
      }
      const row = await findUserSource(tx, name);
      const events: NewEvent[] = [];
      if (row?.source === 'ldap') entries.push(...(await this.syncTeams(tx, row.id, name, groups, events)));
      await this.journal.write(tx, DIRECTORY, entries);
      await this.outbox.appendAll(tx, DIRECTORY, events);
    });
    const u = await this.accounts.byName(name);
    return u && u.source === 'ldap' ? u : null;
  }

  /** Team memberships that follow directory groups: added and removed by the directory; manual ones stay. */
  private async syncTeams(tx: Tx, userId: number, userName: string, groups: Set<string>, events: NewEvent[]): Promise<JournalEntry[]> {
    const entries: JournalEntry[] = [];
    const teams = await directoryTeams(tx);
    const current = new Map((await teamMemberships(tx, userId)).map((m) => [m.teamId, m.source]));
    for (const t of teams) {
      const id = t.id;
      const wanted = groups.has(dnKey(t.directoryGroup));
      const have = current.get(id);
      if (wanted && have === undefined) {
        await addDirectoryTeamMember(tx, id, userId);
        entries.push({ action: 'team.member.add', resource: `team:${t.org}/${t.name}`, detail: { user: userName, source: 'directory' } });
        events.push(TeamMemberAdded({ organization: t.org, team: t.name, user: userName, source: 'directory' }));
      }
      if (!wanted && have === 'directory') {
        await removeTeamMember(tx, id, userId);
        entries.push({ action: 'team.member.remove', resource: `team:${t.org}/${t.name}`, detail: { user: userName, source: 'directory' } });
        events.push(TeamMemberRemoved({ organization: t.org, team: t.name, user: userName, source: 'directory' }));
      }
    }
    return entries;
  }

  private async disable(u: User, reason: string): Promise<void> {
    await this.accounts.setDisabled(u.name, true, DIRECTORY);
    await this.sessions.destroyAll(u.id);
    this.verified.clear();
    this.log?.info({ user: u.name, reason }, 'directory user disabled; tokens and sessions revoked');
  }

  /**
   * Checks every active directory account against the directory: departed or disabled users are disabled
   * (their tokens revoked), the others get their groups, teams and administrator flag refreshed. When the
   * directory cannot be reached the sync stops and changes nothing further: an outage must not lock everyone out.
   */
  async sync(): Promise<SyncReport> {
    const report: SyncReport = { checked: 0, updated: 0, disabled: 0, skipped: 0 };
    for (const name of await activeDirectoryUserNames(this.db)) {
      const u = await this.accounts.byName(name);
      if (!u || u.disabled) continue;
      report.checked++;
      let du: DirectoryUser | null;
      try {
        du = await this.directory.lookup(name);
      } catch (e) {
        if (e instanceof DirectoryUnavailableError) {
          report.aborted = e.message;
          this.log?.error({ err: { message: e.message, code: e.code } }, 'directory sync stopped: directory unavailable');
          return report;
        }
        report.skipped++;
        this.log?.warn({ user: name, err: { message: (e as Error).message } }, 'directory sync skipped a user');
        continue;
      }
      if (!du || du.disabled) {
        await this.disable(u, du ? 'disabled in the directory' : 'no longer in the directory');
        report.disabled++;
        continue;
      }
      if (await this.provision(du)) report.updated++;
    }
    return report;
  }
}
