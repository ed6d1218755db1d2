// Maven version ordering (maven.apache.org "Version Order Specification", ComparableVersion).
// A version is split into tokens at '.', '-' and digit/letter transitions (a transition counts as '-'), each
// token remembering the separator before it; empty tokens are 0. Trailing "null" tokens (0, "", final, ga,
// release) are dropped at the end and before every '-'. Versions then compare token by token, the shorter
// padded with nulls:
// - same separator and kind: numbers by value; qualifiers alpha < beta < milestone < rc = cr < snapshot <
//   "" = final = ga = release < sp < any other (alphabetically); a, b, m right before a digit mean alpha,
//   beta, milestone;
// - otherwise .qualifier < -qualifier < -number < .number.
import { compareDigits, compareStrings, isDigitCode, type Ordering, type VersionComparator } from './comparator.js';

interface Token { dot: boolean; numeric: boolean; value: string }

const KNOWN = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const RELEASE = KNOWN.indexOf('');
const ALIASES: Record<string, string> = { ga: '', final: '', release: '', cr: 'rc' };
const SHORT: Record<string, string> = { a: 'alpha', b: 'beta', m: 'milestone' };

function tokenize(input: string): Token[] {
  const s = input.toLowerCase();
  const tokens: Token[] = [];
  let dot = true;
  let start = 0;
  const push = (end: number, nextIsDigit: boolean): void => {
    const raw = s.slice(start, end);
    if (raw.length === 0) {
      tokens.push({ dot, numeric: true, value: '0' });
      return;
    }
    if (isDigitCode(raw.charCodeAt(0))) {
      tokens.push({ dot, numeric: true, value: raw });
      return;
    }
    const word = (nextIsDigit ? SHORT[raw] : undefined) ?? raw;
    tokens.push({ dot, numeric: false, value: ALIASES[word] ?? word });
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 || c === 45) {
      push(i, false);
      dot = c === 46;
      start = i + 1;
    } else if (i > start && isDigitCode(c) !== isDigitCode(s.charCodeAt(i - 1))) {
      push(i, isDigitCode(c));
      dot = false;
      start = i;
    }
  }
  push(s.length, false);
  return trim(tokens);
}

const isNull = (t: Token): boolean => (t.numeric ? /^0+$/.test(t.value) : t.value === '');

/** Drops null tokens at the end and right before each '-' token, from the end backwards. */
function trim(tokens: Token[]): Token[] {
  const out: Token[] = [];
  let dropping = true; // at the end, or just before a '-' token
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i];
    if (dropping && isNull(t)) continue;
    out.push(t);
    dropping = !t.dot;
  }
  return out.reverse();
}

function qualifierRank(q: string): number {
  const k = KNOWN.indexOf(q);
  return k < 0 ? KNOWN.length : k;
}

function compareQualifiers(a: string, b: string): Ordering {
  const ra = qualifierRank(a);
  const rb = qualifierRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  return ra === KNOWN.length ? compareStrings(a, b) : 0;
}

/** How a token compares with padding (a null of its own kind). */
function compareWithNull(t: Token): Ordering {
  if (t.numeric) return isNull(t) ? 0 : 1;
  const r = qualifierRank(t.value);
  return r < RELEASE ? -1 : r > RELEASE ? 1 : 0;
}

// .qualifier < -qualifier < -number < .number
const kindRank = (t: Token): number => (t.numeric ? (t.dot ? 3 : 2) : t.dot ? 0 : 1);

function compareTokens(a: Token, b: Token): Ordering {
  if (a.dot === b.dot && a.numeric === b.numeric) {
    return a.numeric ? compareDigits(a.value, b.value) : compareQualifiers(a.value, b.value);
  }
  return kindRank(a) < kindRank(b) ? -1 : 1;
}

function compare(x: string, y: string): Ordering {
  const a = tokenize(x);
  const b = tokenize(y);
  const n = Math.max(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const r = k >= a.length ? -compareWithNull(b[k]) as Ordering : k >= b.length ? compareWithNull(a[k]) : compareTokens(a[k], b[k]);
    if (r !== 0) return r;
  }
  return 0;
}

// Maven accepts any string; a usable one is non-empty and has no whitespace.
function valid(v: string): boolean {
  return v.length > 0 && !/\s/.test(v);
}

export const mavenComparator: VersionComparator = { compare, valid };
