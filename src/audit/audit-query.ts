// Reading the audit log: filtered pages (newest first, by sequence cursor) and a streaming export in
// JSON Lines or CSV, oldest first, that never holds more than one page in memory.
import type { Db } from '../db/database.js';
import { auditRecordsAfter, auditRecordsBefore, type AuditFilter } from '../db/audit-log.js';
import { toAuditRecord, type AuditRecord } from './journal.js';

export type { AuditFilter } from '../db/audit-log.js';

/** A page, newest first; `before` is the cursor (a sequence number) from the previous page. */
export async function queryAudit(db: Db, f: AuditFilter, n: number, before?: number): Promise<{ items: AuditRecord[]; next: string | null }> {
  const rows = (await auditRecordsBefore(db, f, before, n + 1)).map(toAuditRecord);
  const items = rows.slice(0, n);
  return { items, next: rows.length > n ? String(items[items.length - 1].seq) : null };
}

/** Every matching record, oldest first, one page at a time. */
export async function* streamAudit(db: Db, f: AuditFilter, pageSize = 1000): AsyncGenerator<AuditRecord> {
  let after = 0;
  for (;;) {
    const rows = await auditRecordsAfter(db, after, pageSize, f);
    if (rows.length === 0) return;
    for (const row of rows) yield toAuditRecord(row);
    after = Number(rows[rows.length - 1].seq);
  }
}

export const CSV_COLUMNS = ['seq', 'time', 'actor', 'actor_source', 'address', 'user_agent', 'action', 'resource', 'outcome', 'request_id', 'detail', 'prev_hash', 'hash'] as const;

/** One CSV field: quoted when needed; a leading = + - @ is defused so spreadsheets do not run it as a formula. */
function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function csvLine(r: AuditRecord): string {
  return [String(r.seq), new Date(r.at).toISOString(), r.actor, r.actorSource, r.address, r.userAgent, r.action, r.resource, r.outcome, r.requestId,
    r.detail === null ? '' : JSON.stringify(r.detail), r.prevHash, r.hash].map(csvField).join(',') + '\r\n';
}

export function jsonLine(r: AuditRecord): string {
  return `${JSON.stringify({ ...r, time: new Date(r.at).toISOString() })}\n`;
}
