// Leases: one holder per name at a time, until the lease expires. Background jobs and event consumers
// take one so that several processes on one database run each of them once; a holder that dies stops
// renewing and another process takes over once `until` has passed.
import type { MetadataStore } from './database.js';

export interface LeaseRow { name: string; holder: string; until: number; acquiredAt: number }

export class LeaseStore {
  constructor(private readonly meta: MetadataStore) {}

  /** Takes the lease when it is free, expired or already ours (then it is extended); true when held. */
  async acquire(name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    // Losing a lease write to a power failure is harmless: every process restarts and takes leases anew.
    const row = await this.meta.relaxed((db) => db.insertInto('leases')
      .values({ name, holder, until: now + ttlMs, acquired_at: now })
      .onConflict((oc) => oc.column('name')
        .doUpdateSet((eb) => ({
          holder: eb.ref('excluded.holder'),
          until: eb.ref('excluded.until'),
          acquired_at: eb.case().when('leases.holder', '=', holder).then(eb.ref('leases.acquired_at')).else(eb.ref('excluded.acquired_at')).end(),
        }))
        .where((eb) => eb.or([eb('leases.until', '<', now), eb('leases.holder', '=', holder)])))
      .returning('holder')
      .executeTakeFirst());
    return row?.holder === holder;
  }

  /** Extends a lease this holder still has; false when it expired and someone else took it (or nobody holds it). */
  async renew(name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    const r = await this.meta.relaxed((db) => db.updateTable('leases').set({ until: now + ttlMs })
      .where('name', '=', name).where('holder', '=', holder).executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Takes a lease from a holder known to be dead (its process is gone) without waiting for it to expire;
   * false when `from` no longer holds it (it renewed after all, or a third process was quicker).
   */
  async takeOver(name: string, from: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    const r = await this.meta.relaxed((db) => db.updateTable('leases').set({ holder, until: now + ttlMs, acquired_at: now })
      .where('name', '=', name).where('holder', '=', from).executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /** Gives the lease up at once (a clean stop), so another process need not wait for it to expire. */
  async release(name: string, holder: string): Promise<void> {
    await this.meta.relaxed((db) => db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute());
  }

  async get(name: string): Promise<LeaseRow | undefined> {
    const r = await this.meta.db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
    return r && { name: r.name, holder: r.holder, until: Number(r.until), acquiredAt: Number(r.acquired_at) };
  }

  async list(): Promise<LeaseRow[]> {
    const rows = await this.meta.db.selectFrom('leases').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, holder: r.holder, until: Number(r.until), acquiredAt: Number(r.acquired_at) }));
  }
}
