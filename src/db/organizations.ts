// Organizations and who may do what (tables organizations, teams, team_members, org_members,
// repository_members, repository_settings): teams and their members, roles on an organization or on one
// repository for users and teams, and repositories' own visibility. Role rows name their subject (a user's or
// a team's id) without a foreign key. What a role allows is auth/policy.ts's; an organization's id by name is
// findOrganizationId (webhook-endpoints.ts).
import type { Tx } from './database.js';
import { bumpAccessGeneration } from './cursors.js';

export type SubjectKind = 'user' | 'team';
/** A role's holder: a user's or a team's id. */
export interface SubjectRef { kind: SubjectKind; id: number }
export interface RoleRow { kind: SubjectKind; subjectId: number; role: string }
export interface OrganizationRow { id: number; name: string; public: boolean; createdAt: number }

const toRoleRow = (r: { subject_kind: SubjectKind; subject_id: number; role: string }): RoleRow => ({ kind: r.subject_kind, subjectId: Number(r.subject_id), role: r.role });
const toOrganization = (o: { id: number; name: string; public: number; created_at: number }): OrganizationRow => ({
  id: Number(o.id), name: o.name, public: Boolean(o.public), createdAt: Number(o.created_at),
});

// Organizations.

export async function findOrganization(db: Tx, name: string): Promise<OrganizationRow | undefined> {
  const o = await db.selectFrom('organizations').selectAll().where('name', '=', name).executeTakeFirst();
  return o && toOrganization(o);
}

/** Every organization, by name. */
export async function listOrganizations(db: Tx): Promise<OrganizationRow[]> {
  return (await db.selectFrom('organizations').selectAll().orderBy('name').execute()).map(toOrganization);
}

/** Creates an organization; returns its id. */
export async function insertOrganization(tx: Tx, name: string, isPublic: boolean, now: number): Promise<number> {
  const { id } = await tx.insertInto('organizations').values({ name, public: isPublic ? 1 : 0, created_at: now }).returning('id').executeTakeFirstOrThrow();
  await bumpAccessGeneration(tx);
  return Number(id);
}

export async function setOrganizationPublic(tx: Tx, id: number, isPublic: boolean): Promise<void> {
  await tx.updateTable('organizations').set({ public: isPublic ? 1 : 0 }).where('id', '=', id).execute();
  await bumpAccessGeneration(tx);
}

/** Deletes the organization row; its teams, their members and its roles go with it (foreign keys). */
export async function deleteOrganization(tx: Tx, id: number): Promise<void> {
  await tx.deleteFrom('organizations').where('id', '=', id).execute();
  await bumpAccessGeneration(tx);
}

// Roles on an organization.

export async function addOrgMember(tx: Tx, orgId: number, subject: SubjectRef, role: string): Promise<void> {
  await tx.insertInto('org_members').values({ org_id: orgId, subject_kind: subject.kind, subject_id: subject.id, role }).execute();
  await bumpAccessGeneration(tx);
}

/** Replaces a subject's role on an organization (null: removes it); returns the role it had, or null. */
export async function replaceOrgRole(tx: Tx, orgId: number, subject: SubjectRef, role: string | null): Promise<string | null> {
  const before = await tx.deleteFrom('org_members').where('org_id', '=', orgId).where('subject_kind', '=', subject.kind).where('subject_id', '=', subject.id)
    .returning('role').executeTakeFirst();
  if (role) await addOrgMember(tx, orgId, subject, role);
  else if (before) await bumpAccessGeneration(tx);
  return before?.role ?? null;
}

/** The roles given on an organization. */
export async function orgRoles(db: Tx, orgId: number): Promise<RoleRow[]> {
  return (await db.selectFrom('org_members').select(['subject_kind', 'subject_id', 'role']).where('org_id', '=', orgId).execute()).map(toRoleRow);
}

// Roles on one repository, and its visibility.

/** Replaces a subject's role on a repository (null: removes it); returns the role it had, or null. */
export async function replaceRepositoryRole(tx: Tx, repository: string, subject: SubjectRef, role: string | null): Promise<string | null> {
  const before = await tx.deleteFrom('repository_members').where('repository_name', '=', repository).where('subject_kind', '=', subject.kind).where('subject_id', '=', subject.id)
    .returning('role').executeTakeFirst();
  if (role) await tx.insertInto('repository_members').values({ repository_name: repository, subject_kind: subject.kind, subject_id: subject.id, role }).execute();
  if (role || before) await bumpAccessGeneration(tx);
  return before?.role ?? null;
}

/** The roles given on one repository (besides its organization's). */
export async function repositoryRoles(db: Tx, repository: string): Promise<RoleRow[]> {
  return (await db.selectFrom('repository_members').select(['subject_kind', 'subject_id', 'role']).where('repository_name', '=', repository).execute()).map(toRoleRow);
}

/** A repository's own visibility: true (public), false (private), null (as its namespace) when none is set. */
export async function repositoryPublic(db: Tx, repository: string): Promise<boolean | null> {
  const r = await db.selectFrom('repository_settings').select('public').where('name', '=', repository).executeTakeFirst();
  return r?.public === null || r?.public === undefined ? null : Boolean(r.public);
}

/** Sets a repository's own visibility (null: as its namespace). */
export async function setRepositoryPublic(tx: Tx, repository: string, isPublic: boolean | null): Promise<void> {
  const value = isPublic === null ? null : isPublic ? 1 : 0;
  await tx.insertInto('repository_settings').values({ name: repository, public: value })
    .onConflict((oc) => oc.column('name').doUpdateSet({ public: value })).execute();
  await bumpAccessGeneration(tx);
}

// Teams and their members.

