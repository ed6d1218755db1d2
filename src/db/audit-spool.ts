// Progress of the audit spool files (audit/spool.ts): how many bytes of each are in the chain. Read and
// moved inside the transaction that appends the records, so a file is never appended twice.
import type { Db, Tx } from './database.js';
import type { Dialect } from './migrations/index.js';

/** Bytes of `segment` already in the chain, locked until the transaction ends (0 for a new segment). */
export async function lockSpoolProgress(tx: Tx, dialect: Dialect, segment: string, now = Date.now()): Promise<number> {
  await tx.insertInto('audit_spool').values({ segment, consumed: 0, updated_at: now }).onConflict((oc) => oc.column('segment').doNothing()).execute();
  const q = tx.selectFrom('audit_spool').select('consumed').where('segment', '=', segment);
  const row = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirstOrThrow();
  return Number(row.consumed);
}

export async function setSpoolProgress(tx: Tx, segment: string, consumed: number, now = Date.now()): Promise<void> {
  await tx.updateTable('audit_spool').set({ consumed, updated_at: now }).where('segment', '=', segment).execute();
}

/** Forgets a segment whose file is gone (every record of it is in the chain). */
export async function forgetSpoolSegment(db: Db | Tx, segment: string): Promise<void> {
  await db.deleteFrom('audit_spool').where('segment', '=', segment).execute();
}

/** The segments on record whose names start with `prefix` (this machine's, to tidy rows of files gone). */
export async function spoolSegments(db: Db, prefix: string): Promise<string[]> {
  // A handful of rows (a few per process): filtered here rather than with LIKE and its escapes.
  const rows = await db.selectFrom('audit_spool').select('segment').execute();
  return rows.map((r) => r.segment).filter((s) => s.startsWith(prefix));
}
