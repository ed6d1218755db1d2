// Positions of background readers (table cursors): event consumers (named `consumer:NAME`, over event
// ids) and the syslog forwarder (over audit sequence numbers). One more row, `probe:write`, is no reader's:
// readiness moves it to see whether the database takes writes. `access` is the access generation (below).
import type { Tx } from './database.js';

/** The cursor name of an event consumer; pruning the outbox looks at exactly these. */
export const consumerCursor = (consumer: string) => `consumer:${consumer}`;
const CONSUMERS_FROM = 'consumer:';
const CONSUMERS_TO = 'consumer;'; // ';' follows ':' in byte order: the range holds exactly the consumer cursors

export async function readCursor(db: Tx, name: string): Promise<number | undefined> {
  const r = await db.selectFrom('cursors').select('value').where('name', '=', name).executeTakeFirst();
  return r ? Number(r.value) : undefined;
}

/** Creates the cursor at `value` unless it exists; returns its value. */
export async function ensureCursor(db: Tx, name: string, value: number): Promise<number> {
  await db.insertInto('cursors').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute();
  return (await readCursor(db, name)) ?? value;
}

/** Sets the cursor to `value`, creating it if needed (a single reader that needs no compare and set). */
export async function setCursor(db: Tx, name: string, value: number): Promise<void> {
  await db.insertInto('cursors').values({ name, value }).onConflict((oc) => oc.column('name').doUpdateSet({ value })).execute();
}

/**
 * Moves the cursor from `from` to `to` only if it is still at `from` (compare and set): false when someone
 * else moved it meanwhile, and the caller's transaction must not commit what it did for that range.
 */
export async function moveCursor(db: Tx, name: string, from: number, to: number): Promise<boolean> {
  const r = await db.updateTable('cursors').set({ value: to }).where('name', '=', name).where('value', '=', from).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The event consumers' cursors, by consumer name. */
export async function consumerCursors(db: Tx): Promise<Map<string, number>> {
  const rows = await db.selectFrom('cursors').select(['name', 'value']).where('name', '>=', CONSUMERS_FROM).where('name', '<', CONSUMERS_TO).execute();
  return new Map(rows.map((r) => [r.name.slice(CONSUMERS_FROM.length), Number(r.value)]));
}

const WRITE_PROBE = 'probe:write';

/** The readiness probe's write: one small row moved to `now` (a real write, which a full or read-only database refuses). */
export async function probeWrite(db: Tx, now: number): Promise<void> {
  await setCursor(db, WRITE_PROBE, now);
}

/** The cursor every change to roles, memberships, visibility or administrators moves. */
export const ACCESS_CURSOR = 'access';

/**
 * Moves the access generation, in the transaction of a change to who may do what, so that every process
 * sees the change and the new generation together: bearer tokens minted before it are decided afresh.
 */
export async function bumpAccessGeneration(tx: Tx): Promise<void> {
  await tx.updateTable('cursors').set((eb) => ({ value: eb('value', '+', 1) })).where('name', '=', ACCESS_CURSOR).execute();
}
