// The one authorization decision: may this principal do this action on this resource? Every /v2 route, the
// token endpoint, the management API, repository lists and the handlers' ownership checks come here; the
// other modules only gather facts (principal, roles, settings, namespace owner) and ask. authorizer.ts loads
// the facts a decision needs, and only when it needs them: `decide` answers NEEDS_FACTS first.
// A manifest pull is decided twice: first on the repository, then (decidePull) on the manifest it resolved
// to, with the facts that features (scanning, trust) record.
import { globMatch, listMatch, underPath } from '../lib/glob.js';
import type { Principal } from './principal.js';
import type { ManifestFacts, ManifestResource, PullRule } from './pull-rules.js';
import { ROLES, type Role } from './roles.js';
import type { ResourceScope } from './scope.js';

export { ROLES, type Role };
export const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);
export const rank = (r: Role | null): number => (r === null ? -1 : ROLES.indexOf(r));
export const maxRole = (roles: (Role | null)[]): Role | null => roles.reduce<Role | null>((a, b) => (rank(b) > rank(a) ? b : a), null);

/**
 * What a repository action needs: pull reads, push writes, delete removes; `settings` changes visibility;
 * `members` gives roles on it.
 */
const NEEDS: Record<string, Role> = { pull: 'reader', push: 'developer', delete: 'maintainer', settings: 'maintainer', members: 'admin' };
/** What an organization action needs: `read` sees it, its teams and members; `admin` changes them. */
const ORG_NEEDS: Record<string, Role> = { read: 'reader', admin: 'admin' };
/** The registry (OCI) actions a robot or access token can carry. */
const REGISTRY_ACTIONS = new Set(['pull', 'push', 'delete']);

/**
 * repository: an image repository (for a manifest pull also the digest it resolved to, and facts about it);
 * registry: the catalog; organization: an organization and its teams, members and robots; system:
 * Berth-wide administration (`users`, `organizations`, `audit`, `gc`, `webhooks`); account: a user's own
 * credentials (`manage`: password, second factor, access tokens; `refresh`: hold a refresh token).
 */
export interface Resource {
  type: 'repository' | 'registry' | 'organization' | 'system' | 'account';
  name: string;
  digest?: string;
  facts?: ManifestFacts;
}

/** The registry's settings that decisions depend on (from the configuration). */
export interface PolicySettings {
  /** auth.anonymousPull: whether callers without an account may pull public repositories */
  anonymousPull: boolean;
  /** auth.organizationCreation is `users`: every account may create organizations (else administrators only) */
  usersCreateOrganizations: boolean;
  /** auth.pushCreatesOrganization: a push into a namespace nobody owns creates it as the pusher's organization */
  pushCreatesOrganization: boolean;
}

/** Facts about a repository and the principal, loaded by the authorizer. */
export interface RepositoryContext {
  kind?: 'repository';
  /** what the first path component is: a user's personal namespace, an organization, or nothing yet */
  namespace: 'user' | 'org' | 'none';
  /** the principal is the user whose namespace this is */
  owner: boolean;
  /** the principal's strongest role here: on the organization, or on the repository, directly or by team */
  role: Role | null;
  /** anyone, also anonymous, may pull */
  public: boolean;
}

export interface OrganizationContext { kind: 'organization'; exists: boolean; role: Role | null; public: boolean }
export type Context = RepositoryContext | OrganizationContext;

/**
 * Why a decision is asked. `now`: what the principal may do at this moment, from its roles (lists, the
 * management API, the handlers' ownership checks). `request`: a registry request's own check, where a
 * bearer token answers with the grant it was issued with while no role changed since. `issue`: a registry
 * token being issued (it carries registry actions only).
 */
export type Basis = 'now' | 'request' | 'issue';

/** `decide`'s answer when it cannot decide without the resource's facts: load them and ask again. */
export const NEEDS_FACTS = 'needs-facts';
export type Verdict = boolean | typeof NEEDS_FACTS;

/** A system administrator acting with full rights (not through an access token's limits). */
const fullAdmin = (p: Principal): boolean => p.kind === 'user' && p.admin && !p.limit;

/**
 * The decision. Called first without `ctx`: it answers at once when the facts cannot change the answer
 * (administrators, bearer tokens, anonymous callers when anonymous access is off), and NEEDS_FACTS
 * otherwise; then with the facts the authorizer loaded for the resource.
 */
