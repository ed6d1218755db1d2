// Alpine's secdb (alpinelinux/alpine-secdb YAML, and the same document as JSON on secdb.alpinelinux.org):
//   { distroversion: "v3.11", reponame: "main", packages: [ { pkg: { name, secfixes: { "<pkgver>": ["CVE-…", …] } } } ] }
// secfixes maps the package version that fixed them to the ids it fixed. One OSV record per (CVE, package,
// distroversion), ecosystem `Alpine:v3.11`, introduced 0 fixed <pkgver>. The key "0" means the CVE never
// affected the package: its record has no affected entry. The secdb has no dates: records take the input's
// time as `modified`.
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { OsvRange, OsvRecord } from '../versions/osv.js';
import type { Drop } from './debian-tracker.js';
import { type SourceContext, VulnSourceError } from './source-types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a parsed document is a secdb file (rather than an OSV record). */
export function isAlpineSecdb(doc: unknown): doc is Record<string, unknown> {
  return isObject(doc) && typeof doc.distroversion === 'string' && Array.isArray(doc.packages);
}

/**
 * A secdb YAML file as its JS value, or undefined when the text is YAML of another kind. The failsafe schema
 * keeps every scalar a string: secfixes keys are versions, and "2.10" or "0" must not become numbers. A
 * version listed twice in one package's secfixes (it happens in hand-edited files) keeps both lists.
 */
export function parseSecdbYaml(text: string): Record<string, unknown> | undefined {
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false, logLevel: 'error' });
  if (doc.errors.length > 0) throw doc.errors[0];
  const js: unknown = doc.toJS();
  if (!isAlpineSecdb(js)) return undefined;
  const packages = doc.get('packages');
  if (!isSeq(packages)) return js;
  packages.items.forEach((item, i) => {
    const secfixes = isMap(item) ? (item.get('pkg') as unknown) : undefined;
    const map = isMap(secfixes) ? secfixes.get('secfixes') : undefined;
    if (!isMap(map)) return;
    const merged: Record<string, unknown[]> = {};
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const value: unknown = isSeq(pair.value) ? pair.value.toJSON() : isScalar(pair.value) ? pair.value.value : pair.value;
      (merged[key] ??= []).push(...(Array.isArray(value) ? value : [value]));
    }
    const target = (js.packages as Record<string, Record<string, unknown>>[])[i]?.pkg;
    if (target) target.secfixes = merged;
  });
  return js;
}

/** The source label of a secdb file: `alpine-secdb:v3.11/main`. */
export function alpineSourceLabel(doc: Record<string, unknown>): string {
  return `alpine-secdb:${alpineRelease(String(doc.distroversion))}/${typeof doc.reponame === 'string' ? doc.reponame : 'unknown'}`;
}

/** "v3.11" as the secdb spells it; "3.11" (seen in hand-made files) gets its "v" like the OSV ecosystem name. */
function alpineRelease(distroversion: string): string {
  return /^\d/.test(distroversion) ? `v${distroversion}` : distroversion;
}

/**
 * One secfixes entry names an id and sometimes a second one for the same flaw ("CVE-2016-10013 XSA-204",
 * "CVE-2019-5060 TALOS-2019-0844"); a few carry a suffix ("CVE-2017-17434-1", a fix in parts).
 */
function entryIds(entry: string): { id: string; aliases: string[] } | undefined {
  const tokens = entry.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return undefined;
  const aliases = new Set<string>();
  for (const t of tokens) {
    const cve = /^(CVE-\d{4}-\d+)(?:-\d+)?$/.exec(t);
    aliases.add(cve ? cve[1] : t);
  }
  return { id: tokens[0], aliases: [...aliases] };
}

/** The records of one secdb document, package by package, in the file's order. */
export function* alpineRecords(doc: Record<string, unknown>, ctx: SourceContext, drop: Drop): Generator<OsvRecord> {
  const release = alpineRelease(String(doc.distroversion));
  const ecosystem = `Alpine:${release}`;
  const repo = typeof doc.reponame === 'string' ? doc.reponame : undefined;
  const modified = ctx.time.toISOString();
  for (const [i, item] of (doc.packages as unknown[]).entries()) {
    const pkg = isObject(item) ? item.pkg : undefined;
    if (!isObject(pkg) || typeof pkg.name !== 'string' || pkg.name === '') {
      throw new VulnSourceError(ctx.file, `packages[${i}] has no pkg.name`);
    }
    const name = pkg.name;
    if (pkg.secfixes === undefined || pkg.secfixes === null || pkg.secfixes === '') continue;
    if (!isObject(pkg.secfixes)) throw new VulnSourceError(ctx.file, `package ${name}: secfixes is not a map`);
    // id → its record's parts, so that an id listed under two versions is one record
    const byId = new Map<string, { aliases: Set<string>; fixes: string[]; neverAffected: boolean }>();
    for (const [version, list] of Object.entries(pkg.secfixes)) {
      const entries = list === null || list === '' ? [] : Array.isArray(list) ? list : [list];
      for (const entry of entries) {
        if (entry === null || entry === '') continue;
        if (typeof entry !== 'string') throw new VulnSourceError(ctx.file, `package ${name}, ${version}: an entry is not a string`);
        const ids = entryIds(entry);
        if (!ids) continue;
        let r = byId.get(ids.id);
        if (!r) byId.set(ids.id, (r = { aliases: new Set(), fixes: [], neverAffected: false }));
        for (const a of ids.aliases) r.aliases.add(a);
        if (version === '0') r.neverAffected = true;
        else r.fixes.push(version);
      }
    }
    for (const [id, r] of byId) {
      // An id fixed in two versions (a backport, then a complete fix) gets one range per fix: a version
      // is affected unless it has every fix, the reading that cannot hide a finding.
      const ranges: OsvRange[] = r.fixes.map((fixed) => ({ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }));
      if (r.neverAffected && ranges.length === 0) drop('alpine-secdb version 0 (not affected)');
      const record: OsvRecord = {
        id: `ALPINE-${id}-${name}-${release}`,
        modified,
        aliases: [...r.aliases],
        affected: ranges.length === 0 ? [] : [{ package: { ecosystem, name }, ranges }],
        database_specific: { source: 'alpine-secdb', distroversion: release, ...(repo ? { reponame: repo } : {}) },
      };
      yield record;
    }
  }
}
