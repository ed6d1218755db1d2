// Organizations, their teams, and roles (on an organization or a single repository) for users and teams.
import type { Db, Transact, Tx } from '../db/database.js';
import { SYSTEM_CONTEXT, type Journal, type JournalEntry, type RequestContext } from '../audit/journal.js';
import {
  OrganizationMemberAdded, OrganizationMemberRemoved, OrganizationMemberRoleChanged, RepositoryRoleGranted, RepositoryRoleRevoked,
  TeamCreated, TeamDeleted, TeamMemberAdded, TeamMemberRemoved,
} from '../events/catalogue.js';
import type { NewEvent } from '../events/event.js';
import type { Outbox } from '../events/outbox.js';
import { isValidName, namespaceOf } from '../oci/reference.js';
import { BerthError } from '../errors/berth-error.js';
import { isRole, type Role } from './policy.js';
import { forgetNamespaceSettings, namespaceOwner, namespaceRepositories } from './namespaces.js';

/** Why a name may not become an organization although nobody owns it yet (a directory user's name), or null. */
export type ReservedName = (name: string) => Promise<string | null>;

const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** `alice` for a user, `team:build` for a team of the organization concerned. */
export type Subject = { kind: 'user'; name: string } | { kind: 'team'; name: string };

export function parseSubject(text: string): Subject {
  return text.startsWith('team:') ? { kind: 'team', name: text.slice(5) } : { kind: 'user', name: text };
}

export function parseRole(text: string): Role | null {
  if (text === 'none') return null;
  if (!isRole(text)) throw new BerthError('INPUT_INVALID', { message: `role must be reader, developer, maintainer, admin or none (not ${text})` });
  return text;
}

export class Organizations {
  constructor(
    private readonly db: Db, private readonly transact: Transact, private readonly journal: Journal, private readonly outbox: Outbox,
    private readonly reserved?: ReservedName,
  ) {}

  /** The change, its audit record and the events it returns (what really changed) in one transaction. */
  private change(ctx: RequestContext, entry: JournalEntry, fn: (tx: Tx) => Promise<NewEvent[] | void>): Promise<void> {
    return this.transact(async (tx: Tx) => {
      const events = await fn(tx);
      await this.journal.write(tx, ctx, [entry]);
      if (events?.length) await this.outbox.appendAll(tx, ctx, events);
    });
  }

  private async org(name: string): Promise<{ id: number; public: boolean }> {
    const o = await this.db.selectFrom('organizations').select(['id', 'public']).where('name', '=', name).executeTakeFirst();
    if (!o) throw new BerthError('NOT_FOUND', { message: `no organization ${name}` });
    return { id: Number(o.id), public: Boolean(o.public) };
  }

  /**
   * Creates an organization, with `owner` (a user name) as its admin in the same transaction. A name that
   * holds repositories nobody owns is adopted only with `adopt` (an administrator's decision); a name the
   * user directory knows is refused, so that nobody can take a directory user's namespace before their first login.
   */
  async create(name: string, opts: { public?: boolean; owner?: string; adopt?: boolean } = {}, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    // The name is a namespace, shared with user names.
    if (!NAME.test(name) || name.length > 64) throw new BerthError('INPUT_INVALID', { message: 'organization name must be lower-case letters, digits and . _ - (at most 64)', field: 'name' });
    const owner = await namespaceOwner(this.db, name);
    if (owner === 'user') throw new BerthError('CONFLICT', { message: `${name} is a user's namespace`, field: 'name' });
    if (owner === 'org') throw new BerthError('CONFLICT', { message: `organization ${name} already exists`, field: 'name' });
    const reason = await this.reserved?.(name);
    if (reason) throw new BerthError('CONFLICT', { message: `${name} is reserved: ${reason}`, field: 'name' });
    if (!opts.adopt && (await namespaceRepositories(this.db, name, 1)).length > 0) {
      throw new BerthError('CONFLICT', { message: `the namespace ${name} holds repositories without an owner; only a system administrator may create this organization` });
    }
    const ownerId = opts.owner === undefined ? undefined : await this.userId(opts.owner);
    await this.change(ctx, { action: 'org.create', resource: `organization:${name}`, detail: { public: Boolean(opts.public), ...(opts.owner ? { owner: opts.owner } : {}) } }, async (tx) => {
      // Checked again inside the write transaction: a user or organization of that name may have just appeared.
      if (await namespaceOwner(tx, name)) throw new BerthError('CONFLICT', { message: `${name} is already taken` });
      // Settings and roles left on names of a namespace nobody owned do not pass to its new owner unasked.
      if (!opts.adopt) await forgetNamespaceSettings(tx, name);
      const { id } = await tx.insertInto('organizations').values({ name, public: opts.public ? 1 : 0, created_at: Date.now() }).returning('id').executeTakeFirstOrThrow();
      if (ownerId === undefined) return [];
      await tx.insertInto('org_members').values({ org_id: Number(id), subject_kind: 'user', subject_id: ownerId, role: 'admin' }).execute();
      return [OrganizationMemberAdded({ organization: name, subject: { kind: 'user', name: opts.owner! }, role: 'admin' })];
    });
  }

