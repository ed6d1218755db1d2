// The minimal check an OSV record passes before it enters the database: `id` and `modified` (the schema's
// required fields), and the shape that matching walks (affected → package, ranges → events, versions), so
// that a malformed record is refused at import with its file named instead of breaking a scan later.
import type { OsvRecord } from '../versions/osv.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Why `value` is not an OSV record Berth can use, or undefined when it is one. */
export function osvRecordProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object';
  if (typeof value.id !== 'string' || value.id.trim() === '') return 'no "id"';
  const id = value.id;
  if (typeof value.modified !== 'string' || Number.isNaN(Date.parse(value.modified))) {
    return `${id}: "modified" is missing or not an RFC 3339 time`;
  }
  for (const field of ['aliases', 'related', 'upstream'] as const) {
    if (value[field] !== undefined && !isStringArray(value[field])) return `${id}: "${field}" is not a list of ids`;
  }
  if (value.affected === undefined) return undefined;
  if (!Array.isArray(value.affected)) return `${id}: "affected" is not a list`;
  for (const [i, a] of value.affected.entries()) {
    if (!isObject(a)) return `${id}: affected[${i}] is not an object`;
    if (a.package !== undefined) {
      if (!isObject(a.package) || typeof a.package.ecosystem !== 'string' || typeof a.package.name !== 'string') {
        return `${id}: affected[${i}].package needs "ecosystem" and "name"`;
      }
    }
    if (a.versions !== undefined && !isStringArray(a.versions)) return `${id}: affected[${i}].versions is not a list of strings`;
    if (a.ranges === undefined) continue;
    if (!Array.isArray(a.ranges)) return `${id}: affected[${i}].ranges is not a list`;
    for (const [j, r] of a.ranges.entries()) {
      if (!isObject(r) || typeof r.type !== 'string' || !Array.isArray(r.events) || !r.events.every(isObject)) {
        return `${id}: affected[${i}].ranges[${j}] needs "type" and a list of "events"`;
      }
    }
  }
  return undefined;
}

/** The `osv:` source label: the record's first package ecosystem (without its release part), else the file. */
export function osvSourceLabel(record: OsvRecord, fileName: string): string {
  const ecosystem = record.affected?.find((a) => a.package?.ecosystem)?.package?.ecosystem;
  if (!ecosystem) return `osv:${fileName}`;
  const colon = ecosystem.indexOf(':');
  return `osv:${colon < 0 ? ecosystem : ecosystem.slice(0, colon)}`;
}
