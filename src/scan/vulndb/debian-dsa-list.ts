// The Debian security tracker's advisory lists, data/DSA/list and data/DLA/list:
//   [29 Mar 2023] DSA-5380-1 xorg-server - security update
//   	{CVE-2023-1393}
//   	[bullseye] - xorg-server 2:1.20.11-1+deb11u6
//   	[woody] - mantis <not-affected> (Vulnerable code not present)
//   	NOTE: …
// One OSV record per advisory: aliases are its CVEs, one affected entry per release line with the version as
// its fix. <not-affected> gives no entry, <unfixed> an entry without a fix, <end-of-life> none (the release
// got no fix and no further support; the advisory says nothing about it). Read line by line.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { OsvAffected, OsvRecord } from '../versions/osv.js';
import { debianEcosystem, debianSeverity } from './debian-releases.js';
import type { Drop } from './debian-tracker.js';

const HEADER = /^\[(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})\]\s+(D[SL]A-\d+(?:-\d+)?)\b\s*(.*)$/;
const IDS = /^\s+\{([^}]*)\}\s*$/;
const RELEASE = /^\s+\[([a-z][a-z0-9-]*)\]\s+-\s+(\S+)\s+(\S+)(?:\s+\((.*)\))?\s*$/;
const NOTE = /^\s+NOTE:/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Whether a text starts like an advisory list (its first non-blank line is an advisory header). */
export function looksLikeAdvisoryList(head: string): boolean {
  const first = head.split(/\r?\n/).find((l) => l.trim() !== '');
  return first !== undefined && HEADER.test(first);
}

interface Advisory {
  record: OsvRecord;
  affected: OsvAffected[];
}

function startAdvisory(m: RegExpExecArray): Advisory | undefined {
  const [, day, mon, year, id, rest] = m;
  const month = MONTHS.indexOf(mon);
  if (month < 0) return undefined;
  const date = new Date(Date.UTC(Number(year), month, Number(day))).toISOString();
  // "pkg1 pkg2 - summary"; announcements ("jessie end-of-life") have no " - "
  const dash = rest.indexOf(' - ');
  const packages = (dash < 0 ? '' : rest.slice(0, dash)).trim().split(/\s+/).filter(Boolean);
  const summary = (dash < 0 ? rest : rest.slice(dash + 3)).trim();
  const source = id.startsWith('DSA-') ? 'debian-dsa' : 'debian-dla';
  const record: OsvRecord = {
    id,
    modified: date,
    published: date,
    aliases: [],
    references: [{ type: 'ADVISORY', url: `https://security-tracker.debian.org/tracker/${id}` }],
    database_specific: { source, packages },
  };
  if (summary) record.summary = summary;
  return { record, affected: [] };
}

function finish(a: Advisory): OsvRecord {
  a.record.affected = a.affected;
  return a.record;
}

/** The urgency a release line's note gives ("(medium)", "(bug #332524; medium)"), if any. */
function noteUrgency(note: string | undefined): string | undefined {
  for (const part of note?.split(';') ?? []) {
    const p = part.trim().toLowerCase();
    if (p === 'low' || p === 'medium' || p === 'high') return p;
  }
  return undefined;
}

/** The records of a DSA or DLA list, in the list's order (newest first). Lines it does not know are dropped. */
export async function* readAdvisoryList(input: Readable, drop: Drop): AsyncGenerator<OsvRecord> {
  let current: Advisory | undefined;
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const header = HEADER.exec(line);
    if (header) {
      if (current) yield finish(current);
      current = startAdvisory(header);
      if (!current) drop('debian advisory list: header with a bad date');
      continue;
    }
    if (!current || NOTE.test(line)) continue;
    const ids = IDS.exec(line);
    if (ids) {
      for (const alias of ids[1].trim().split(/\s+/).filter(Boolean)) {
        if (!current.record.aliases!.includes(alias)) current.record.aliases!.push(alias);
      }
      continue;
    }
    const rel = RELEASE.exec(line);
    if (!rel) {
      drop('debian advisory list: line not understood');
      continue;
    }
    const [, codename, pkg, version, note] = rel;
    const source = current.record.database_specific!.source as string;
    if (version === '<not-affected>') {
      drop(`${source} <not-affected>`);
      continue;
    }
    if (version === '<end-of-life>') {
      drop(`${source} <end-of-life>`);
      continue;
    }
    const ecosystem = debianEcosystem(codename);
    if (!ecosystem) {
      drop(`debian release not in the codename map: ${codename}`);
      continue;
    }
    if (version.startsWith('<') && version !== '<unfixed>') {
      drop(`${source} ${version}`);
      continue;
    }
    const urgency = noteUrgency(note);
    const affected: OsvAffected = {
      package: { ecosystem, name: pkg },
      ranges: [{ type: 'ECOSYSTEM', events: version === '<unfixed>' ? [{ introduced: '0' }] : [{ introduced: '0' }, { fixed: version }] }],
    };
    const specific: Record<string, unknown> = {};
    if (urgency) specific.urgency = urgency;
    if (note) specific.note = note;
    if (Object.keys(specific).length > 0) affected.ecosystem_specific = specific;
    if (urgency) affected.database_specific = { severity: debianSeverity(urgency) };
    current.affected.push(affected);
  }
  if (current) yield finish(current);
}