export async function findTeamId(db: Tx, orgId: number, name: string): Promise<number | undefined> {
  const t = await db.selectFrom('teams').select('id').where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
  return t ? Number(t.id) : undefined;
}

export async function insertTeam(tx: Tx, orgId: number, name: string): Promise<void> {
  await tx.insertInto('teams').values({ org_id: orgId, name }).execute();
}

/** The ids of an organization's teams. */
export async function teamIdsOf(tx: Tx, orgId: number): Promise<number[]> {
  return (await tx.selectFrom('teams').select('id').where('org_id', '=', orgId).execute()).map((t) => Number(t.id));
}

/** An organization's teams with their directory group and member count, by name. */
export async function teamsWithCounts(db: Tx, orgId: number): Promise<{ name: string; directoryGroup: string | null; members: number }[]> {
  const rows = await db.selectFrom('teams').leftJoin('team_members', 'team_members.team_id', 'teams.id')
    .select((eb) => ['teams.name', 'teams.directory_group', eb.fn.count<number>('team_members.user_id').as('members')])
    .where('teams.org_id', '=', orgId).groupBy(['teams.id', 'teams.name', 'teams.directory_group']).orderBy('teams.name').execute();
  return rows.map((t) => ({ name: t.name, directoryGroup: t.directory_group, members: Number(t.members) }));
}

/** A team's members (user names) and how each became one (manual, directory), by name. */
export async function teamMemberNames(db: Tx, teamId: number): Promise<{ name: string; source: string }[]> {
  return (await db.selectFrom('team_members').innerJoin('users', 'users.id', 'team_members.user_id')
    .select(['users.name', 'team_members.source']).where('team_members.team_id', '=', teamId).orderBy('users.name').execute())
    .map((m) => ({ name: m.name, source: m.source }));
}

/** Names of users by id (only those that exist). */
export async function userNames(db: Tx, ids: number[]): Promise<Map<number, string>> {
  if (!ids.length) return new Map();
  return new Map((await db.selectFrom('users').select(['id', 'name']).where('id', 'in', ids).execute()).map((u) => [Number(u.id), u.name]));
}

/** Names of teams by id (only those that exist). */
export async function teamNames(db: Tx, ids: number[]): Promise<Map<number, string>> {
  if (!ids.length) return new Map();
  return new Map((await db.selectFrom('teams').select(['id', 'name']).where('id', 'in', ids).execute()).map((t) => [Number(t.id), t.name]));
}

/** Adds a member by hand; false when the user already was one. */
export async function addTeamMember(tx: Tx, teamId: number, userId: number): Promise<boolean> {
  const res = await tx.insertInto('team_members').values({ team_id: teamId, user_id: userId }).onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing()).executeTakeFirst();
  const added = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  if (added) await bumpAccessGeneration(tx);
  return added;
}

/** Adds a member that the directory group of the team brought (the directory sync may remove it again). */
export async function addDirectoryTeamMember(tx: Tx, teamId: number, userId: number): Promise<void> {
  await tx.insertInto('team_members').values({ team_id: teamId, user_id: userId, source: 'directory' }).execute();
  await bumpAccessGeneration(tx);
}

/** Removes a member; returns how it had become one, or undefined when it was none. */
export async function removeTeamMember(tx: Tx, teamId: number, userId: number): Promise<string | undefined> {
  const gone = await tx.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).returning('source').executeTakeFirst();
  if (gone) await bumpAccessGeneration(tx);
  return gone?.source;
}

/** Deletes a team and the roles given to it (on its organization and on repositories). */
export async function deleteTeamAndRoles(tx: Tx, id: number): Promise<void> {
  await tx.deleteFrom('org_members').where('subject_kind', '=', 'team').where('subject_id', '=', id).execute();
  await tx.deleteFrom('repository_members').where('subject_kind', '=', 'team').where('subject_id', '=', id).execute();
  await tx.deleteFrom('teams').where('id', '=', id).execute();
  await bumpAccessGeneration(tx);
}

/** Deletes the roles given to these teams on repositories. */
export async function deleteTeamsRepositoryRoles(tx: Tx, teamIds: number[]): Promise<void> {
  if (!teamIds.length) return;
  await tx.deleteFrom('repository_members').where('subject_kind', '=', 'team').where('subject_id', 'in', teamIds).execute();
  await bumpAccessGeneration(tx);
}

/** Makes a team follow a directory group (null: stop following; its members then count as added by hand). */
export async function setTeamDirectoryGroup(tx: Tx, id: number, groupDn: string | null): Promise<void> {
  await tx.updateTable('teams').set({ directory_group: groupDn }).where('id', '=', id).execute();
  if (groupDn === null) await tx.updateTable('team_members').set({ source: 'manual' }).where('team_id', '=', id).execute();
}

/** Every team that follows a directory group, with its organization's name. */
export async function directoryTeams(tx: Tx): Promise<{ id: number; name: string; directoryGroup: string; org: string }[]> {
  const rows = await tx.selectFrom('teams').innerJoin('organizations as o', 'o.id', 'teams.org_id')
    .select(['teams.id', 'teams.name', 'teams.directory_group', 'o.name as org']).where('teams.directory_group', 'is not', null).execute();
  return rows.map((t) => ({ id: Number(t.id), name: t.name, directoryGroup: t.directory_group!, org: t.org }));
}

/** The teams a user is a member of, with how it became one (manual, directory). */
export async function teamMemberships(db: Tx, userId: number): Promise<{ teamId: number; source: string }[]> {
  return (await db.selectFrom('team_members').select(['team_id', 'source']).where('user_id', '=', userId).execute()).map((m) => ({ teamId: Number(m.team_id), source: m.source }));
}
