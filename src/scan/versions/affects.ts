// Whether an OSV `affected` entry covers a version: the evaluation of ossf/osv-schema docs/schema.md.
// A version is affected when it is listed in `versions`, or when one SEMVER or ECOSYSTEM range has it
// below one of its limits (if any) and, walking the range's events in version order, the last event at or
// below it is an introduction ("introduced" at or below, not followed by a "fixed" at or below or a
// "last_affected" below it). GIT ranges need the repository's commit graph and are skipped.
import type { Ordering, VersionComparator } from './comparator.js';
import { comparatorFor } from './ecosystems.js';
import { goToolchainSemver } from './go-version.js';
import type { OsvAffected, OsvEvent, OsvRange } from './osv.js';
import { semverComparator } from './semver.js';

export type Compare = (a: string, b: string) => Ordering;

/** The version an event names, and what it does. */
type Timeline = { kind: 'introduced' | 'fixed' | 'last_affected'; version: string }[];

function timeline(events: OsvEvent[]): Timeline {
  const out: Timeline = [];
  for (const e of events) {
    if (e.introduced !== undefined) out.push({ kind: 'introduced', version: e.introduced });
    else if (e.fixed !== undefined) out.push({ kind: 'fixed', version: e.fixed });
    else if (e.last_affected !== undefined) out.push({ kind: 'last_affected', version: e.last_affected });
  }
  return out;
}

/** The schema's sorted(range.events): "0" before everything; ties keep the record's order (stable sort). */
function sortEvents(events: Timeline, compare: Compare): Timeline {
  const isZero = (e: Timeline[number]): boolean => e.kind === 'introduced' && e.version === '0';
  return [...events].sort((a, b) => {
    if (isZero(a) || isZero(b)) return isZero(a) === isZero(b) ? 0 : isZero(a) ? -1 : 1;
    return compare(a.version, b.version);
  });
}

function beforeLimits(version: string, range: OsvRange, compare: Compare): boolean {
  const limits = range.events.filter((e) => e.limit !== undefined).map((e) => e.limit as string);
  if (limits.length === 0) return true; // an implicit limit "*"
  return limits.some((limit) => limit === '*' || compare(version, limit) < 0);
}

/** One range: SEMVER ranges order by SemVer whatever the ecosystem; ECOSYSTEM ranges by `compare`. */
export function rangeAffects(range: OsvRange, version: string, compare: Compare): boolean {
  if (range.type === 'SEMVER') compare = semverComparator.compare;
  else if (range.type !== 'ECOSYSTEM') return false;
  if (!beforeLimits(version, range, compare)) return false;
  let vulnerable = false;
  for (const e of sortEvents(timeline(range.events), compare)) {
    if (e.kind === 'introduced') {
      if (e.version === '0' || compare(version, e.version) >= 0) vulnerable = true;
    } else if (e.kind === 'fixed') {
      if (compare(version, e.version) >= 0) vulnerable = false;
    } else if (compare(version, e.version) > 0) {
      vulnerable = false;
    }
  }
  return vulnerable;
}

/**
 * Whether `affected` covers `version` of its package. `compare` orders ECOSYSTEM ranges and the versions
 * list; by default the comparator of affected.package.ecosystem. Without one (an ecosystem Berth cannot
 * order) only exact entries of `versions` and SEMVER ranges can match. In the Go ecosystem a toolchain
 * version ("go1.19.8") is read as the SemVer the Go database uses ("1.19.8").
 */
export function affects(affected: OsvAffected, installed: string, compare?: Compare | VersionComparator): boolean {
  const version = affected.package?.ecosystem === 'Go' ? goToolchainSemver(installed) ?? installed : installed;
  const fallback = affected.package ? comparatorFor(affected.package.ecosystem)?.compare : undefined;
  const cmp: Compare | undefined = typeof compare === 'function' ? compare : compare?.compare ?? fallback;
  for (const listed of affected.versions ?? []) {
    if (listed === version || (cmp !== undefined && cmp(version, listed) === 0)) return true;
  }
  for (const range of affected.ranges ?? []) {
    if (range.type === 'ECOSYSTEM' && cmp === undefined) continue;
    if (rangeAffects(range, version, cmp ?? semverComparator.compare)) return true;
  }
  return false;
}
