// Pull policies on vulnerability findings and their allow-lists, per target: 'org:NAME' or 'repo:NAME'.
import type { Tx } from './database.js';

export interface ScanPolicy { target: string; severity: string; unscanned: 'allow' | 'block'; exempt: string[]; exemptPushers: boolean; updatedAt: number; updatedBy: string }
export interface AllowEntry { target: string; vulnId: string; until: number; reason: string; createdBy: string; createdAt: number }

export async function setScanPolicy(tx: Tx, p: ScanPolicy): Promise<void> {
  const row = { target: p.target, severity: p.severity, unscanned: p.unscanned, exempt: JSON.stringify(p.exempt), exempt_pushers: p.exemptPushers ? 1 : 0, updated_at: p.updatedAt, updated_by: p.updatedBy };
  const { target: _t, ...rest } = row;
  await tx.insertInto('scan_policies').values(row).onConflict((oc) => oc.column('target').doUpdateSet(rest)).execute();
}

export async function deleteScanPolicy(tx: Tx, target: string): Promise<boolean> {
  return Number((await tx.deleteFrom('scan_policies').where('target', '=', target).executeTakeFirst()).numDeletedRows) > 0;
}

/** The policies of the given targets (a repository's and its organization's), by target; every policy without targets. */
export async function scanPolicies(db: Tx, targets?: string[]): Promise<Map<string, ScanPolicy>> {
  if (targets?.length === 0) return new Map();
  const rows = await db.selectFrom('scan_policies').selectAll().$if(targets !== undefined, (q) => q.where('target', 'in', targets!)).execute();
  return new Map(rows.map((r) => [r.target, {
    target: r.target, severity: r.severity, unscanned: r.unscanned === 'block' ? 'block' : 'allow', exempt: JSON.parse(r.exempt) as string[],
    exemptPushers: Number(r.exempt_pushers) === 1, updatedAt: Number(r.updated_at), updatedBy: r.updated_by,
  } satisfies ScanPolicy]));
}

export async function allowVuln(tx: Tx, e: AllowEntry): Promise<void> {
  const row = { target: e.target, vuln_id: e.vulnId, until: e.until, reason: e.reason, created_by: e.createdBy, created_at: e.createdAt };
  await tx.insertInto('scan_allowlist').values(row).onConflict((oc) => oc.columns(['target', 'vuln_id']).doUpdateSet({ until: row.until, reason: row.reason, created_by: row.created_by, created_at: row.created_at })).execute();
}

export async function disallowVuln(tx: Tx, target: string, vulnId: string): Promise<boolean> {
  return Number((await tx.deleteFrom('scan_allowlist').where('target', '=', target).where('vuln_id', '=', vulnId).executeTakeFirst()).numDeletedRows) > 0;
}

/** Allow-list entries of the targets, expired ones included (the caller decides by `until`). */
export async function allowList(db: Tx, targets: string[]): Promise<AllowEntry[]> {
  if (targets.length === 0) return [];
  const rows = await db.selectFrom('scan_allowlist').selectAll().where('target', 'in', targets).orderBy('target').orderBy('vuln_id').execute();
  return rows.map((r) => ({ target: r.target, vulnId: r.vuln_id, until: Number(r.until), reason: r.reason, createdBy: r.created_by, createdAt: Number(r.created_at) }));
}
