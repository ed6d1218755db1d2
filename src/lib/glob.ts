// Repository name patterns: `*` matches within one path component, `**` across them. Matched by simulating
// the pattern's automaton over the name (a set of positions), so the cost is at most pattern × name steps
// whatever the pattern: a backtracking regular expression would be exponential in the number of wildcards.

export const GLOB_MAX_LENGTH = 255;
export const GLOB_MAX_WILDCARDS = 16;

const LITERAL = 0;
const STAR = 1;
const GLOBSTAR = 2;

/** Why a pattern is refused, or null when it may be stored. */
export function globProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'pattern is empty';
  if (pattern.length > GLOB_MAX_LENGTH) return `pattern is longer than ${GLOB_MAX_LENGTH} characters`;
  if (!/^[a-z0-9._\-/*]+$/.test(pattern)) return 'pattern may hold only lower-case letters, digits, . _ - / and *';
  const wildcards = compile(pattern).kinds.filter((k) => k !== LITERAL).length;
  if (wildcards > GLOB_MAX_WILDCARDS) return `pattern has more than ${GLOB_MAX_WILDCARDS} wildcards`;
  return null;
}

interface Compiled { kinds: number[]; chars: number[] }

function compile(pattern: string): Compiled {
  const kinds: number[] = [];
  const chars: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*') {
      kinds.push(LITERAL);
      chars.push(pattern.charCodeAt(i));
      continue;
    }
    let run = 1;
    while (pattern[i + run] === '*') run++;
    // A run of stars is one wildcard: `**` (or longer) crosses components, a single `*` does not.
    kinds.push(run >= 2 ? GLOBSTAR : STAR);
    chars.push(0);
    i += run - 1;
  }
  return { kinds, chars };
}

const SLASH = '/'.charCodeAt(0);

/**
 * Whether `name` matches `pattern`; patterns beyond the stored bounds never match. `work`, when given, counts
 * the automaton steps taken (at most (wildcards and literals + 1) × (name length + 1)).
 */
export function globMatch(pattern: string, name: string, work?: { steps: number }): boolean {
  if (pattern.length > GLOB_MAX_LENGTH * 2) return false;
  const { kinds, chars } = compile(pattern);
  const n = kinds.length;
  let current = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  // A wildcard may match nothing: reaching it also reaches what follows it.
  const close = (set: Uint8Array) => {
    for (let i = 0; i < n; i++) if (set[i] && kinds[i] !== LITERAL) set[i + 1] = 1;
  };
  current[0] = 1;
  close(current);
  for (let p = 0; p < name.length; p++) {
    const c = name.charCodeAt(p);
    next.fill(0);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (!current[i]) continue;
      if (work) work.steps++;
      const k = kinds[i];
      if (k === LITERAL) {
        if (chars[i] === c) { next[i + 1] = 1; any = true; }
      } else if (k === GLOBSTAR || c !== SLASH) {
        next[i] = 1;
        any = true;
      }
    }
    if (!any) return false;
    close(next);
    [current, next] = [next, current];
  }
  return current[n] === 1;
}

/** Whether `list` names `item` or holds the wildcard `*` (action lists: `pull,push`, or `*` for every action). */
export function listMatch(list: readonly string[], item: string): boolean {
  return list.includes(item) || list.includes('*');
}

/** Whether `name` lies below the path `prefix` (`acme/app` below `acme`; `acme` itself and `acmecorp/app` do not). */
export function underPath(prefix: string, name: string): boolean {
  return name.startsWith(`${prefix}/`);
}

/**
 * The names below the path `prefix` as a half-open range [from, to) in byte order, for range queries: '0'
 * follows '/' in byte order, so the range holds exactly the names that start with `prefix/`.
 */
export function underPathRange(prefix: string): { from: string; to: string } {
  return { from: `${prefix}/`, to: `${prefix}0` };
}
