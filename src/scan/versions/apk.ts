// Alpine (apk-tools) version ordering: digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r#}.
// Read as a sequence of typed tokens (apk-tools' own model); the first token pair that differs in type or
// value decides. When one version runs out first, the one that goes on is newer, unless it goes on with a
// pre-release suffix (_alpha, _beta, _pre, _rc).
//
// Versions outside that grammar exist in Alpine's history and in advisories, so the reading is lenient
// the way apk-tools 2.x was: a letter may be followed by digits (6.6.2p1), a '.' may have no digits after
// it (0..8, 0.8.21.r2: an empty component), and "-r" without digits is revision 0. An empty component or a
// garbage tail (uppercase, unknown suffix, "-ruff") makes a version older than one that ends or goes on
// properly there (apk-tools 3 ranks its invalid token last).
import { compareDigits, compareStrings, isDigitCode, isLowerCode, type Ordering, type VersionComparator } from './comparator.js';

// The order of these is the semantics: a token may only follow tokens of a lower kind, and at the end the
// version whose next token kind is higher is the older one.
const INITIAL_DIGIT = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const COMMIT_HASH = 5;
const REVISION_NO = 6;
const END = 7;
const EMPTY = 8; // a '.' (or the start) without digits: read as a component, ranked as malformed
const INVALID = 9;

// Suffix ranks: pre-release ones below NONE, post-release ones above.
const SUFFIX_NONE = 5;
const SUFFIXES: Record<string, number> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 };

const isHex = (c: number): boolean => isDigitCode(c) || (c >= 97 && c <= 102);

class Tokens {
  token = INITIAL_DIGIT;
  value = '';
  suffix = 0;
  /** false once a leniency was needed: the version is outside apk's grammar */
  strict = true;
  private pos = 0;

  constructor(private readonly s: string) {
    this.digits(EMPTY);
  }

  /** A run of digits; none at all makes the token `none` (EMPTY for components, INVALID otherwise). */
  private digits(none: number): void {
    const start = this.pos;
    while (this.pos < this.s.length && isDigitCode(this.s.charCodeAt(this.pos))) this.pos++;
    this.value = this.s.slice(start, this.pos);
    if (this.value.length === 0) {
      this.token = none;
      this.strict = false;
    }
  }

  private run(test: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.s.length && test(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  next(): void {
    if (this.pos >= this.s.length) {
      this.token = END;
      return;
    }
    const c = this.s.charCodeAt(this.pos);
    // an empty component may be followed by whatever may follow a component
    const state = this.token === EMPTY ? DIGIT : this.token;
    if (isLowerCode(c)) {
      if (state > DIGIT) return this.invalid();
      this.value = this.s[this.pos++];
      this.token = LETTER;
    } else if (c === 46 /* . */) {
      if (state > DIGIT) return this.invalid();
      this.pos++;
      this.token = DIGIT;
      this.digits(EMPTY);
    } else if (isDigitCode(c)) {
      // digits right after digits cannot happen (runs are read whole); after a letter they are apk 2's
      // "letter then number" (1.0p1), read as a further component
      if (state === LETTER) {
        this.token = DIGIT;
        this.strict = false;
      } else if (state === SUFFIX) {
        this.token = SUFFIX_NO;
      } else {
        return this.invalid();
      }
      this.digits(INVALID);
    } else if (c === 95 /* _ */) {
      if (state > SUFFIX_NO) return this.invalid();
      this.pos++;
      this.value = this.run(isLowerCode);
      this.suffix = SUFFIXES[this.value] ?? 0;
      if (this.suffix === 0) return this.invalid();
      this.token = SUFFIX;
    } else if (c === 126 /* ~ */) {
      if (state >= COMMIT_HASH) return this.invalid();
      this.pos++;
      this.value = this.run(isHex);
      if (this.value.length === 0) return this.invalid();
      this.token = COMMIT_HASH;
    } else if (c === 45 /* - */) {
      if (state >= REVISION_NO || this.s.charCodeAt(this.pos + 1) !== 114 /* r */) return this.invalid();
      // "-r" and a letter is no revision at all ("-ruff"); "-r" alone (or before other garbage) is r0
      if (isLowerCode(this.s.charCodeAt(this.pos + 2))) return this.invalid();
      this.pos += 2;
      this.token = REVISION_NO;
      this.digits(REVISION_NO);
    } else {
      this.invalid();
    }
  }

  private invalid(): void {
    this.token = INVALID;
    this.strict = false;
  }
}

function compareTokens(a: Tokens, b: Tokens): Ordering {
  switch (a.token) {
    case DIGIT:
      // a leading zero makes the component a fraction (Gentoo's rule): compared as a string
      if (a.value.charCodeAt(0) === 48 || b.value.charCodeAt(0) === 48) return compareStrings(a.value, b.value);
      return compareDigits(a.value, b.value);
    case INITIAL_DIGIT:
    case SUFFIX_NO:
    case REVISION_NO:
      return compareDigits(a.value, b.value);
    case LETTER:
      return compareStrings(a.value, b.value);
    case SUFFIX:
      return a.suffix < b.suffix ? -1 : a.suffix > b.suffix ? 1 : 0;
    default:
      return compareStrings(a.value, b.value);
  }
}

function compare(x: string, y: string): Ordering {
  const a = new Tokens(x);
  const b = new Tokens(y);
  while (a.token === b.token && a.token !== END && a.token !== INVALID) {
    const r = compareTokens(a, b);
    if (r !== 0) return r;
    a.next();
    b.next();
  }
  if (a.token === b.token) return 0;
  if (a.token === SUFFIX && a.suffix < SUFFIX_NONE) return -1;
  if (b.token === SUFFIX && b.suffix < SUFFIX_NONE) return 1;
  return a.token > b.token ? -1 : 1;
}

function valid(v: string): boolean {
  const t = new Tokens(v);
  while (t.token !== END && t.token !== INVALID) t.next();
  return t.token === END && t.strict;
}

export const apkComparator: VersionComparator = { compare, valid };
