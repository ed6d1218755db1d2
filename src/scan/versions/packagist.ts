// Packagist (Composer) version ordering: PHP's version_compare() after a leading "v" is dropped.
// The version is canonicalized ('-', '_', '+' and other punctuation become '.', and '.' is put between
// digits and letters), then compared segment by segment: numbers by value, words by their special form
// (dev < alpha = a < beta = b < RC = rc < # < pl = p; an unknown word is below dev; a number counts as
// '#'). When one side has segments left, a number there makes it newer, a word is compared with '#'.
import { compareDigits, isAlphaCode, isDigitCode, type Ordering, type VersionComparator } from './comparator.js';

const isAlnum = (c: number): boolean => isDigitCode(c) || isAlphaCode(c);

/** php_canonicalize_version: '#' survives (it is a special form), other punctuation is a separator. */
function canonicalize(v: string): string {
  if (v.length === 0) return v;
  const out: string[] = [v[0]];
  let prevDot = v.charCodeAt(0) === 46; // whether the output ends in '.'
  let last = v.charCodeAt(0);
  const dot = (): void => {
    if (!prevDot) out.push('.');
    prevDot = true;
  };
  for (let i = 1; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const lastDigit = isDigitCode(last);
    const lastWord = !lastDigit && last !== 46;
    if (c === 45 || c === 95 || c === 43 /* - _ + */) {
      dot();
    } else if ((lastWord && isDigitCode(c)) || (lastDigit && !isDigitCode(c) && c !== 46)) {
      dot();
      out.push(v[i]);
      prevDot = false;
    } else if (!isAlnum(c) && c !== 35 /* # */) {
      dot();
    } else {
      out.push(v[i]);
      prevDot = c === 46;
    }
    last = c;
  }
  return out.join('');
}

const SPECIAL: [string, number][] = [['dev', 0], ['alpha', 1], ['a', 1], ['beta', 2], ['b', 2], ['RC', 3], ['rc', 3], ['#', 4], ['pl', 5], ['p', 5]];
const NUMBER_FORM = 4; // a number against a word counts as '#'

/** The special form a word starts with (PHP matches prefixes, case-sensitively), -1 for none. */
function specialForm(word: string): number {
  for (const [name, order] of SPECIAL) if (word.startsWith(name)) return order;
  return -1;
}

const sgn = (n: number): Ordering => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareSegments(a: string, b: string): Ordering {
  const da = isDigitCode(a.charCodeAt(0));
  const db = isDigitCode(b.charCodeAt(0));
  if (da && db) return compareDigits(/^[0-9]*/.exec(a)![0], /^[0-9]*/.exec(b)![0]);
  return sgn((da ? NUMBER_FORM : specialForm(a)) - (db ? NUMBER_FORM : specialForm(b)));
}

/** How the rest of a version that has more segments compares with nothing: a number wins; words vs '#'. */
function compareRest(rest: string): Ordering {
  let i = 0;
  for (;;) {
    if (i >= rest.length) return -1;
    if (isDigitCode(rest.charCodeAt(i))) return 1;
    const dot = rest.indexOf('.', i);
    const r = sgn(specialForm(rest.slice(i, dot < 0 ? rest.length : dot)) - NUMBER_FORM);
    if (r !== 0 || dot < 0) return r;
    i = dot + 1;
  }
}

function phpVersionCompare(x: string, y: string): Ordering {
  if (x === '' || y === '') return x === y ? 0 : x === '' ? -1 : 1;
  const a = x.startsWith('#') ? x : canonicalize(x);
  const b = y.startsWith('#') ? y : canonicalize(y);
  let i = 0;
  let j = 0;
  let moreA = true; // a '.' followed the segment just compared
  let moreB = true;
  while (i < a.length && j < b.length && moreA && moreB) {
    const ea = a.indexOf('.', i);
    const eb = b.indexOf('.', j);
    const r = compareSegments(a.slice(i, ea < 0 ? a.length : ea), b.slice(j, eb < 0 ? b.length : eb));
    if (r !== 0) return r;
    moreA = ea >= 0;
    moreB = eb >= 0;
    if (moreA) i = ea + 1;
    if (moreB) j = eb + 1;
  }
  // as PHP: the first version's leftover is looked at first
  if (moreA) return compareRest(a.slice(i));
  if (moreB) return (-compareRest(b.slice(j)) || 0) as Ordering;
  return 0;
}

const stripV = (v: string): string => v.trim().replace(/^[vV]+/, '');

function compare(a: string, b: string): Ordering {
  const x = stripV(a);
  const y = stripV(b);
  // PHP gives "1." < "1." (it looks at the first leftover only); an order must not
  return x === y ? 0 : phpVersionCompare(x, y);
}

// Composer's accepted forms, loosely: a number first, then numbers, words and separators.
function valid(v: string): boolean {
  return /^[vV]?[0-9][0-9A-Za-z.+_-]*$/.test(v.trim()) || /^dev-[0-9A-Za-z._/-]+$/.test(v.trim());
}

export const packagistComparator: VersionComparator = { compare, valid };
