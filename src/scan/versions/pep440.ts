// PyPI version ordering, PEP 440: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], with the spellings PEP 440
// normalizes (alpha, beta, c, pre, preview; rev, r, "-N"; optional separators; a leading "v"; any case).
// Strings that are not PEP 440 are "legacy" versions and order before every PEP 440 version, by
// setuptools' old key (as packaging < 22 did), so old advisories and sdists still get a place.
import { compareDigits, compareStrings, isDigitCode, isLowerCode, type Ordering, type VersionComparator } from './comparator.js';

export interface Pep440Version {
  epoch: string;
  /** release numbers, trailing zeros removed (1.0 == 1) */
  release: string[];
  pre: { rank: number; n: string } | undefined;
  post: string | undefined;
  dev: string | undefined;
  local: string[] | undefined;
}

const PRE_SPELLINGS: [string, number][] = [
  ['preview', 2], ['alpha', 0], ['beta', 1], ['pre', 2], ['rc', 2], ['a', 0], ['b', 1], ['c', 2],
];
const POST_SPELLINGS = ['post', 'rev', 'r'];

class Reader {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean { return this.i >= this.s.length; }
  peek(k = 0): number { return this.s.charCodeAt(this.i + k); }
  isSep(k = 0): boolean { const c = this.peek(k); return c === 45 || c === 95 || c === 46; }
  digits(): string {
    const start = this.i;
    while (this.i < this.s.length && isDigitCode(this.s.charCodeAt(this.i))) this.i++;
    return this.s.slice(start, this.i);
  }
  /** the longest of `words` at the current position (no word is a viable prefix of a longer match) */
  word(words: readonly string[]): string | undefined {
    let best: string | undefined;
    for (const w of words) if (this.s.startsWith(w, this.i) && (best === undefined || w.length > best.length)) best = w;
    return best;
  }
  /** [-_.]?WORD[-_.]?N? where WORD is one of words; returns [word, number] or undefined (position kept) */
  lettered(words: readonly string[]): [string, string] | undefined {
    const save = this.i;
    if (this.isSep()) this.i++;
    const w = this.word(words);
    if (w === undefined) {
      this.i = save;
      return undefined;
    }
    this.i += w.length;
    if (this.isSep()) this.i++;
    return [w, this.digits() || '0'];
  }
}

/** Parses a PEP 440 version, or undefined when the string is not one. Linear: no backtracking. */
export function parsePep440(input: string): Pep440Version | undefined {
  const r = new Reader(input.trim().toLowerCase());
  if (r.peek() === 118 /* v */) r.i++;
  let epoch = '0';
  let first = r.digits();
  if (first.length === 0) return undefined;
  if (r.peek() === 33 /* ! */) {
    epoch = first;
    r.i++;
    first = r.digits();
    if (first.length === 0) return undefined;
  }
  const release = [first];
  while (r.peek() === 46 && isDigitCode(r.peek(1))) {
    r.i++;
    release.push(r.digits());
  }
  while (release.length > 1 && /^0+$/.test(release[release.length - 1])) release.pop();
  if (release.length === 1 && /^0+$/.test(release[0])) release[0] = '0';

  let pre: Pep440Version['pre'];
  const p = r.lettered(PRE_SPELLINGS.map(([w]) => w));
  if (p) pre = { rank: PRE_SPELLINGS.find(([w]) => w === p[0])![1], n: p[1] };

  let post: string | undefined;
  if (r.peek() === 45 && isDigitCode(r.peek(1))) {
    r.i++;
    post = r.digits();
  } else {
    const q = r.lettered(POST_SPELLINGS);
    if (q) post = q[1];
  }

  let dev: string | undefined;
  const d = r.lettered(['dev']);
  if (d) dev = d[1];

  let local: string[] | undefined;
  if (r.peek() === 43 /* + */) {
    r.i++;
    local = [];
    for (;;) {
      const start = r.i;
      while (!r.done && (isDigitCode(r.peek()) || isLowerCode(r.peek()))) r.i++;
      if (r.i === start) return undefined;
      local.push(r.s.slice(start, r.i));
      if (r.done) break;
      if (!r.isSep()) return undefined;
      r.i++;
    }
  }
  if (!r.done) return undefined;
  return { epoch, release, pre, post, dev, local };
}

