// RPM version ordering (Red Hat, AlmaLinux, Rocky Linux, openSUSE, …): [epoch:]version[-release], each part
// compared with rpmvercmp. As rpm 4.18's own EVR comparison does, a missing epoch is 0 and a version with a
// release sorts after the same version without one.
import { compareDigits, isAlphaCode, isDigitCode, type Ordering, type VersionComparator } from './comparator.js';

interface Evr { epoch: string; version: string; release: string | undefined }

function parse(v: string): Evr {
  let i = 0;
  while (i < v.length && isDigitCode(v.charCodeAt(i))) i++;
  let epoch = '0';
  let rest = v;
  // rpm's rule: the epoch is the run of digits before the first ':' at the start; "a:1" has none
  if (v.charCodeAt(i) === 58) {
    epoch = v.slice(0, i) || '0';
    rest = v.slice(i + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return { epoch, version: rest, release: undefined };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

const TILDE = 126;
const CARET = 94;
const isAlnum = (c: number): boolean => isDigitCode(c) || isAlphaCode(c);

/**
 * rpmvercmp: segments of digits or of letters, everything else separates. '~' sorts before anything (even
 * the end: 1.0~rc1 < 1.0); '^' sorts after the end but before any further segment (1.0 < 1.0^git1 < 1.0.1).
 * A numeric segment is newer than an alphabetic one.
 */
export function rpmvercmp(a: string, b: string): Ordering {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a.charCodeAt(i)) && a.charCodeAt(i) !== TILDE && a.charCodeAt(i) !== CARET) i++;
    while (j < b.length && !isAlnum(b.charCodeAt(j)) && b.charCodeAt(j) !== TILDE && b.charCodeAt(j) !== CARET) j++;
    const ca = i < a.length ? a.charCodeAt(i) : -1;
    const cb = j < b.length ? b.charCodeAt(j) : -1;
    if (ca === TILDE || cb === TILDE) {
      if (ca !== TILDE) return 1;
      if (cb !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === CARET || cb === CARET) {
      if (ca === -1) return -1;
      if (cb === -1) return 1;
      if (ca !== CARET) return 1;
      if (cb !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === -1 || cb === -1) break;
    const numeric = isDigitCode(ca);
    const inSegment = numeric ? isDigitCode : isAlphaCode;
    let ei = i;
    let ej = j;
    while (ei < a.length && inSegment(a.charCodeAt(ei))) ei++;
    while (ej < b.length && inSegment(b.charCodeAt(ej))) ej++;
    // b's segment is of the other kind: numbers are newer than letters
    if (ej === j) return numeric ? 1 : -1;
    const sa = a.slice(i, ei);
    const sb = b.slice(j, ej);
    const r = numeric ? compareDigits(sa, sb) : sa < sb ? -1 : sa > sb ? 1 : 0;
    if (r !== 0) return r;
    i = ei;
    j = ej;
  }
  const endA = i >= a.length;
  const endB = j >= b.length;
  if (endA && endB) return 0;
  return endA ? -1 : 1;
}

function compare(a: string, b: string): Ordering {
  const x = parse(a);
  const y = parse(b);
  const r = rpmvercmp(x.epoch, y.epoch) || rpmvercmp(x.version, y.version);
  if (r !== 0) return r;
  if (x.release === undefined || y.release === undefined) {
    if (x.release === y.release) return 0;
    return x.release === undefined ? -1 : 1;
  }
  return rpmvercmp(x.release, y.release);
}

// rpm itself only forbids '-' in version and release; a usable EVR has a non-empty version.
function valid(v: string): boolean {
  if (v.length === 0 || /\s/.test(v)) return false;
  const evr = parse(v);
  return evr.version.length > 0 && evr.release !== '' && !/[^\x21-\x7e]/.test(v);
}

export const rpmComparator: VersionComparator = { compare, valid };
