// Image scans: the queue of manifests to catalogue (scan_queue) and the catalogues (image_catalogs).
// A scan reads layers for seconds or minutes, longer than a transaction should live, so a process claims
// a queued manifest for a lease (claimed_by, claimed_until) and renews it while it reads; a process that
// dies lets its claim run out and another takes the manifest over. Claims are taken with FOR UPDATE SKIP
// LOCKED on PostgreSQL (processes claiming at once get different manifests); SQLite's writes are serial.
import { sql } from 'kysely';
import type { Dialect, Tx } from './database.js';

export interface QueuedScan { digest: string; repository: string; reason: string; queuedAt: number; attempts: number }

/**
 * Queues manifests for a scan. One already queued stays as it is, unless `urgent` (asked for by someone
 * waiting): then it is due now and its failed attempts are forgotten.
 */
export async function enqueueScans(tx: Tx, items: { digest: string; repository: string; reason: string }[], now: number, urgent = false): Promise<void> {
  for (let i = 0; i < items.length; i += 200) {
    const rows = items.slice(i, i + 200).map((r) => ({ digest: r.digest, repository: r.repository, reason: r.reason, queued_at: now, not_before: now }));
    await tx.insertInto('scan_queue').values(rows).onConflict((oc) => (urgent
      ? oc.column('digest').doUpdateSet({ not_before: now, attempts: 0, reason: sql`excluded.reason`, repository: sql`excluded.repository` })
      : oc.column('digest').doNothing())).execute();
  }
}

/** Claims the oldest due manifest nobody holds, for `leaseMs`; undefined when none is due. */
export async function claimScan(tx: Tx, dialect: Dialect, holder: string, now: number, leaseMs: number): Promise<QueuedScan | undefined> {
  const pick = tx.selectFrom('scan_queue').select('digest').where('not_before', '<=', now).where('claimed_until', '<', now)
    .orderBy('not_before').orderBy('queued_at').limit(1);
  const row = await tx.updateTable('scan_queue')
    .set({ claimed_by: holder, claimed_until: now + leaseMs, attempts: sql`attempts + 1` })
    .where('digest', '=', (dialect === 'postgres' ? pick.forUpdate().skipLocked() : pick))
    .where('claimed_until', '<', now)
    .returning(['digest', 'repository', 'reason', 'queued_at', 'attempts'])
    .executeTakeFirst();
  return row && { digest: row.digest, repository: row.repository, reason: row.reason, queuedAt: Number(row.queued_at), attempts: Number(row.attempts) };
}

/** Extends a claim still held by `holder`; false when it was lost (expired and taken over). */
export async function renewScanClaim(tx: Tx, digest: string, holder: string, until: number): Promise<boolean> {
  const r = await tx.updateTable('scan_queue').set({ claimed_until: until }).where('digest', '=', digest).where('claimed_by', '=', holder).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Gives a claim back for a later attempt at `retryAt`. */
export async function releaseScan(tx: Tx, digest: string, holder: string, retryAt: number): Promise<void> {
  await tx.updateTable('scan_queue').set({ claimed_by: null, claimed_until: 0, not_before: retryAt })
    .where('digest', '=', digest).where('claimed_by', '=', holder).execute();
}

/** Takes a manifest off the queue unless it was queued again (urgently) after `claimedAt`. */
export async function dequeueScan(tx: Tx, digest: string, holder: string): Promise<void> {
  await tx.deleteFrom('scan_queue').where('digest', '=', digest).where('claimed_by', '=', holder).execute();
}

export async function queuedScan(tx: Tx, digest: string): Promise<(QueuedScan & { claimedBy: string | null; claimedUntil: number; notBefore: number }) | undefined> {
  const r = await tx.selectFrom('scan_queue').selectAll().where('digest', '=', digest).executeTakeFirst();
  return r && {
    digest: r.digest, repository: r.repository, reason: r.reason, queuedAt: Number(r.queued_at), attempts: Number(r.attempts),
    claimedBy: r.claimed_by, claimedUntil: Number(r.claimed_until), notBefore: Number(r.not_before),
  };
}

export async function scanQueueLength(tx: Tx): Promise<number> {
  return Number((await tx.selectFrom('scan_queue').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

export type CatalogStatus = 'done' | 'failed' | 'skipped';

export interface CatalogRow {
  digest: string; mediaType: string; status: CatalogStatus; catalog: string | null; packages: number; error: string | null;
  scanner: string; scannedAt: number; durationMs: number; bytesRead: number;
}

/** Records a manifest's catalogue (replacing an earlier one). */
export async function saveCatalog(tx: Tx, c: CatalogRow): Promise<void> {
  const row = {
    digest: c.digest, media_type: c.mediaType, status: c.status, catalog: c.catalog, packages: c.packages, error: c.error,
    scanner: c.scanner, scanned_at: c.scannedAt, duration_ms: c.durationMs, bytes_read: c.bytesRead,
  };
  const { digest: _d, ...rest } = row;
  await tx.insertInto('image_catalogs').values(row).onConflict((oc) => oc.column('digest').doUpdateSet(rest)).execute();
}

export async function findCatalog(tx: Tx, digest: string): Promise<CatalogRow | undefined> {
  const r = await tx.selectFrom('image_catalogs').selectAll().where('digest', '=', digest).executeTakeFirst();
  return r && {
    digest: r.digest, mediaType: r.media_type, status: r.status as CatalogStatus, catalog: r.catalog, packages: Number(r.packages), error: r.error,
    scanner: r.scanner, scannedAt: Number(r.scanned_at), durationMs: Number(r.duration_ms), bytesRead: Number(r.bytes_read),
  };
}

/** The repositories that hold the manifest (its findings concern each of them). */
export async function repositoriesWithManifest(db: Tx, digest: string): Promise<string[]> {
  const rows = await db.selectFrom('manifests as m').innerJoin('repositories as r', 'r.id', 'm.repository_id').select('r.name').where('m.digest', '=', digest).orderBy('r.name').execute();
  return rows.map((r) => r.name);
}

/** Manifests (one repository each) without a catalogue by `scanner` or newer, in digest order after `after`. */
export async function manifestsToCatalogue(db: Tx, after: string | undefined, limit: number, all = false): Promise<{ digest: string; repository: string }[]> {
  const rows = await db.selectFrom('manifests as m').innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .leftJoin('image_catalogs as c', 'c.digest', 'm.digest')
    .select(['m.digest', (eb) => eb.fn.min('r.name').as('repository')])
    .$if(!all, (q) => q.where('c.digest', 'is', null))
    .$if(after !== undefined, (q) => q.where('m.digest', '>', after!))
    .groupBy('m.digest').orderBy('m.digest').limit(limit).execute();
  return rows.map((r) => ({ digest: r.digest, repository: String(r.repository) }));
}
