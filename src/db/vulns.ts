// The offline vulnerability database: records (table vulns, OSV's shape whatever the source), the packages
// each affects (vuln_packages: the matcher looks up by ecosystem and name), the sources as last imported,
// and the findings of each image manifest (image_findings). An import is one transaction: readers see the
// database before it or after it. Cursor 'vulndb' counts imports; findings made at an older count are stale.
import { sql } from 'kysely';
import type { Tx } from './database.js';

export const VULNDB_CURSOR = 'vulndb';

export interface VulnRow {
  id: string; source: string; modified: string; withdrawn: string | null; aliases: string[]; summary: string | null;
  severity: string; score: number | null; record: string;
}

export interface VulnPackageRow { vulnId: string; ecosystem: string; name: string; affected: string }

/**
 * Replaces the records by id (a record not newer than the stored one is still replaced: the import is the
 * operator's truth) and their package index; a withdrawn record stays on file and matches nothing.
 */
export async function upsertVulns(tx: Tx, rows: VulnRow[], packages: VulnPackageRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 100) {
    const chunk = rows.slice(i, i + 100);
    const ids = chunk.map((r) => r.id);
    await tx.deleteFrom('vuln_packages').where('vuln_id', 'in', ids).execute();
    await tx.insertInto('vulns').values(chunk.map((r) => ({ ...r, aliases: JSON.stringify(r.aliases) }))).onConflict((oc) => oc.column('id').doUpdateSet({
      source: sql`excluded.source`, modified: sql`excluded.modified`, withdrawn: sql`excluded.withdrawn`, aliases: sql`excluded.aliases`,
      summary: sql`excluded.summary`, severity: sql`excluded.severity`, score: sql`excluded.score`, record: sql`excluded.record`,
    })).execute();
  }
  for (let i = 0; i < packages.length; i += 200) {
    await tx.insertInto('vuln_packages').values(packages.slice(i, i + 200).map((p) => ({ vuln_id: p.vulnId, ecosystem: p.ecosystem, name: p.name, affected: p.affected }))).execute();
  }
}

export async function saveVulnSource(tx: Tx, s: { name: string; records: number; newestModified: string | null; importedAt: number; file: string; verified: string }): Promise<void> {
  const row = { name: s.name, records: s.records, newest_modified: s.newestModified, imported_at: s.importedAt, file: s.file, verified: s.verified };
  await tx.insertInto('vuln_sources').values(row).onConflict((oc) => oc.column('name').doUpdateSet({
    records: row.records, newest_modified: row.newest_modified, imported_at: row.imported_at, file: row.file, verified: row.verified,
  })).execute();
}

export async function vulnSources(db: Tx): Promise<{ name: string; records: number; newestModified: string | null; importedAt: number; file: string; verified: string }[]> {
  const rows = await db.selectFrom('vuln_sources').selectAll().orderBy('name').execute();
  return rows.map((r) => ({ name: r.name, records: Number(r.records), newestModified: r.newest_modified, importedAt: Number(r.imported_at), file: r.file, verified: r.verified }));
}

export async function vulnCounts(db: Tx): Promise<{ records: number; withdrawn: number; packages: number }> {
  const v = await db.selectFrom('vulns').select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.count<number>('withdrawn').as('w')]).executeTakeFirstOrThrow();
  const p = await db.selectFrom('vuln_packages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return { records: Number(v.n), withdrawn: Number(v.w), packages: Number(p.n) };
}

/** Bumps the import count (in the import's transaction); returns the new one. */
export async function bumpVulnDbVersion(tx: Tx): Promise<number> {
  await tx.updateTable('cursors').set({ value: sql`value + 1` }).where('name', '=', VULNDB_CURSOR).execute();
  return vulnDbVersion(tx);
}

export async function vulnDbVersion(db: Tx): Promise<number> {
  const r = await db.selectFrom('cursors').select('value').where('name', '=', VULNDB_CURSOR).executeTakeFirst();
  return Number(r?.value ?? 0);
}

/** Candidate records for packages: (ecosystem, name) pairs → their affected entries with the record's facts. */
export async function candidates(db: Tx, keys: { ecosystem: string; name: string }[]): Promise<{ ecosystem: string; name: string; affected: string; id: string; aliases: string[]; summary: string | null; severity: string; score: number | null; source: string }[]> {
  const byEco = new Map<string, Set<string>>();
  for (const k of keys) {
    let set = byEco.get(k.ecosystem);
    if (!set) byEco.set(k.ecosystem, set = new Set());
    set.add(k.name);
  }
  const out = [];
  for (const [ecosystem, names] of byEco) {
    const list = [...names];
    for (let i = 0; i < list.length; i += 500) {
      const rows = await db.selectFrom('vuln_packages as p').innerJoin('vulns as v', 'v.id', 'p.vuln_id')
        .select(['p.ecosystem', 'p.name', 'p.affected', 'v.id', 'v.aliases', 'v.summary', 'v.severity', 'v.score', 'v.source'])
        .where('p.ecosystem', '=', ecosystem).where('p.name', 'in', list.slice(i, i + 500)).where('v.withdrawn', 'is', null).execute();
      for (const r of rows) out.push({ ...r, aliases: JSON.parse(r.aliases) as string[], score: r.score === null ? null : Number(r.score) });
    }
  }
  return out;
}

export async function findVuln(db: Tx, id: string): Promise<VulnRow | undefined> {
  const r = await db.selectFrom('vulns').selectAll().where('id', '=', id).executeTakeFirst();
  return r && { ...r, aliases: JSON.parse(r.aliases) as string[], score: r.score === null ? null : Number(r.score) };
}

export interface FindingsRow { digest: string; dbVersion: number; matchedAt: number; counts: SeverityCounts; findings: string }
export interface SeverityCounts { critical: number; high: number; medium: number; low: number; unknown: number }

export async function saveFindings(tx: Tx, f: FindingsRow): Promise<void> {
  const row = { digest: f.digest, db_version: f.dbVersion, matched_at: f.matchedAt, ...f.counts, findings: f.findings };
  const { digest: _d, ...rest } = row;
  await tx.insertInto('image_findings').values(row).onConflict((oc) => oc.column('digest').doUpdateSet(rest)).execute();
}

export async function findFindings(db: Tx, digest: string): Promise<FindingsRow | undefined> {
  const r = await db.selectFrom('image_findings').selectAll().where('digest', '=', digest).executeTakeFirst();
  return r && {
    digest: r.digest, dbVersion: Number(r.db_version), matchedAt: Number(r.matched_at), findings: r.findings,
    counts: { critical: Number(r.critical), high: Number(r.high), medium: Number(r.medium), low: Number(r.low), unknown: Number(r.unknown) },
  };
}

/** Catalogued manifests whose findings predate `version` (or that have none), in digest order after `after`. */
export async function staleCatalogs(db: Tx, version: number, after: string | undefined, limit: number): Promise<{ digest: string; catalog: string }[]> {
  const rows = await db.selectFrom('image_catalogs as c').leftJoin('image_findings as f', 'f.digest', 'c.digest')
    .select(['c.digest', 'c.catalog'])
    .where('c.status', '=', 'done')
    .where((eb) => eb.or([eb('f.digest', 'is', null), eb('f.db_version', '<', version)]))
    .$if(after !== undefined, (q) => q.where('c.digest', '>', after!))
    .orderBy('c.digest').limit(limit).execute();
  return rows.map((r) => ({ digest: r.digest, catalog: r.catalog ?? '{"platforms":[]}' }));
}
