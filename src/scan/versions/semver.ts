// Semantic Versioning 2.0.0 precedence (semver.org §11), used for npm, Go modules, crates.io and OSV SEMVER
// ranges. Lenient where ecosystems are: a leading "v" (Go), missing minor/patch count as 0, build metadata
// (after '+', or a fourth and later numeric component) is ignored, and a tail that is neither is read as
// a pre-release ("1.0.0rc1" < "1.0.0").
import { compareDigits, compareStrings, isDigitCode, type Ordering, type VersionComparator } from './comparator.js';

interface SemVer { core: [string, string, string]; prerelease: string[] | undefined }

export function parseSemver(input: string): SemVer {
  const s = input.trim();
  let i = s.charCodeAt(0) === 118 || s.charCodeAt(0) === 86 ? 1 : 0; // v, V
  const core: [string, string, string] = ['0', '0', '0'];
  for (let k = 0; k < 3; k++) {
    if (k > 0) {
      if (s.charCodeAt(i) !== 46 || !isDigitCode(s.charCodeAt(i + 1))) break;
      i++;
    }
    const start = i;
    while (i < s.length && isDigitCode(s.charCodeAt(i))) i++;
    if (i === start) break;
    core[k] = s.slice(start, i);
  }
  // further ".N" components: build-like, ignored
  while (s.charCodeAt(i) === 46 && isDigitCode(s.charCodeAt(i + 1))) {
    i++;
    while (i < s.length && isDigitCode(s.charCodeAt(i))) i++;
  }
  const plus = s.indexOf('+', i);
  let tail = plus < 0 ? s.slice(i) : s.slice(i, plus);
  if (tail.length === 0) return { core, prerelease: undefined };
  if (tail.charCodeAt(0) === 45 /* - */) tail = tail.slice(1);
  return { core, prerelease: tail.split('.') };
}

const isNumericIdentifier = (id: string): boolean => id.length > 0 && /^[0-9]+$/.test(id);

/** §11.4: identifiers left to right; numeric ones by value and below alphanumeric ones; more of them wins. */
function comparePrerelease(a: string[], b: string[]): Ordering {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const x = a[k];
    const y = b[k];
    const nx = isNumericIdentifier(x);
    const ny = isNumericIdentifier(y);
    let r: Ordering;
    if (nx && ny) r = compareDigits(x, y);
    else if (nx) r = -1;
    else if (ny) r = 1;
    else r = compareStrings(x, y);
    if (r !== 0) return r;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function compare(a: string, b: string): Ordering {
  const x = parseSemver(a);
  const y = parseSemver(b);
  for (let k = 0; k < 3; k++) {
    const r = compareDigits(x.core[k], y.core[k]);
    if (r !== 0) return r;
  }
  if (x.prerelease === undefined || y.prerelease === undefined) {
    if (x.prerelease === y.prerelease) return 0;
    return x.prerelease === undefined ? 1 : -1;
  }
  return comparePrerelease(x.prerelease, y.prerelease);
}

// semver.org's grammar (no leading zeros in numbers), with an optional leading "v".
const NUM = '(?:0|[1-9][0-9]*)';
const PRE_ID = `(?:${NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const VALID = new RegExp(`^v?${NUM}\\.${NUM}\\.${NUM}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`);

function valid(v: string): boolean {
  return VALID.test(v);
}

export const semverComparator: VersionComparator = { compare, valid };