const cmpOptional = (a: string | undefined, b: string | undefined, missingFirst: boolean): Ordering => {
  if (a === undefined || b === undefined) {
    if (a === b) return 0;
    return (a === undefined) === missingFirst ? -1 : 1;
  }
  return compareDigits(a, b);
};

function comparePep440(x: Pep440Version, y: Pep440Version): Ordering {
  let r = compareDigits(x.epoch, y.epoch);
  if (r !== 0) return r;
  const n = Math.max(x.release.length, y.release.length);
  for (let k = 0; k < n; k++) {
    r = compareDigits(x.release[k] ?? '0', y.release[k] ?? '0');
    if (r !== 0) return r;
  }
  // A dev release of a final (1.0.dev1) sorts before its pre-releases; a final after them.
  const preKey = (v: Pep440Version): number => (v.pre ? 1 : v.post === undefined && v.dev !== undefined ? 0 : 2);
  r = (Math.sign(preKey(x) - preKey(y)) as Ordering);
  if (r !== 0) return r;
  if (x.pre && y.pre) {
    r = (Math.sign(x.pre.rank - y.pre.rank) as Ordering) || compareDigits(x.pre.n, y.pre.n);
    if (r !== 0) return r;
  }
  r = cmpOptional(x.post, y.post, true) || cmpOptional(x.dev, y.dev, false);
  if (r !== 0) return r;
  return compareLocal(x.local, y.local);
}

/** Local labels: absent first; then segment by segment, numbers above strings; a longer one wins. */
function compareLocal(a: string[] | undefined, b: string[] | undefined): Ordering {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const na = /^[0-9]+$/.test(a[k]);
    const nb = /^[0-9]+$/.test(b[k]);
    const r = na && nb ? compareDigits(a[k], b[k]) : na ? 1 : nb ? -1 : compareStrings(a[k], b[k]);
    if (r !== 0) return r;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

// setuptools' pre-PEP 440 key (packaging.version.LegacyVersion): digit runs zero-padded to 8, words
// prefixed with '*', some words renamed, "-" kept as "*final-", and a closing "*final".
const LEGACY_RENAME: Record<string, string> = { pre: 'c', preview: 'c', '-': 'final-', rc: 'c', dev: '@' };

function legacyKey(input: string): string[] {
  const s = input.toLowerCase();
  const parts: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    let j = i + 1;
    if (isDigitCode(c)) while (j < s.length && isDigitCode(s.charCodeAt(j))) j++;
    else if (isLowerCode(c)) while (j < s.length && isLowerCode(s.charCodeAt(j))) j++;
    else if (c !== 46 && c !== 45) {
      while (j < s.length) {
        const d = s.charCodeAt(j);
        if (isDigitCode(d) || isLowerCode(d) || d === 46 || d === 45) break;
        j++;
      }
    }
    const raw = s.slice(i, j);
    i = j;
    const part = LEGACY_RENAME[raw] ?? raw;
    if (part === '.') continue;
    if (isDigitCode(part.charCodeAt(0))) {
      parts.push(part.padStart(8, '0'));
      continue;
    }
    const word = '*' + part;
    if (word < '*final') while (parts.length > 0 && parts[parts.length - 1] === '*final-') parts.pop();
    while (parts.length > 0 && parts[parts.length - 1] === '00000000') parts.pop();
    parts.push(word);
  }
  while (parts.length > 0 && parts[parts.length - 1] === '00000000') parts.pop();
  parts.push('*final');
  return parts;
}

function compareLegacy(a: string[], b: string[]): Ordering {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const r = compareStrings(a[k], b[k]);
    if (r !== 0) return r;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function compare(a: string, b: string): Ordering {
  const x = parsePep440(a);
  const y = parsePep440(b);
  if (x && y) return comparePep440(x, y);
  if (x) return 1;
  if (y) return -1;
  return compareLegacy(legacyKey(a), legacyKey(b));
}

function valid(v: string): boolean {
  return parsePep440(v) !== undefined;
}

export const pep440Comparator: VersionComparator = { compare, valid };