  async setPublic(name: string, isPublic: boolean, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(name);
    await this.change(ctx, { action: 'org.update', resource: `organization:${name}`, detail: { public: isPublic } }, async (tx) => {
      await tx.updateTable('organizations').set({ public: isPublic ? 1 : 0 }).where('id', '=', o.id).execute();
    });
  }

  async createTeam(orgName: string, team: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!NAME.test(team) || team.length > 64) throw new BerthError('INPUT_INVALID', { message: 'team name must be lower-case letters, digits and . _ -', field: 'name' });
    const o = await this.org(orgName);
    if (await this.teamId(o.id, team).catch(() => null)) throw new BerthError('CONFLICT', { message: `team ${orgName}/${team} already exists`, field: 'name' });
    await this.change(ctx, { action: 'team.create', resource: `team:${orgName}/${team}` }, async (tx) => {
      await tx.insertInto('teams').values({ org_id: o.id, name: team }).execute();
      return [TeamCreated({ organization: orgName, team })];
    });
  }

  private async teamId(orgId: number, team: string): Promise<number> {
    const t = await this.db.selectFrom('teams').select('id').where('org_id', '=', orgId).where('name', '=', team).executeTakeFirst();
    if (!t) throw new BerthError('NOT_FOUND', { message: `no team ${team}` });
    return Number(t.id);
  }

  private async userId(name: string): Promise<number> {
    const u = await this.db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirst();
    if (!u) throw new BerthError('NOT_FOUND', { message: `no user ${name}` });
    return Number(u.id);
  }

  async addTeamMember(orgName: string, team: string, user: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const values = { team_id: await this.teamId(o.id, team), user_id: await this.userId(user) };
    await this.change(ctx, { action: 'team.member.add', resource: `team:${orgName}/${team}`, detail: { user } }, async (tx) => {
      const res = await tx.insertInto('team_members').values(values).onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing()).executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0 ? [TeamMemberAdded({ organization: orgName, team, user, source: 'manual' })] : [];
    });
  }

  async removeTeamMember(orgName: string, team: string, user: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const teamId = await this.teamId(o.id, team);
    const userId = await this.userId(user);
    await this.change(ctx, { action: 'team.member.remove', resource: `team:${orgName}/${team}`, detail: { user } }, async (tx) => {
      const gone = await tx.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).returning('source').executeTakeFirst();
      return gone ? [TeamMemberRemoved({ organization: orgName, team, user, source: gone.source })] : [];
    });
  }

  private async subjectId(orgId: number | null, s: Subject): Promise<number> {
    if (s.kind === 'user') return this.userId(s.name);
    if (orgId === null) throw new BerthError('INPUT_INVALID', { message: 'teams exist only in organizations' });
    return this.teamId(orgId, s.name);
  }

  /** A role on the organization (null removes it). */
  async setOrgRole(orgName: string, subject: Subject, role: Role | null, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const key = { org_id: o.id, subject_kind: subject.kind, subject_id: await this.subjectId(o.id, subject) };
    await this.change(ctx, { action: 'org.role', resource: `organization:${orgName}`, detail: { subject: `${subject.kind}:${subject.name}`, role } }, async (tx) => {
      const before = await tx.deleteFrom('org_members').where('org_id', '=', key.org_id).where('subject_kind', '=', key.subject_kind).where('subject_id', '=', key.subject_id)
        .returning('role').executeTakeFirst();
      if (role) await tx.insertInto('org_members').values({ ...key, role }).execute();
      const previous = before?.role ?? null;
      if (previous === role) return [];
      const d = { organization: orgName, subject };
      if (role === null) return [OrganizationMemberRemoved({ ...d, previous: previous! })];
      return [previous === null ? OrganizationMemberAdded({ ...d, role }) : OrganizationMemberRoleChanged({ ...d, role, previous })];
    });
  }

  /** A role on one repository, which may differ from the organization role (null removes it). */
  async setRepositoryRole(repository: string, subject: Subject, role: Role | null, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!isValidName(repository)) throw new BerthError('INPUT_INVALID', { message: `invalid repository name ${repository}` });
    const org = await this.db.selectFrom('organizations').select('id').where('name', '=', namespaceOf(repository)).executeTakeFirst();
    const key = { repository_name: repository, subject_kind: subject.kind, subject_id: await this.subjectId(org ? Number(org.id) : null, subject) };
    await this.change(ctx, { action: 'repository.role', resource: `repository:${repository}`, detail: { subject: `${subject.kind}:${subject.name}`, role } }, async (tx) => {
      const before = await tx.deleteFrom('repository_members').where('repository_name', '=', repository).where('subject_kind', '=', key.subject_kind).where('subject_id', '=', key.subject_id)
        .returning('role').executeTakeFirst();
      if (role) await tx.insertInto('repository_members').values({ ...key, role }).execute();
      const previous = before?.role ?? null;
      if (previous === role) return [];
      if (role === null) return [RepositoryRoleRevoked({ repository, subject, previous: previous! })];
      return [RepositoryRoleGranted({ repository, subject, role, previous })];
    });
  }

  /** public, private, or inherit (as its organization; private in a user namespace). */
  async setRepositoryVisibility(repository: string, visibility: 'public' | 'private' | 'inherit', ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!isValidName(repository)) throw new BerthError('INPUT_INVALID', { message: `invalid repository name ${repository}` });
    const value = visibility === 'inherit' ? null : visibility === 'public' ? 1 : 0;
    await this.change(ctx, { action: 'repository.visibility', resource: `repository:${repository}`, detail: { visibility } }, async (tx) => {
      await tx.insertInto('repository_settings').values({ name: repository, public: value })
        .onConflict((oc) => oc.column('name').doUpdateSet({ public: value })).execute();
    });
  }

  async list(): Promise<OrganizationInfo[]> {
    return (await this.db.selectFrom('organizations').selectAll().orderBy('name').execute())
      .map((o) => ({ name: o.name, public: Boolean(o.public), createdAt: Number(o.created_at) }));
  }

  async get(name: string): Promise<OrganizationInfo | undefined> {
    const o = await this.db.selectFrom('organizations').selectAll().where('name', '=', name).executeTakeFirst();
    return o ? { name: o.name, public: Boolean(o.public), createdAt: Number(o.created_at) } : undefined;
  }

  /** Removes an organization that holds no repositories (its teams, roles and robots go with it). */
  async remove(name: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(name);
    const repos = await namespaceRepositories(this.db, name, 4);
    if (repos.length) throw new BerthError('CONFLICT', { message: `organization ${name} still holds repositories (${repos.slice(0, 3).join(', ')}${repos.length > 3 ? ', …' : ''}); delete them first` });
    await this.transact(async (tx: Tx) => {
      if ((await namespaceRepositories(tx, name, 1)).length) throw new BerthError('CONFLICT', { message: `organization ${name} still holds repositories; delete them first` });
      // Settings given on names never pushed would otherwise pass to whoever takes the name next.
      await forgetNamespaceSettings(tx, name);
      const teams = (await tx.selectFrom('teams').select('id').where('org_id', '=', o.id).execute()).map((t) => Number(t.id));
      if (teams.length) await tx.deleteFrom('repository_members').where('subject_kind', '=', 'team').where('subject_id', 'in', teams).execute();
      await tx.deleteFrom('users').where('source', '=', 'robot').where('name', '>=', `${name}+`).where('name', '<', `${name},`).execute();
      await tx.deleteFrom('organizations').where('id', '=', o.id).execute();
      await this.journal.write(tx, ctx, [{ action: 'org.delete', resource: `organization:${name}` }]);
    });
  }

  async teams(orgName: string): Promise<TeamInfo[]> {
    const o = await this.org(orgName);
    const rows = await this.db.selectFrom('teams').leftJoin('team_members', 'team_members.team_id', 'teams.id')
      .select((eb) => ['teams.name', 'teams.directory_group', eb.fn.count<number>('team_members.user_id').as('members')])
      .where('teams.org_id', '=', o.id).groupBy(['teams.id', 'teams.name', 'teams.directory_group']).orderBy('teams.name').execute();
    return rows.map((t) => ({ name: t.name, directoryGroup: t.directory_group, members: Number(t.members) }));
  }

  async teamMembers(orgName: string, team: string): Promise<{ name: string; source: string }[]> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    return (await this.db.selectFrom('team_members').innerJoin('users', 'users.id', 'team_members.user_id')
      .select(['users.name', 'team_members.source']).where('team_members.team_id', '=', id).orderBy('users.name').execute())
      .map((m) => ({ name: m.name, source: m.source }));
  }

  async removeTeam(orgName: string, team: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    await this.transact(async (tx: Tx) => {
      await tx.deleteFrom('org_members').where('subject_kind', '=', 'team').where('subject_id', '=', id).execute();
      await tx.deleteFrom('repository_members').where('subject_kind', '=', 'team').where('subject_id', '=', id).execute();
      await tx.deleteFrom('teams').where('id', '=', id).execute();
      await this.journal.write(tx, ctx, [{ action: 'team.delete', resource: `team:${orgName}/${team}` }]);
      await this.outbox.append(tx, ctx, TeamDeleted({ organization: orgName, team }));
    });
  }

  /** Makes a team follow a directory group (its DN), or stop following (null). */
  async setTeamDirectoryGroup(orgName: string, team: string, groupDn: string | null, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    await this.change(ctx, { action: 'team.update', resource: `team:${orgName}/${team}`, detail: { directoryGroup: groupDn } }, async (tx) => {
      await tx.updateTable('teams').set({ directory_group: groupDn }).where('id', '=', id).execute();
      if (groupDn === null) await tx.updateTable('team_members').set({ source: 'manual' }).where('team_id', '=', id).execute();
    });
  }

  /** Roles on an organization: users and teams. */
  async orgMembers(orgName: string): Promise<MemberInfo[]> {
    const o = await this.org(orgName);
    return this.named(await this.db.selectFrom('org_members').select(['subject_kind', 'subject_id', 'role']).where('org_id', '=', o.id).execute());
  }

  /** Roles given on one repository (besides the organization's). */
  async repositoryMembers(repository: string): Promise<MemberInfo[]> {
    return this.named(await this.db.selectFrom('repository_members').select(['subject_kind', 'subject_id', 'role']).where('repository_name', '=', repository).execute());
  }

  async repositoryVisibility(repository: string): Promise<'public' | 'private' | 'inherit'> {
    const r = await this.db.selectFrom('repository_settings').select('public').where('name', '=', repository).executeTakeFirst();
    return r?.public === null || r?.public === undefined ? 'inherit' : r.public ? 'public' : 'private';
  }

  private async named(rows: { subject_kind: string; subject_id: number; role: string }[]): Promise<MemberInfo[]> {
    const userIds = rows.filter((r) => r.subject_kind === 'user').map((r) => Number(r.subject_id));
    const teamIds = rows.filter((r) => r.subject_kind === 'team').map((r) => Number(r.subject_id));
    const users = new Map((userIds.length ? await this.db.selectFrom('users').select(['id', 'name']).where('id', 'in', userIds).execute() : []).map((u) => [Number(u.id), u.name]));
    const teams = new Map((teamIds.length ? await this.db.selectFrom('teams').select(['id', 'name']).where('id', 'in', teamIds).execute() : []).map((t) => [Number(t.id), t.name]));
    const out: MemberInfo[] = [];
    for (const r of rows) {
      const name = r.subject_kind === 'user' ? users.get(Number(r.subject_id)) : teams.get(Number(r.subject_id));
      if (name && isRole(r.role)) out.push({ kind: r.subject_kind as 'user' | 'team', name, role: r.role });
    }
    return out.sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'team' ? -1 : 1));
  }
}

export interface OrganizationInfo { name: string; public: boolean; createdAt: number }
export interface TeamInfo { name: string; directoryGroup: string | null; members: number }
export interface MemberInfo { kind: 'user' | 'team'; name: string; role: Role }
