// Debian/Ubuntu version ordering, Debian Policy 5.6.12: [epoch:]upstream_version[-debian_revision].
// Epochs compare as numbers; upstream and revision with dpkg's verrevcmp: alternating non-digit runs
// (compared char by char with '~' before everything, even the end, and letters before non-letters) and
// digit runs (compared as numbers).
import { compareDigits, isAlphaCode, isDigitCode, sign, type Ordering, type VersionComparator } from './comparator.js';

interface DpkgVersion { epoch: string; upstream: Uint8Array; revision: Uint8Array }

const utf8 = new TextEncoder();

function parse(v: string): DpkgVersion {
  const s = v.trim();
  let epoch = '0';
  let rest = s;
  const colon = s.indexOf(':');
  // Only a numeric prefix is an epoch; dpkg refuses anything else, here it simply stays in the version.
  if (colon >= 0 && /^[0-9]*$/.test(s.slice(0, colon))) {
    epoch = s.slice(0, colon) || '0';
    rest = s.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  // bytes, as dpkg compares them (non-ASCII sorts after ASCII)
  if (dash < 0) return { epoch, upstream: utf8.encode(rest), revision: new Uint8Array(0) };
  return { epoch, upstream: utf8.encode(rest.slice(0, dash)), revision: utf8.encode(rest.slice(dash + 1)) };
}

/** dpkg's order of one non-digit character; 0 stands for the end of the string (and digits). */
function order(s: Uint8Array, i: number): number {
  if (i >= s.length) return 0;
  const c = s[i];
  if (isDigitCode(c)) return 0;
  if (isAlphaCode(c)) return c;
  if (c === 0x7e) return -1; // '~'
  return c + 256;
}

function verrevcmp(a: Uint8Array, b: Uint8Array): Ordering {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix: both sides advance together; a digit or the end orders as 0.
    while ((i < a.length && !isDigitCode(a[i])) || (j < b.length && !isDigitCode(b[j]))) {
      const d = order(a, i) - order(b, j);
      if (d !== 0) return sign(d);
      i++;
      j++;
    }
    while (i < a.length && a[i] === 0x30) i++;
    while (j < b.length && b[j] === 0x30) j++;
    let firstDiff = 0;
    while (i < a.length && isDigitCode(a[i]) && j < b.length && isDigitCode(b[j])) {
      if (firstDiff === 0) firstDiff = a[i] - b[j];
      i++;
      j++;
    }
    if (i < a.length && isDigitCode(a[i])) return 1;
    if (j < b.length && isDigitCode(b[j])) return -1;
    if (firstDiff !== 0) return sign(firstDiff);
  }
  return 0;
}

function compare(a: string, b: string): Ordering {
  const x = parse(a);
  const y = parse(b);
  return compareDigits(x.epoch, y.epoch) || verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}

// Policy 5.6.12: upstream starts with a digit and may hold [A-Za-z0-9.+~] (and '-' only when a revision
// follows, ':' only after an epoch); the revision holds [A-Za-z0-9+.~].
const VALID = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$/;

function valid(v: string): boolean {
  if (!VALID.test(v)) return false;
  const colon = v.indexOf(':');
  const hasEpoch = colon >= 0 && /^[0-9]+$/.test(v.slice(0, colon));
  const rest = hasEpoch ? v.slice(colon + 1) : v;
  if (!hasEpoch && rest.includes(':')) return false;
  if (rest.length === 0 || !isDigitCode(rest.charCodeAt(0))) return false;
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return true;
  const revision = rest.slice(dash + 1);
  return dash > 0 && revision.length > 0 && /^[A-Za-z0-9+.~]+$/.test(revision);
}

export const dpkgComparator: VersionComparator = { compare, valid };
