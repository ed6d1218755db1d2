// Loads what policy.ts decides on: namespaces, visibility and the principal's roles (directly and by
// team, on the organization and on the repository). One instance per request caches what it loaded.
import type { Db } from '../db/database.js';
import { namespaceOf } from '../oci/reference.js';
import { decide, isRole, maxRole, type RepositoryContext, type Resource, type Role } from './policy.js';
import type { Principal } from './principal.js';
import type { ResourceScope } from './scope.js';

export class Authorizer {
  private readonly contexts = new Map<string, Promise<RepositoryContext>>();

  constructor(private readonly db: Db, readonly principal: Principal, private readonly opts: { anonymousPull: boolean } = { anonymousPull: true }) {}

  async can(resource: Resource, action: string): Promise<boolean> {
    const p = this.principal;
    if (p.kind === 'user' && p.admin && !p.limit) return true;
    const ctx = resource.type === 'repository' ? await this.context(resource.name) : null;
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
      for (const a of r.actions) if (await this.can({ type: r.type, name: r.name }, a)) actions.push(a);
      if (actions.length > 0) out.push({ ...r, actions });
    }
    return out;
  }

  context(repository: string): Promise<RepositoryContext> {
    let c = this.contexts.get(repository);
    if (!c) {
      c = this.load(repository);
      this.contexts.set(repository, c);
    }
    return c;
  }

  private async load(repository: string): Promise<RepositoryContext> {
    const ns = namespaceOf(repository);
    const p = this.principal;
    const userId = p.kind === 'user' ? p.id : null;
    const [org, owner, setting] = await Promise.all([
      this.db.selectFrom('organizations').select(['id', 'public']).where('name', '=', ns).executeTakeFirst(),
      this.db.selectFrom('users').select('id').where('name', '=', ns).executeTakeFirst(),
      this.db.selectFrom('repository_settings').select('public').where('name', '=', repository).executeTakeFirst(),
    ]);
    const teams = userId === null ? [] : (await this.db.selectFrom('team_members').select('team_id').where('user_id', '=', userId).execute()).map((t) => Number(t.team_id));
    const rolesOf = (rows: { subject_kind: string; subject_id: number; role: string }[]): Role | null =>
      maxRole(rows.filter((r) => (r.subject_kind === 'user' && Number(r.subject_id) === userId) || (r.subject_kind === 'team' && teams.includes(Number(r.subject_id))))
        .map((r) => (isRole(r.role) ? r.role : null)));
    const repoRole = userId === null ? null : rolesOf(await this.db.selectFrom('repository_members').select(['subject_kind', 'subject_id', 'role']).where('repository_name', '=', repository).execute());
    const explicitPublic = setting?.public === null || setting?.public === undefined ? null : Boolean(setting.public);
    if (org) {
      const orgRole = userId === null ? null : rolesOf(await this.db.selectFrom('org_members').select(['subject_kind', 'subject_id', 'role']).where('org_id', '=', org.id).execute());
      return { namespace: 'org', owner: false, role: maxRole([orgRole, repoRole]), public: explicitPublic ?? Boolean(org.public) };
    }
    if (owner) {
      return { namespace: 'user', owner: p.kind === 'user' && p.name === ns, role: repoRole, public: explicitPublic ?? false };
    }
    return { namespace: 'none', owner: false, role: null, public: false };
  }
}
