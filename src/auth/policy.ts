// The one authorization decision: may this principal do this action on this resource? Every /v2 route
// and the token service ask here. Roles for organizations, teams and repositories extend this function.
import { namespaceOf } from '../oci/reference.js';
import { matchesPattern } from './access-tokens.js';
import type { Principal } from './principal.js';
import type { ResourceScope } from './scope.js';

export type RepositoryAction = 'pull' | 'push' | 'delete';

export interface Resource { type: 'repository' | 'registry'; name: string }

export function allowed(p: Principal, resource: Resource, action: string): boolean {
  if (p.kind === 'anonymous') return false;
  // An access token never allows more than its own limits, whatever its user may do.
  if (p.limit && resource.type === 'repository' &&
    !p.limit.some((l) => matchesPattern(l.pattern, resource.name) && (l.actions.includes(action) || l.actions.includes('*')))) return false;
  if (p.admin) return true;
  if (resource.type === 'registry') return resource.name === 'catalog' && action === '*';
  // A user's personal namespace is theirs: the first path component equal to the user name.
  if (resource.type === 'repository') return namespaceOf(resource.name) === p.name && ['pull', 'push', 'delete'].includes(action);
  return false;
}

/** The intersection of what was asked and what is allowed (asking for more is trimmed, not refused). */
export function grant(p: Principal, requested: ResourceScope[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const r of requested) {
    if (r.type !== 'repository' && r.type !== 'registry') continue;
    const actions = r.actions.filter((a) => allowed(p, { type: r.type as Resource['type'], name: r.name }, a));
    if (actions.length > 0) out.push({ ...r, actions });
  }
  return out;
}

/** Whether a token's grant covers the action. */
export function granted(scopes: ResourceScope[] | undefined, resource: Resource, action: string): boolean {
  return (scopes ?? []).some((s) => s.type === resource.type && s.name === resource.name && (s.actions.includes(action) || s.actions.includes('*')));
}

/** Repository names the principal may see in the catalog: null for all. */
export function catalogFilter(p: Principal): { namespace: string } | null | 'none' {
  if (p.kind === 'anonymous') return 'none';
  return p.admin ? null : { namespace: p.name };
}
