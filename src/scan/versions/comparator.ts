// The shape every version comparator of this folder has: a total order over one ecosystem's version strings.
export type Ordering = -1 | 0 | 1;

export interface VersionComparator {
  /** the ecosystem's ordering of a and b; never throws (unparsable input still gets a consistent place) */
  compare(a: string, b: string): Ordering;
  /** whether v is well-formed for the ecosystem (compare accepts more than this) */
  valid(v: string): boolean;
}

/** -1, 0 or 1 for any number (compare functions below return raw differences). */
export function sign(n: number): Ordering {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * Compares two runs of ASCII digits as unbounded non-negative integers: leading zeros are ignored and the
 * longer number wins. Versions carry numbers beyond 2^53 (dates, build stamps), so no parseInt.
 */
export function compareDigits(a: string, b: string): Ordering {
  let i = 0;
  let j = 0;
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++;
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) {
    // "" (no digits) counts as zero, like "0"
    const za = la === 0 || (la === 1 && a.charCodeAt(i) === 48);
    const zb = lb === 0 || (lb === 1 && b.charCodeAt(j) === 48);
    if (za && zb) return 0;
    return la < lb ? -1 : 1;
  }
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Plain code-unit order of two strings. */
export function compareStrings(a: string, b: string): Ordering {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;
export const isLowerCode = (c: number): boolean => c >= 97 && c <= 122;
export const isAlphaCode = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
