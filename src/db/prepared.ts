// Hot-path queries compiled once: building and compiling a Kysely query costs more than running a
// point lookup. Values are bound by name at run time; the SQL stays dialect-neutral Kysely output.
import { CompiledQuery, type Compilable } from 'kysely';
import type { Tx } from './database.js';

const MARK = '\u0000berth-param:';

/**
 * Set by a dialect whose driver can answer a read synchronously (SQLite, on its reader connection, which
 * never sees a transaction's uncommitted writes): the rows, or undefined when it cannot right now (the
 * reader was busy). Skips the driver's connection queue and two promise turns.
 */
export const SYNC_READ = Symbol('berth.syncRead');
export type SyncRead = (sql: string, params: readonly unknown[]) => unknown[] | undefined;

/** A placeholder to pass where a value goes while building the query. */
export const param = (name: string): string => `${MARK}${name}`;

export class PreparedQuery<R> {
  private compiled?: { sql: string; slots: (string | { value: unknown })[] };

  constructor(private readonly build: () => Compilable<R>) {}

  async execute(db: Tx, values: Record<string, unknown>): Promise<R[]> {
    if (!this.compiled) {
      const c = this.build().compile();
      this.compiled = {
        sql: c.sql,
        slots: c.parameters.map((p) => (typeof p === 'string' && p.startsWith(MARK) ? p.slice(MARK.length) : { value: p })),
      };
    }
    const params = this.compiled.slots.map((s) => {
      if (typeof s !== 'string') return s.value;
      if (!(s in values)) throw new Error(`missing query parameter ${s}`);
      return values[s];
    });
    const now = (db as { [SYNC_READ]?: SyncRead })[SYNC_READ]?.(this.compiled.sql, params);
    if (now) return now as R[];
    const res = await db.executeQuery<R>(CompiledQuery.raw(this.compiled.sql, params));
    return res.rows;
  }

  async first(db: Tx, values: Record<string, unknown>): Promise<R | undefined> {
    return (await this.execute(db, values))[0];
  }
}
