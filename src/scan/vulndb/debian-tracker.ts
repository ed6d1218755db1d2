// The Debian security tracker's JSON export (security-tracker.debian.org/tracker/data/json):
//   { "<source package>": { "CVE-…"|"TEMP-…": { description, scope, debianbug,
//       releases: { "<codename>": { status, fixed_version, urgency, repositories, nodsa, nodsa_reason } } } } }
// One OSV record per (CVE, source package). The export is over 100 MB of JSON: it is parsed as a stream
// (@streamparser/json, one top-level package at a time), so memory holds one package's entries, not the file.
// The export carries no dates: records take the input's time as `modified`.
import { JSONParser } from '@streamparser/json';
import type { OsvAffected, OsvEvent, OsvRecord, OsvReference } from '../versions/osv.js';
import { debianEcosystem, debianSeverity, graver } from './debian-releases.js';
import { type SourceContext, VulnSourceError } from './source-types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export type Drop = (reason: string) => void;

/** The records of one source package's entry of the export. Throws on an entry of the wrong shape. */
export function trackerRecords(srcpkg: string, entries: unknown, ctx: SourceContext, drop: Drop): OsvRecord[] {
  if (!isObject(entries)) throw new VulnSourceError(ctx.file, `package "${srcpkg}" is not an object of CVE entries`);
  const modified = ctx.time.toISOString();
  const out: OsvRecord[] = [];
  for (const [vulnId, entry] of Object.entries(entries)) {
    if (!isObject(entry)) throw new VulnSourceError(ctx.file, `package "${srcpkg}", ${vulnId}: not an object`);
    const releases = entry.releases === undefined ? {} : entry.releases;
    if (!isObject(releases)) throw new VulnSourceError(ctx.file, `package "${srcpkg}", ${vulnId}: "releases" is not an object`);
    const affected: OsvAffected[] = [];
    let severity: ReturnType<typeof debianSeverity> = 'unknown';
    let unimportant = 0;
    for (const [codename, rel] of Object.entries(releases)) {
      if (!isObject(rel)) throw new VulnSourceError(ctx.file, `package "${srcpkg}", ${vulnId}, ${codename}: not an object`);
      const ecosystem = debianEcosystem(codename);
      if (!ecosystem) {
        drop(`debian release not in the codename map: ${codename}`);
        continue;
      }
      const status = str(rel.status);
      const fixed = str(rel.fixed_version);
      // "0": the release never had the vulnerable code
      if (fixed === '0') {
        drop('debian-tracker fixed_version 0 (not affected)');
        continue;
      }
      const events: OsvEvent[] = [{ introduced: '0' }];
      // resolved names its fix; open and undetermined have none. A resolved entry without a version (not seen
      // in the export) stays affected: saying "fixed" without a version would hide it everywhere.
      if (status === 'resolved' && fixed) events.push({ fixed });
      const urgency = str(rel.urgency);
      const level = debianSeverity(urgency);
      severity = graver(severity, level);
      const ecosystemSpecific: Record<string, unknown> = {};
      if (urgency) ecosystemSpecific.urgency = urgency;
      if (status) ecosystemSpecific.status = status;
      if (urgency?.replace(/\*+$/, '') === 'unimportant') {
        ecosystemSpecific.unimportant = true;
        unimportant++;
      }
      if (str(rel.nodsa)) ecosystemSpecific.nodsa = rel.nodsa;
      if (str(rel.nodsa_reason)) ecosystemSpecific.nodsa_reason = rel.nodsa_reason;
      affected.push({
        package: { ecosystem, name: srcpkg },
        ranges: [{ type: 'ECOSYSTEM', events }],
        ecosystem_specific: ecosystemSpecific,
        database_specific: { severity: level },
      });
    }
    const references: OsvReference[] = [{ type: 'ADVISORY', url: `https://security-tracker.debian.org/tracker/${encodeURIComponent(vulnId)}` }];
    const bug = entry.debianbug;
    if ((typeof bug === 'number' || typeof bug === 'string') && /^\d+$/.test(String(bug))) {
      references.push({ type: 'REPORT', url: `https://bugs.debian.org/${bug}` });
    }
    const databaseSpecific: Record<string, unknown> = { source: 'debian-tracker', severity };
    if (affected.length > 0 && unimportant === affected.length) databaseSpecific.unimportant = true;
    if (str(entry.scope)) databaseSpecific.scope = entry.scope;
    const record: OsvRecord = {
      id: `DEBIAN-${vulnId}-${srcpkg}`,
      modified,
      // TEMP-… ids are the tracker's own placeholders, not aliases anyone else uses
      aliases: vulnId.startsWith('CVE-') ? [vulnId] : [],
      affected,
      references,
      database_specific: databaseSpecific,
    };
    const description = str(entry.description);
    if (description) record.summary = description;
    out.push(record);
  }
  return out;
}

export interface TrackerReadOptions {
  /** the most input one top-level package may take before it is refused */
  maxEntryBytes: number;
  signal?: AbortSignal;
}

/** Streams the export: the records of each top-level package as soon as its value is complete. */
export async function* readDebianTracker(input: AsyncIterable<Buffer | string>, ctx: SourceContext, opts: TrackerReadOptions, drop: Drop): AsyncGenerator<OsvRecord> {
  const parser = new JSONParser({ paths: ['$.*'], keepStack: false });
  let pending: OsvRecord[] = [];
  let failure: unknown;
  let sinceValue = 0;
  parser.onValue = ({ value, key }) => {
    sinceValue = 0;
    if (failure !== undefined) return;
    try {
      pending.push(...trackerRecords(String(key), value, ctx, drop));
    } catch (err) {
      failure = err;
    }
  };
  parser.onError = (err) => { failure ??= err; };
  const fail = (): never => {
    if (failure instanceof VulnSourceError) throw failure;
    throw new VulnSourceError(ctx.file, `not a Debian tracker export: ${(failure as Error).message}`, { cause: failure });
  };
  for await (const chunk of input) {
    opts.signal?.throwIfAborted();
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    sinceValue += buf.length;
    if (parser.isEnded) {
      if (buf.toString('latin1').trim() !== '') throw new VulnSourceError(ctx.file, 'data after the end of the JSON document');
      continue;
    }
    parser.write(buf);
    if (failure !== undefined) fail();
    if (sinceValue > opts.maxEntryBytes) {
      throw new VulnSourceError(ctx.file, `one package's entries exceed ${opts.maxEntryBytes} bytes`);
    }
    const ready = pending;
    pending = [];
    yield* ready;
  }
  if (!parser.isEnded) parser.end();
  if (failure !== undefined) fail();
  yield* pending;
}
