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
import { forgetNamespaceSettings, namespaceOwner, namespaceRepositories } from '../db/namespaces.js';
import {
  addOrgMember, addTeamMember, deleteOrganization, deleteTeamAndRoles, deleteTeamsRepositoryRoles, findOrganization, findTeamId, insertOrganization,
  insertTeam, listOrganizations, orgRoles, removeTeamMember, replaceOrgRole, replaceRepositoryRole, repositoryPublic, repositoryRoles,
  setOrganizationPublic, setRepositoryPublic, setTeamDirectoryGroup, teamIdsOf, teamMemberNames, teamNames, teamsWithCounts, userNames,
  type OrganizationRow, type RoleRow,
} from '../db/organizations.js';
import { deleteRobotsOf, findUserId } from '../db/users.js';
import { findOrganizationId } from '../db/webhook-endpoints.js';

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
    const o = await findOrganization(this.db, name);
    if (!o) throw new BerthError('NOT_FOUND', { message: `no organization ${name}` });
    return { id: o.id, public: o.public };
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
      const id = await insertOrganization(tx, name, Boolean(opts.public), Date.now());
      if (ownerId === undefined) return [];
      await addOrgMember(tx, id, { kind: 'user', id: ownerId }, 'admin');
      return [OrganizationMemberAdded({ organization: name, subject: { kind: 'user', name: opts.owner! }, role: 'admin' })];
    });
  }

  async setPublic(name: string, isPublic: boolean, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(name);
    await this.change(ctx, { action: 'org.update', resource: `organization:${name}`, detail: { public: isPublic } }, async (tx) => {
      await setOrganizationPublic(tx, o.id, isPublic);
    });
  }

  async createTeam(orgName: string, team: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!NAME.test(team) || team.length > 64) throw new BerthError('INPUT_INVALID', { message: 'team name must be lower-case letters, digits and . _ -', field: 'name' });
    const o = await this.org(orgName);
    if (await this.teamId(o.id, team).catch(() => null)) throw new BerthError('CONFLICT', { message: `team ${orgName}/${team} already exists`, field: 'name' });
    await this.change(ctx, { action: 'team.create', resource: `team:${orgName}/${team}` }, async (tx) => {
      await insertTeam(tx, o.id, team);
      return [TeamCreated({ organization: orgName, team })];
    });
  }

  private async teamId(orgId: number, team: string): Promise<number> {
    const id = await findTeamId(this.db, orgId, team);
    if (id === undefined) throw new BerthError('NOT_FOUND', { message: `no team ${team}` });
    return id;
  }

  private async userId(name: string): Promise<number> {
    const id = await findUserId(this.db, name);
    if (id === undefined) throw new BerthError('NOT_FOUND', { message: `no user ${name}` });
    return id;
  }

  async addTeamMember(orgName: string, team: string, user: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const teamId = await this.teamId(o.id, team);
    const userId = await this.userId(user);
    await this.change(ctx, { action: 'team.member.add', resource: `team:${orgName}/${team}`, detail: { user } }, async (tx) => {
      return (await addTeamMember(tx, teamId, userId)) ? [TeamMemberAdded({ organization: orgName, team, user, source: 'manual' })] : [];
    });
  }

  async removeTeamMember(orgName: string, team: string, user: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const teamId = await this.teamId(o.id, team);
    const userId = await this.userId(user);
    await this.change(ctx, { action: 'team.member.remove', resource: `team:${orgName}/${team}`, detail: { user } }, async (tx) => {
      const source = await removeTeamMember(tx, teamId, userId);
      return source !== undefined ? [TeamMemberRemoved({ organization: orgName, team, user, source })] : [];
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
    const ref = { kind: subject.kind, id: await this.subjectId(o.id, subject) };
    await this.change(ctx, { action: 'org.role', resource: `organization:${orgName}`, detail: { subject: `${subject.kind}:${subject.name}`, role } }, async (tx) => {
      const previous = await replaceOrgRole(tx, o.id, ref, role);
      if (previous === role) return [];
      const d = { organization: orgName, subject };
      if (role === null) return [OrganizationMemberRemoved({ ...d, previous: previous! })];
      return [previous === null ? OrganizationMemberAdded({ ...d, role }) : OrganizationMemberRoleChanged({ ...d, role, previous })];
    });
  }

  /** A role on one repository, which may differ from the organization role (null removes it). */
  async setRepositoryRole(repository: string, subject: Subject, role: Role | null, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!isValidName(repository)) throw new BerthError('INPUT_INVALID', { message: `invalid repository name ${repository}` });
    const orgId = await findOrganizationId(this.db, namespaceOf(repository));
    const ref = { kind: subject.kind, id: await this.subjectId(orgId ?? null, subject) };
    await this.change(ctx, { action: 'repository.role', resource: `repository:${repository}`, detail: { subject: `${subject.kind}:${subject.name}`, role } }, async (tx) => {
      const previous = await replaceRepositoryRole(tx, repository, ref, role);
      if (previous === role) return [];
      if (role === null) return [RepositoryRoleRevoked({ repository, subject, previous: previous! })];
      return [RepositoryRoleGranted({ repository, subject, role, previous })];
    });
  }

  /** public, private, or inherit (as its organization; private in a user namespace). */
  async setRepositoryVisibility(repository: string, visibility: 'public' | 'private' | 'inherit', ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    if (!isValidName(repository)) throw new BerthError('INPUT_INVALID', { message: `invalid repository name ${repository}` });
    const value = visibility === 'inherit' ? null : visibility === 'public';
    await this.change(ctx, { action: 'repository.visibility', resource: `repository:${repository}`, detail: { visibility } }, async (tx) => {
      await setRepositoryPublic(tx, repository, value);
    });
  }

  async list(): Promise<OrganizationInfo[]> {
    return (await listOrganizations(this.db)).map(toInfo);
  }

  async get(name: string): Promise<OrganizationInfo | undefined> {
    const o = await findOrganization(this.db, name);
    return o ? toInfo(o) : undefined;
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
      await deleteTeamsRepositoryRoles(tx, await teamIdsOf(tx, o.id));
      await deleteRobotsOf(tx, name);
      await deleteOrganization(tx, o.id);
      await this.journal.write(tx, ctx, [{ action: 'org.delete', resource: `organization:${name}` }]);
    });
  }

  async teams(orgName: string): Promise<TeamInfo[]> {
    const o = await this.org(orgName);
    return teamsWithCounts(this.db, o.id);
  }

  async teamMembers(orgName: string, team: string): Promise<{ name: string; source: string }[]> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    return teamMemberNames(this.db, id);
  }

  async removeTeam(orgName: string, team: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    await this.transact(async (tx: Tx) => {
      await deleteTeamAndRoles(tx, id);
      await this.journal.write(tx, ctx, [{ action: 'team.delete', resource: `team:${orgName}/${team}` }]);
      await this.outbox.append(tx, ctx, TeamDeleted({ organization: orgName, team }));
    });
  }

  /** Makes a team follow a directory group (its DN), or stop following (null). */
  async setTeamDirectoryGroup(orgName: string, team: string, groupDn: string | null, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    const o = await this.org(orgName);
    const id = await this.teamId(o.id, team);
    await this.change(ctx, { action: 'team.update', resource: `team:${orgName}/${team}`, detail: { directoryGroup: groupDn } }, async (tx) => {
      await setTeamDirectoryGroup(tx, id, groupDn);
    });
  }

  /** Roles on an organization: users and teams. */
  async orgMembers(orgName: string): Promise<MemberInfo[]> {
    const o = await this.org(orgName);
    return this.named(await orgRoles(this.db, o.id));
  }

  /** Roles given on one repository (besides the organization's). */
  async repositoryMembers(repository: string): Promise<MemberInfo[]> {
    return this.named(await repositoryRoles(this.db, repository));
  }

  async repositoryVisibility(repository: string): Promise<'public' | 'private' | 'inherit'> {
    const isPublic = await repositoryPublic(this.db, repository);
    return isPublic === null ? 'inherit' : isPublic ? 'public' : 'private';
  }

  private async named(rows: RoleRow[]): Promise<MemberInfo[]> {
    const users = await userNames(this.db, rows.filter((r) => r.kind === 'user').map((r) => r.subjectId));
    const teams = await teamNames(this.db, rows.filter((r) => r.kind === 'team').map((r) => r.subjectId));
    const out: MemberInfo[] = [];
    for (const r of rows) {
      const name = r.kind === 'user' ? users.get(r.subjectId) : teams.get(r.subjectId);
      if (name && isRole(r.role)) out.push({ kind: r.kind, name, role: r.role });
    }
    return out.sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'team' ? -1 : 1));
  }
}

export interface OrganizationInfo { name: string; public: boolean; createdAt: number }
const toInfo = (o: OrganizationRow): OrganizationInfo => ({ name: o.name, public: o.public, createdAt: o.createdAt });
export interface TeamInfo { name: string; directoryGroup: string | null; members: number }
export interface MemberInfo { kind: 'user' | 'team'; name: string; role: Role }
