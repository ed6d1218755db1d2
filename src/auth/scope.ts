// Docker token scopes (distribution docs spec/auth/scope.md):
//   scope := resourcescope [' ' resourcescope]*
//   resourcescope := resourcetype ':' resourcename ':' action [',' action]*
// A resource name may itself hold ':' (a registry host with a port), so the type ends at the first
// colon and the actions start after the last one.

export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

const TYPE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION = /^[a-z*]*$/;

/** Parses every `scope` value a request carried; malformed entries are dropped (they grant nothing). */
export function parseScopes(values: string[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const value of values) {
    for (const part of value.split(' ')) {
      const s = parseResourceScope(part);
      if (s) out.push(s);
    }
  }
  return mergeScopes(out);
}

export function parseResourceScope(text: string): ResourceScope | null {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first || last === text.length) return null;
  const rawType = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',').filter(Boolean);
  if (!TYPE.test(rawType) || name.length === 0 || name.length > 512) return null;
  if (actions.length === 0 || !actions.every((a) => ACTION.test(a))) return null;
  // The resource class suffix, "repository(plugin)", is deprecated; the type is what precedes it.
  const type = rawType.replace(/\(.*\)$/, '');
  return { type, name, actions: [...new Set(actions)].sort() };
}

/** One entry per (type, name), with the union of actions, in a stable order. */
export function mergeScopes(scopes: ResourceScope[]): ResourceScope[] {
  const byKey = new Map<string, ResourceScope>();
  for (const s of scopes) {
    const key = `${s.type}\u0000${s.name}`;
    const prev = byKey.get(key);
    byKey.set(key, prev ? { ...prev, actions: [...new Set([...prev.actions, ...s.actions])].sort() } : s);
  }
  return [...byKey.values()].sort((a, b) => (a.type + a.name < b.type + b.name ? -1 : 1));
}

export function formatScope(s: ResourceScope): string {
  return `${s.type}:${s.name}:${s.actions.join(',')}`;
}
