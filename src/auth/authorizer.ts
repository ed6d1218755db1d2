// Loads what policy.ts decides on: namespaces, visibility and the principal's roles (directly and by
// team, on the organization and on the repository). One instance per request caches what it loaded.
import type { Db } from '../db/database.js';
import { namespaceOf } from '../oci/reference.js';
import { decide, isRole, maxRole, type Context, type RepositoryContext, type Resource, type Role } from './policy.js';
import type { Principal } from './principal.js';
import type { ResourceScope } from './scope.js';

export class Authorizer {
  private readonly contexts = new Map<string, Promise<RepositoryContext>>();

  constructor(
    private readonly db: Db, readonly principal: Principal,
    private readonly opts: { anonymousPull: boolean; usersCreateOrganizations?: boolean; pushCreatesOrganization?: boolean } = { anonymousPull: true },
  ) {}

  async can(resource: Resource, action: string): Promise<boolean> {
    const p = this.principal;
    // Administrators may do everything but push into a namespace nobody owns: that needs the namespace's facts.
    if (p.kind === 'user' && p.admin && !p.limit && resource.type !== 'account' && !(resource.type === 'repository' && action === 'push')) return true;
    let ctx: Context | null = null;
    if (resource.type === 'repository') ctx = await this.context(resource.name);
    else if (resource.type === 'organization') {
      const ns = await this.namespace(resource.name);
      ctx = { kind: 'organization', exists: ns.kind === 'org', role: ns.orgRole, public: ns.orgPublic };
    } else if (resource.type === 'system') ctx = { kind: 'system', usersCreateOrganizations: this.opts.usersCreateOrganizations ?? false };
    // With anonymous access turned off, public content is public to accounts only.
    if (ctx && p.kind === 'anonymous' && !this.opts.anonymousPull) return false;
    return decide(p, resource, action, ctx);
  }

  /** The intersection of what was asked and what is allowed (asking for more is trimmed, not refused). */
  async grant(requested: ResourceScope[]): Promise<ResourceScope[]> {
    const out: ResourceScope[] = [];
    for (const r of requested) {
      if (r.type !== 'repository' && r.type !== 'registry') continue;
      const actions: string[] = [];
      for (const a of r.actions) {
        // Registry tokens carry registry actions only; management goes through /api/v1.
        if (r.type === 'repository' && !['pull', 'push', 'delete'].includes(a)) continue;
        if (await this.can({ type: r.type, name: r.name }, a)) actions.push(a);
      }
      if (actions.length > 0) out.push({ ...r, actions });
    }
    return out;
  }

  /** The caller's role on an organization (directly or by team); null for none. */
  async organizationRole(name: string): Promise<Role | null> {
    return (await this.namespace(name)).orgRole;
  }

  context(repository: string): Promise<RepositoryContext> {
    let c = this.contexts.get(repository);
    if (!c) {
      c = this.load(repository);
      this.contexts.set(repository, c);
    }
    return c;
  }

  private teams?: Promise<number[]>;
  private readonly namespaces = new Map<string, Promise<{ kind: RepositoryContext['namespace']; orgPublic: boolean; orgRole: Role | null }>>();

  /** The caller's teams: loaded once per request, whatever the number of repositories decided. */
  private teamIds(): Promise<number[]> {
    const p = this.principal;
    this.teams ??= p.kind === 'user'
      ? this.db.selectFrom('team_members').select('team_id').where('user_id', '=', p.id).execute().then((rows) => rows.map((t) => Number(t.team_id)))
      : Promise.resolve([]);
    return this.teams;
  }

  private async roleIn(rows: { subject_kind: string; subject_id: number; role: string }[]): Promise<Role | null> {
    const p = this.principal;
    if (p.kind !== 'user') return null;
    const teams = await this.teamIds();
    return maxRole(rows.filter((r) => (r.subject_kind === 'user' && Number(r.subject_id) === p.id) || (r.subject_kind === 'team' && teams.includes(Number(r.subject_id))))
      .map((r) => (isRole(r.role) ? r.role : null)));
  }

  /** What a namespace is, and the caller's organization role there: once per namespace per request. */
  private namespace(ns: string) {
    let n = this.namespaces.get(ns);
    if (!n) {
      n = (async () => {
        const org = await this.db.selectFrom('organizations').select(['id', 'public']).where('name', '=', ns).executeTakeFirst();
        if (org) {
          const rows = this.principal.kind === 'user' ? await this.db.selectFrom('org_members').select(['subject_kind', 'subject_id', 'role']).where('org_id', '=', org.id).execute() : [];
          return { kind: 'org' as const, orgPublic: Boolean(org.public), orgRole: await this.roleIn(rows) };
        }
        const user = await this.db.selectFrom('users').select('id').where('name', '=', ns).executeTakeFirst();
        return { kind: user ? ('user' as const) : ('none' as const), orgPublic: false, orgRole: null };
      })();
      this.namespaces.set(ns, n);
    }
    return n;
  }

  private async load(repository: string): Promise<RepositoryContext> {
    const ns = namespaceOf(repository);
    const p = this.principal;
    const space = await this.namespace(ns);
    if (space.kind === 'none') {
      // Only a full account that may create organizations claims a namespace by pushing (not a token, not a robot).
      const claimable = Boolean(this.opts.pushCreatesOrganization) && p.kind === 'user' && !p.limit && p.source !== 'robot' && p.source !== 'token'
        && decide(p, { type: 'system', name: 'organizations' }, 'create', { kind: 'system', usersCreateOrganizations: this.opts.usersCreateOrganizations ?? false });
      return { namespace: 'none', owner: false, role: null, public: false, claimable };
    }
    const setting = await this.db.selectFrom('repository_settings').select('public').where('name', '=', repository).executeTakeFirst();
    const explicitPublic = setting?.public === null || setting?.public === undefined ? null : Boolean(setting.public);
    const repoRole = p.kind === 'user' ? await this.roleIn(await this.db.selectFrom('repository_members').select(['subject_kind', 'subject_id', 'role']).where('repository_name', '=', repository).execute()) : null;
    if (space.kind === 'org') return { namespace: 'org', owner: false, role: maxRole([space.orgRole, repoRole]), public: explicitPublic ?? space.orgPublic };
    return { namespace: 'user', owner: p.kind === 'user' && p.name === ns, role: repoRole, public: explicitPublic ?? false };
  }

}
