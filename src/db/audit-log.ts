// The audit chain (tables audit_log and audit_head): appending to it, and the reads that audit/ (query,
// export, verification, archiving, SIEM forwarding) and the activity view make of it. Hashing and
// verifying records is audit/'s; this module only stores and fetches them.
import { CompiledQuery } from 'kysely';
import type { Tx } from './database.js';
import type { Dialect } from './migrations/index.js';
import type { AuditLogTable } from './schema.js';

export interface ChainHead { seq: number; hash: string }

/** One record of the chain as stored (audit/journal.ts builds them, hashed, for appendToChain). */
export type AuditRecordRow = AuditLogTable;

/**
 * Appends records to the chain, safely under concurrent writers on any dialect: the head (table
 * audit_head, one row) is locked first, `build` makes the rows that continue it, and the head moves to the
 * last of them in the same transaction. Two writers therefore never build on the same head (no fork, no
 * duplicate sequence number) and none waits on a head that moved meanwhile. Call inside a write transaction.
 */
export async function appendToChain(tx: Tx, dialect: Dialect, build: (head: ChainHead | undefined) => AuditLogTable[]): Promise<void> {
  const head = await lockChainHead(tx, dialect);
  const rows = build(head);
  if (rows.length === 0) return;
  for (let i = 0; i < rows.length; i += INSERT_ROWS) {
    const chunk = rows.slice(i, i + INSERT_ROWS);
    await tx.executeQuery(CompiledQuery.raw(insertText(dialect, chunk.length), chunk.flatMap((r) => AUDIT_COLUMNS.map((c) => r[c]))));
  }
  const last = rows[rows.length - 1];
  await tx.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
}

const AUDIT_COLUMNS = ['seq', 'at', 'actor', 'actor_source', 'address', 'user_agent', 'action', 'resource', 'outcome', 'request_id', 'detail', 'prev_hash', 'hash'] as const satisfies readonly (keyof AuditLogTable)[];
const INSERT_ROWS = 500;
const insertTexts = new Map<string, string>();

/**
 * A multi-row INSERT of the audit columns, its text kept per dialect and row count: servers append every
 * pull's record, and compiling a 500-row insert through the query builder cost more than running it.
 */
function insertText(dialect: Dialect, rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = insertTexts.get(key);
  if (!text) {
    let n = 0;
    const slot = () => (dialect === 'postgres' ? `$${++n}` : '?');
    const tuple = () => `(${AUDIT_COLUMNS.map(slot).join(', ')})`;
    text = `insert into "audit_log" (${AUDIT_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${Array.from({ length: rows }, tuple).join(', ')}`;
    if (insertTexts.size > 1000) insertTexts.clear();
    insertTexts.set(key, text);
  }
  return text;
}

/**
 * The head, locked until the transaction ends. PostgreSQL: the row lock of SELECT ... FOR UPDATE (a
 * second writer waits, then reads the head the first one committed). SQLite: every write transaction
 * takes the database's write lock up front (BEGIN IMMEDIATE), which the caller already holds; SQLite has
 * no FOR UPDATE. Undefined for an empty chain.
 */
async function lockChainHead(tx: Tx, dialect: Dialect): Promise<ChainHead | undefined> {
  const q = tx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
  const row = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  if (!row) throw new Error('the audit chain head (table audit_head) is missing');
  return Number(row.seq) === 0 ? undefined : { seq: Number(row.seq), hash: row.hash };
}

/** The newest record still in the table (undefined when it is empty, e.g. everything was archived). */
export async function lastAuditRecord(db: Tx): Promise<ChainHead | undefined> {
  const r = await db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return r && { seq: Number(r.seq), hash: r.hash };
}

export interface AuditFilter {
  actor?: string;
  /** exact action, or a prefix ending in "." (e.g. "user.") */
  action?: string;
  /** a repository name: its records (repository:NAME, :tag and @digest) */
  repository?: string;
  outcome?: string;
  /** ms since the epoch, inclusive */
  since?: number;
  /** ms since the epoch, exclusive */
  until?: number;
}

function filtered(db: Tx, f: AuditFilter) {
  let q = db.selectFrom('audit_log').selectAll();
  if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
  if (f.action !== undefined) q = f.action.endsWith('.') ? q.where('action', '>=', f.action).where('action', '<', `${f.action.slice(0, -1)}/`) : q.where('action', '=', f.action);
  if (f.repository !== undefined) {
    const r = `repository:${f.repository}`;
    // Prefix ranges (":" sorts before ";", "@" before "A"): an index-friendly "starts with", no LIKE wildcards.
    q = q.where((eb) => eb.or([
      eb('resource', '=', r),
      eb.and([eb('resource', '>=', `${r}:`), eb('resource', '<', `${r};`)]),
      eb.and([eb('resource', '>=', `${r}@`), eb('resource', '<', `${r}A`)]),
    ]));
  }
  if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
  if (f.since !== undefined) q = q.where('at', '>=', f.since);
  if (f.until !== undefined) q = q.where('at', '<', f.until);
  return q;
}

/** Matching records before sequence number `before` (all when omitted), newest first, at most `limit`. */
export async function auditRecordsBefore(db: Tx, f: AuditFilter, before: number | undefined, limit: number): Promise<AuditLogTable[]> {
  let q = filtered(db, f).orderBy('seq', 'desc').limit(limit);
  if (before !== undefined) q = q.where('seq', '<', before);
  return q.execute();
}

/** Matching records after sequence number `after`, oldest first, at most `limit` (no filter: every record). */
export async function auditRecordsAfter(db: Tx, after: number, limit: number, f: AuditFilter = {}): Promise<AuditLogTable[]> {
  return filtered(db, f).where('seq', '>', after).orderBy('seq').limit(limit).execute();
}

/** Records with after < seq <= upTo, oldest first, at most `limit`. */
export async function auditRecordsUpTo(db: Tx, after: number, upTo: number, limit: number): Promise<AuditLogTable[]> {
  return db.selectFrom('audit_log').selectAll().where('seq', '>', after).where('seq', '<=', upTo).orderBy('seq').limit(limit).execute();
}

/** The sequence number of the newest record made before `at` (ms), or null. */
export async function lastSeqBefore(db: Tx, at: number): Promise<number | null> {
  const r = await db.selectFrom('audit_log').select((eb) => eb.fn.max('seq').as('seq')).where('at', '<', at).executeTakeFirst();
  return r?.seq === null || r?.seq === undefined ? null : Number(r.seq);
}

/** Deletes the records up to `seq` (archived). The head stays where it is: later records continue the chain. */
export async function purgeAuditRecords(tx: Tx, seq: number): Promise<void> {
  await tx.deleteFrom('audit_log').where('seq', '<=', seq).execute();
}

/** Successful pushes and pulls since `since` (ms): their time, action and resource. */
export async function pushesAndPullsSince(db: Tx, since: number): Promise<{ at: number; action: string; resource: string }[]> {
  const rows = await db.selectFrom('audit_log').select(['at', 'action', 'resource']).where('at', '>=', since)
    .where('action', 'in', ['manifest.push', 'manifest.pull']).where('outcome', '=', 'success').execute();
  return rows.map((r) => ({ at: Number(r.at), action: r.action, resource: r.resource }));
}
