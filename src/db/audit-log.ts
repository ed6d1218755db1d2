// Appending to the audit chain (table audit_log); reading, verifying and archiving it is in audit/.
import type { Tx } from './database.js';
import type { AuditLogTable } from './schema.js';

/** The last record's sequence number and hash, or undefined for an empty chain. */
export async function chainHead(tx: Tx): Promise<{ seq: number; hash: string } | undefined> {
  const head = await tx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return head && { seq: Number(head.seq), hash: head.hash };
}

export async function insertAuditRows(tx: Tx, rows: AuditLogTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await tx.insertInto('audit_log').values(rows.slice(i, i + 500)).execute();
}
