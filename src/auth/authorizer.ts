// Loads what policy.ts decides on: namespaces, visibility and the principal's roles (directly and by
// team, on the organization and on the repository), and for a manifest pull the facts the registered
// sources know about it. It decides nothing itself: it asks policy.ts, and loads facts only when the
// policy says it needs them. One instance per request caches what it loaded.
import type { Db } from '../db/database.js';
import { namespaceOf } from '../oci/reference.js';
import {
  decide, decidePull, isRole, maxRole, NEEDS_FACTS, PULL_ALLOWED, pullsEverything,
  type Basis, type Context, type PolicySettings, type PullDecision, type RepositoryContext, type Resource, type Role,
} from './policy.js';
import type { Principal } from './principal.js';
import { PullRules, type ManifestFacts } from './pull-rules.js';
import type { ResourceScope } from './scope.js';
import { findOrganization, orgRoles, repositoryPublic, repositoryRoles, teamMemberships, type RoleRow } from '../db/organizations.js';
import { findUserId } from '../db/users.js';

export interface AuthorizerOptions {
  anonymousPull: boolean;
  usersCreateOrganizations?: boolean;
  pushCreatesOrganization?: boolean;
  /** the fact sources and pull rules features registered (none by default) */
  pullRules?: PullRules;
}

export class Authorizer {
  private readonly contexts = new Map<string, Promise<RepositoryContext>>();
  private readonly settings: PolicySettings;
  private readonly pullRules: PullRules;

  constructor(private readonly db: Db, readonly principal: Principal, opts: AuthorizerOptions = { anonymousPull: true }) {
    this.settings = { anonymousPull: opts.anonymousPull, usersCreateOrganizations: opts.usersCreateOrganizations ?? false, pushCreatesOrganization: opts.pushCreatesOrganization ?? false };
    this.pullRules = opts.pullRules ?? PullRules.NONE;
  }

  /** What the principal may do now, from its roles (lists, the management API, ownership checks). */
  can(resource: Resource, action: string): Promise<boolean> {
    return this.ask(resource, action, 'now');
  }

  /** A registry request's own check: a bearer token answers with its grant, other callers as `can`. */
  allows(resource: Resource, action: string): Promise<boolean> {
    return this.ask(resource, action, 'request');
  }

  private async ask(resource: Resource, action: string, basis: Basis): Promise<boolean> {
    const first = decide(this.principal, resource, action, this.settings, undefined, basis);
    if (first !== NEEDS_FACTS) return first;
    return decide(this.principal, resource, action, this.settings, await this.facts(resource), basis) === true;
  }

  private async facts(resource: Resource): Promise<Context> {
    if (resource.type !== 'organization') return this.context(resource.name);
    const ns = await this.namespace(resource.name);
    return { kind: 'organization', exists: ns.kind === 'org', role: ns.orgRole, public: ns.orgPublic };
  }

  /** The intersection of what was asked and what is allowed (asking for more is trimmed, not refused). */
  async grant(requested: ResourceScope[]): Promise<ResourceScope[]> {
    const out: ResourceScope[] = [];
    for (const r of requested) {
      const actions: string[] = [];
      // The policy refuses types and actions a registry token cannot carry.
      for (const a of r.actions) if (await this.ask({ type: r.type as Resource['type'], name: r.name }, a, 'issue')) actions.push(a);
      if (actions.length > 0) out.push({ ...r, actions });
    }
    return out;
  }

  /** Whether the caller may pull every repository (a list need not ask per name). */
  pullsEverything(): boolean {
    return pullsEverything(this.principal);
  }

  /**
   * The second decision on a manifest pull, once the digest is known: the facts every registered source
   * knows about the manifest (in registration order; a source that fails is named to the policy), then policy.ts.
   */
  async pullManifest(name: string, digest: string): Promise<PullDecision> {
    const { sources, rules } = this.pullRules;
    if (rules.length === 0) return PULL_ALLOWED;
    const facts: ManifestFacts = {};
    const unavailable: string[] = [];
    const found = await Promise.all(sources.map(async (s) => {
      try { return await s.facts(name, digest); } catch { return null; }
    }));
    found.forEach((f, i) => (f === null ? unavailable.push(sources[i].name) : Object.assign(facts, f)));
    const asks = sources.some((s, i) => found[i] !== null && s.asksCallerPush?.(found[i]!) === true);
    const callerMayPush = asks && (await this.can({ type: 'repository', name }, 'push'));
    return decidePull(this.principal, { type: 'repository', name, digest, facts, callerMayPush }, rules, unavailable);
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
      ? teamMemberships(this.db, p.id).then((rows) => rows.map((t) => t.teamId))
      : Promise.resolve([]);
    return this.teams;
  }

  private async roleIn(rows: RoleRow[]): Promise<Role | null> {
    const p = this.principal;
    if (p.kind !== 'user') return null;
    const teams = await this.teamIds();
    return maxRole(rows.filter((r) => (r.kind === 'user' && r.subjectId === p.id) || (r.kind === 'team' && teams.includes(r.subjectId)))
      .map((r) => (isRole(r.role) ? r.role : null)));
  }

  /** What a namespace is, and the caller's organization role there: once per namespace per request. */
  private namespace(ns: string) {
    let n = this.namespaces.get(ns);
    if (!n) {
      n = (async () => {
        const org = await findOrganization(this.db, ns);
        if (org) {
          const rows = this.principal.kind === 'user' ? await orgRoles(this.db, org.id) : [];
          return { kind: 'org' as const, orgPublic: org.public, orgRole: await this.roleIn(rows) };
        }
        const user = await findUserId(this.db, ns);
        return { kind: user !== undefined ? ('user' as const) : ('none' as const), orgPublic: false, orgRole: null };
      })();
      this.namespaces.set(ns, n);
    }
    return n;
  }

  private async load(repository: string): Promise<RepositoryContext> {
    const ns = namespaceOf(repository);
    const p = this.principal;
    const space = await this.namespace(ns);
    if (space.kind === 'none') return { namespace: 'none', owner: false, role: null, public: false };
    const explicitPublic = await repositoryPublic(this.db, repository);
    const repoRole = p.kind === 'user' ? await this.roleIn(await repositoryRoles(this.db, repository)) : null;
    if (space.kind === 'org') return { namespace: 'org', owner: false, role: maxRole([space.orgRole, repoRole]), public: explicitPublic ?? space.orgPublic };
    return { namespace: 'user', owner: p.kind === 'user' && p.name === ns, role: repoRole, public: explicitPublic ?? false };
  }

}
