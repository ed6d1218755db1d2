// RubyGems version ordering (Gem::Version): the version is read as segments, runs of digits (numbers) or
// of letters (strings; '-' means ".pre."). Trailing zeros of the numeric part and of the part from the
// first string on are dropped; segments then compare pairwise, a missing one as 0, a string below any
// number, strings by bytes. So 1.0.a2 = 1.0.a.2 and 1.0.b1 < 1.0.
import { compareDigits, compareStrings, isAlphaCode, isDigitCode, type Ordering, type VersionComparator } from './comparator.js';

type Segment = { numeric: boolean; value: string };

function segments(input: string): Segment[] {
  const s = input.trim().replaceAll('-', '.pre.');
  const out: Segment[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const kind = isDigitCode(c) ? isDigitCode : isAlphaCode(c) ? isAlphaCode : undefined;
    if (!kind) {
      i++;
      continue;
    }
    const start = i;
    while (i < s.length && kind(s.charCodeAt(i))) i++;
    out.push({ numeric: kind === isDigitCode, value: s.slice(start, i) });
  }
  return canonical(out);
}

const isZero = (t: Segment): boolean => t.numeric && /^0+$/.test(t.value);

/** Gem::Version#canonical_segments: trailing zeros dropped from the numeric prefix and from the rest. */
function canonical(all: Segment[]): Segment[] {
  const firstString = all.findIndex((t) => !t.numeric);
  const numeric = firstString < 0 ? all : all.slice(0, firstString);
  const rest = firstString < 0 ? [] : all.slice(firstString);
  const drop = (xs: Segment[]): Segment[] => {
    let n = xs.length;
    while (n > 0 && isZero(xs[n - 1])) n--;
    return xs.slice(0, n);
  };
  return [...drop(numeric), ...drop(rest)];
}

const ZERO: Segment = { numeric: true, value: '0' };

function compare(a: string, b: string): Ordering {
  const x = segments(a);
  const y = segments(b);
  const n = Math.max(x.length, y.length);
  for (let k = 0; k < n; k++) {
    const l = x[k] ?? ZERO;
    const r = y[k] ?? ZERO;
    if (l.numeric && r.numeric) {
      const c = compareDigits(l.value, r.value);
      if (c !== 0) return c;
    } else if (l.numeric !== r.numeric) {
      return l.numeric ? 1 : -1;
    } else {
      const c = compareStrings(l.value, r.value);
      if (c !== 0) return c;
    }
  }
  return 0;
}

// Gem::Version::ANCHORED_VERSION_PATTERN, without backtracking: N(.[0-9A-Za-z]+)*(-[0-9A-Za-z-]+(.[0-9A-Za-z-]+)*)?
function valid(v: string): boolean {
  const s = v.trim();
  if (s === '') return true; // Gem::Version.new("") is version 0
  const dash = s.indexOf('-');
  const main = dash < 0 ? s : s.slice(0, dash);
  const parts = main.split('.');
  if (!/^[0-9]+$/.test(parts[0]) || !parts.slice(1).every((p) => /^[0-9A-Za-z]+$/.test(p))) return false;
  if (dash < 0) return true;
  return s.slice(dash + 1).split('.').every((p) => /^[0-9A-Za-z-]+$/.test(p));
}

export const rubygemsComparator: VersionComparator = { compare, valid };