export function decide(p: Principal, resource: Resource, action: string, settings: PolicySettings, ctx?: Context, basis: Basis = 'now'): Verdict {
  // A registry request with a bearer token carries the decision taken when the token was issued: its grant.
  // Once roles, memberships or visibility changed (anywhere), the grant only bounds a decision taken afresh.
  if (basis === 'request' && p.kind === 'user' && p.via === 'token') {
    if (!grantCovers(p.grant, resource, action)) return false;
    if (!p.grantStale) return true;
    basis = 'now';
  }
  // Registry tokens carry registry actions only; management goes through /api/v1.
  if (basis === 'issue' && resource.type !== 'registry' && !(resource.type === 'repository' && REGISTRY_ACTIONS.has(action))) return false;
  // With anonymous access turned off, public content is public to accounts only.
  if (p.kind === 'anonymous' && !settings.anonymousPull) return false;
  // Administrators may do everything but manage other people's credentials and push into a namespace nobody
  // owns (that needs the namespace's facts).
  if (fullAdmin(p) && resource.type !== 'account' && !(resource.type === 'repository' && action === 'push')) return true;
  // An access token never allows more than its own limits, whatever its user may do: registry actions on
  // matching repositories, and nothing of the management API.
  if (p.kind === 'user' && p.limit) {
    if (resource.type === 'repository') {
      if (!REGISTRY_ACTIONS.has(action) || !p.limit.some((l) => globMatch(l.pattern, resource.name) && listMatch(l.actions, action))) return false;
    } else if (resource.type !== 'registry') return false;
  }
  // Credentials are managed with the password (or a session), never with a token: a stolen token must not mint more.
  // For the same reason only a password login gets a refresh token (one would not carry an access token's limits).
  if (resource.type === 'account') {
    if (p.kind !== 'user' || p.name !== resource.name) return false;
    if (action === 'refresh') return !p.tokenId && p.source !== 'token';
    return action === 'manage' && p.source !== 'token' && p.source !== 'robot';
  }
  if ((resource.type === 'repository' || resource.type === 'organization') && ctx === undefined) return NEEDS_FACTS;
  const repo = resource.type === 'repository' && ctx && ctx.kind !== 'organization' ? ctx : undefined;
  // A namespace always has an owner: nobody, an administrator neither, pushes into one that has none,
  // unless the push creates it as the pusher's organization.
  if (resource.type === 'repository' && action === 'push' && repo?.namespace === 'none') return p.kind === 'user' && mayClaimByPush(p, settings);
  if (p.kind === 'user' && p.admin) return true;
  // A robot account may do exactly what its token lists (checked above), inside its own organization.
  if (p.kind === 'user' && p.source === 'robot') {
    return resource.type === 'repository' && Boolean(p.limit) && REGISTRY_ACTIONS.has(action) && underPath(p.name.split('+')[0], resource.name);
  }
  if (resource.type === 'registry') return p.kind === 'user' && resource.name === 'catalog' && action === '*';
  // The system's `organizations`: `create` as the setting says; `adopt` (create one over a namespace that
  // holds repositories nobody owns) and everything else of the system is for administrators only.
  if (resource.type === 'system') {
    return p.kind === 'user' && resource.name === 'organizations' && action === 'create' && settings.usersCreateOrganizations;
  }
  if (resource.type === 'organization') {
    if (ctx?.kind !== 'organization' || !ctx.exists) return false;
    if (action === 'read' && ctx.public) return true;
    const need = ORG_NEEDS[action];
    return p.kind === 'user' && need !== undefined && rank(ctx.role) >= rank(need);
  }
  if (!repo) return false;
  if (action === 'pull' && repo.public) return true;
  if (p.kind === 'anonymous') return false;
  if (repo.owner) return action in NEEDS;
  const need = NEEDS[action];
  return need !== undefined && rank(repo.role) >= rank(need);
}

/** Only a full account that may create organizations claims a namespace by pushing (not a token, not a robot). */
function mayClaimByPush(p: Principal, settings: PolicySettings): boolean {
  return settings.pushCreatesOrganization && p.kind === 'user' && !p.limit && p.source !== 'robot' && p.source !== 'token'
    && decide(p, { type: 'system', name: 'organizations' }, 'create', settings) === true;
}

/** Whether pull is allowed on every repository whatever its facts (lists then skip the decision per name). */
export function pullsEverything(p: Principal): boolean {
  return fullAdmin(p);
}

/** Whether a token's grant covers the action. */
function grantCovers(scopes: ResourceScope[] | undefined, resource: Resource, action: string): boolean {
  return (scopes ?? []).some((s) => s.type === resource.type && s.name === resource.name && listMatch(s.actions, action));
}

/** Whether a bearer token asked for the resource at all when it was issued (granted or not). */
export function grantNames(p: Principal, resource: Resource): boolean {
  return p.kind === 'user' && (p.grant ?? []).some((g) => g.type === resource.type && g.name === resource.name);
}

export type PullDecision = { allow: true } | { allow: false; rule: string; reason: string; detail?: Record<string, unknown> };
export const PULL_ALLOWED: PullDecision = Object.freeze({ allow: true });

/**
 * The second decision on a manifest pull (GET or HEAD, by tag or digest), once the digest is known: every
 * pull rule must allow it; the first refusal wins and names its rule and reason. Nobody is exempt, system
 * administrators neither: a vulnerable or unsigned image is just as vulnerable or unsigned when an
 * administrator pulls it. A rule that wants an exception (a break-glass account, say) decides it from the
 * principal itself. Fails closed: facts that could not be gathered, or a rule that throws, refuse.
 */
export function decidePull(p: Principal, resource: ManifestResource, rules: readonly PullRule[], unavailable: readonly string[] = []): PullDecision {
  if (rules.length === 0) return PULL_ALLOWED;
  if (unavailable.length > 0) return { allow: false, rule: 'facts', reason: `facts about the manifest are unavailable (${unavailable.join(', ')})` };
  for (const rule of rules) {
    let v;
    try {
      v = rule.evaluate(p, resource);
    } catch {
      return { allow: false, rule: rule.name, reason: `the pull rule ${rule.name} failed` };
    }
    if (!v.allow) return { allow: false, rule: rule.name, reason: v.reason, ...(v.detail ? { detail: v.detail } : {}) };
  }
  return PULL_ALLOWED;
}
