// The one authorization decision: may this principal do this action on this resource? Every /v2 route
// and the token service come here (through authorizer.ts, which loads the facts it needs).
import { globMatch } from '../lib/glob.js';
import type { Principal } from './principal.js';
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
 * repository: an image repository; registry: the catalog; organization: an organization and its teams,
 * members and robots; system: Berth-wide administration (`users`, `organizations`); account: a user's own
 * credentials (password, second factor, access tokens).
 */
export interface Resource { type: 'repository' | 'registry' | 'organization' | 'system' | 'account'; name: string }

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
  /** nobody owns the namespace, and a push by this principal would create it as their organization */
  claimable?: boolean;
}

export interface OrganizationContext { kind: 'organization'; exists: boolean; role: Role | null; public: boolean }
export interface SystemContext { kind: 'system'; usersCreateOrganizations: boolean }
export type Context = RepositoryContext | OrganizationContext | SystemContext;

export function decide(p: Principal, resource: Resource, action: string, ctx: Context | null): boolean {
  // An access token never allows more than its own limits, whatever its user may do: registry actions on
  // matching repositories, and nothing of the management API.
  if (p.kind === 'user' && p.limit) {
    if (resource.type === 'repository') {
      if (!REGISTRY_ACTIONS.has(action) || !p.limit.some((l) => globMatch(l.pattern, resource.name) && (l.actions.includes(action) || l.actions.includes('*')))) return false;
    } else if (resource.type !== 'registry') return false;
  }
  // Credentials are managed with the password (or a session), never with a token: a stolen token must not mint more.
  if (resource.type === 'account') return p.kind === 'user' && p.name === resource.name && action === 'manage' && p.source !== 'token' && p.source !== 'robot';
  // A namespace always has an owner: nobody, an administrator neither, pushes into one that has none,
  // unless the push creates it as the pusher's organization.
  if (resource.type === 'repository' && action === 'push' && ctx?.kind !== 'organization' && ctx?.kind !== 'system' && ctx?.namespace === 'none') {
    return p.kind === 'user' && ctx.claimable === true;
  }
  if (p.kind === 'user' && p.admin) return true;
  // A robot account may do exactly what its token lists (checked above), inside its own organization.
  if (p.kind === 'user' && p.source === 'robot') {
    return resource.type === 'repository' && Boolean(p.limit) && REGISTRY_ACTIONS.has(action) && resource.name.startsWith(`${p.name.split('+')[0]}/`);
  }
  if (resource.type === 'registry') return p.kind === 'user' && resource.name === 'catalog' && action === '*';
  if (resource.type === 'system') {
    return p.kind === 'user' && resource.name === 'organizations' && action === 'create' && ctx?.kind === 'system' && ctx.usersCreateOrganizations;
  }
  if (resource.type === 'organization') {
    if (ctx?.kind !== 'organization' || !ctx.exists) return false;
    if (action === 'read' && ctx.public) return true;
    const need = ORG_NEEDS[action];
    return p.kind === 'user' && need !== undefined && rank(ctx.role) >= rank(need);
  }
  if (resource.type !== 'repository' || !ctx || ctx.kind === 'organization' || ctx.kind === 'system') return false;
  if (action === 'pull' && ctx.public) return true;
  if (p.kind === 'anonymous') return false;
  if (ctx.owner) return action in NEEDS;
  const need = NEEDS[action];
  return need !== undefined && rank(ctx.role) >= rank(need);
}

/** Whether a token's grant covers the action. */
export function granted(scopes: ResourceScope[] | undefined, resource: Resource, action: string): boolean {
  return (scopes ?? []).some((s) => s.type === resource.type && s.name === resource.name && (s.actions.includes(action) || s.actions.includes('*')));
}
