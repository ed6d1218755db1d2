// Organizations, their teams, and roles (on an organization or a single repository) for users and teams.
import type { Db } from '../db/database.js';
import { isValidName, namespaceOf } from '../oci/reference.js';
import { AccountError } from './accounts.js';
import { isRole, type Role } from './policy.js';

const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** `alice` for a user, `team:build` for a team of the organization concerned. */
export type Subject = { kind: 'user'; name: string } | { kind: 'team'; name: string };

export function parseSubject(text: string): Subject {
  return text.startsWith('team:') ? { kind: 'team', name: text.slice(5) } : { kind: 'user', name: text };
}

export function parseRole(text: string): Role | null {
  if (text === 'none') return null;
  if (!isRole(text)) throw new AccountError(`role must be reader, developer, maintainer, admin or none (not ${text})`);
  return text;
}

export class Organizations {
  constructor(private readonly db: Db) {}

  private async org(name: string): Promise<{ id: number; public: boolean }> {
    const o = await this.db.selectFrom('organizations').select(['id', 'public']).where('name', '=', name).executeTakeFirst();
    if (!o) throw new AccountError(`no organization ${name}`);
    return { id: Number(o.id), public: Boolean(o.public) };
  }

  async create(name: string, opts: { public?: boolean } = {}): Promise<void> {
    // The name is a namespace, shared with user names.
    if (!NAME.test(name) || name.length > 64) throw new AccountError('organization name must be lower-case letters, digits and . _ - (at most 64)');
    if (await this.db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirst()) throw new AccountError(`${name} is a user's namespace`);
    if (await this.db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst()) throw new AccountError(`organization ${name} already exists`);
    await this.db.insertInto('organizations').values({ name, public: opts.public ? 1 : 0, created_at: Date.now() }).execute();
  }

  async setPublic(name: string, isPublic: boolean): Promise<void> {
    const o = await this.org(name);
    await this.db.updateTable('organizations').set({ public: isPublic ? 1 : 0 }).where('id', '=', o.id).execute();
  }

  async createTeam(orgName: string, team: string): Promise<void> {
    if (!NAME.test(team) || team.length > 64) throw new AccountError('team name must be lower-case letters, digits and . _ -');
    const o = await this.org(orgName);
    if (await this.teamId(o.id, team).catch(() => null)) throw new AccountError(`team ${orgName}/${team} already exists`);
    await this.db.insertInto('teams').values({ org_id: o.id, name: team }).execute();
  }

  private async teamId(orgId: number, team: string): Promise<number> {
    const t = await this.db.selectFrom('teams').select('id').where('org_id', '=', orgId).where('name', '=', team).executeTakeFirst();
    if (!t) throw new AccountError(`no team ${team}`);
    return Number(t.id);
  }

  private async userId(name: string): Promise<number> {
    const u = await this.db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirst();
    if (!u) throw new AccountError(`no user ${name}`);
    return Number(u.id);
  }

  async addTeamMember(orgName: string, team: string, user: string): Promise<void> {
    const o = await this.org(orgName);
    const values = { team_id: await this.teamId(o.id, team), user_id: await this.userId(user) };
    await this.db.insertInto('team_members').values(values).onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing()).execute();
  }

  async removeTeamMember(orgName: string, team: string, user: string): Promise<void> {
    const o = await this.org(orgName);
    await this.db.deleteFrom('team_members').where('team_id', '=', await this.teamId(o.id, team)).where('user_id', '=', await this.userId(user)).execute();
  }

  private async subjectId(orgId: number | null, s: Subject): Promise<number> {
    if (s.kind === 'user') return this.userId(s.name);
    if (orgId === null) throw new AccountError('teams exist only in organizations');
    return this.teamId(orgId, s.name);
  }

  /** A role on the organization (null removes it). */
  async setOrgRole(orgName: string, subject: Subject, role: Role | null): Promise<void> {
    const o = await this.org(orgName);
    const key = { org_id: o.id, subject_kind: subject.kind, subject_id: await this.subjectId(o.id, subject) };
    await this.db.deleteFrom('org_members').where('org_id', '=', key.org_id).where('subject_kind', '=', key.subject_kind).where('subject_id', '=', key.subject_id).execute();
    if (role) await this.db.insertInto('org_members').values({ ...key, role }).execute();
  }

  /** A role on one repository, which may differ from the organization role (null removes it). */
  async setRepositoryRole(repository: string, subject: Subject, role: Role | null): Promise<void> {
    if (!isValidName(repository)) throw new AccountError(`invalid repository name ${repository}`);
    const org = await this.db.selectFrom('organizations').select('id').where('name', '=', namespaceOf(repository)).executeTakeFirst();
    const key = { repository_name: repository, subject_kind: subject.kind, subject_id: await this.subjectId(org ? Number(org.id) : null, subject) };
    await this.db.deleteFrom('repository_members').where('repository_name', '=', repository).where('subject_kind', '=', key.subject_kind).where('subject_id', '=', key.subject_id).execute();
    if (role) await this.db.insertInto('repository_members').values({ ...key, role }).execute();
  }

  /** public, private, or inherit (as its organization; private in a user namespace). */
  async setRepositoryVisibility(repository: string, visibility: 'public' | 'private' | 'inherit'): Promise<void> {
    if (!isValidName(repository)) throw new AccountError(`invalid repository name ${repository}`);
    const value = visibility === 'inherit' ? null : visibility === 'public' ? 1 : 0;
    await this.db.insertInto('repository_settings').values({ name: repository, public: value })
      .onConflict((oc) => oc.column('name').doUpdateSet({ public: value })).execute();
  }
}
