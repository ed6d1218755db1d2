// Runs one consumer (consumer.ts): reads the events after its cursor, hands them to it, moves the cursor.
// It holds the consumer's lease (table leases, `consumer:NAME`) while it runs, so that of several
// processes on one database one runs the consumer; a holder that dies stops renewing and another process
// takes over once the lease has expired. The cursor moves by compare-and-set, so even a holder that lost
// its lease while paused (and did not notice) cannot make a transactional consumer handle a batch twice.
//
// Events are read by id. On SQLite writers are serialized and ids are given in commit order, so an event
// committed later never has a lower id than one already read. (A PostgreSQL dialect will need to hold the
// reader back from ids of transactions still in flight.)
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MetadataStore, Tx } from '../db/database.js';
import { consumerCursor, ensureCursor, moveCursor, readCursor } from '../db/cursors.js';
import { eventsAfter, lastEventId, type EventRow } from '../db/events.js';
import { LeaseStore } from '../db/leases.js';
import type { BerthEvent, EventType } from './event.js';
import { selectedTypes, type ConsumedEvent, type EventConsumer } from './consumer.js';
import type { Outbox } from './outbox.js';

export interface RunnerOptions {
  /** who holds the lease: unique per runner (default host, pid and a random id) */
  holder?: string;
  /** lease lifetime; renewed when half of it is left. A dead holder blocks the consumer this long at most. */
  leaseMs?: number;
  /** idle poll interval (and how often a runner without the lease asks for it) */
  pollMs?: number;
  /** wakes the runner when an event is appended in this process */
  outbox?: Outbox;
  log?: Logger;
}

export interface StepResult {
  /** this runner holds the consumer's lease */
  held: boolean;
  /** events handed to the consumer */
  handled: number;
  /** outbox positions the cursor moved over (wanted or not) */
  passed: number;
}

/** Someone else moved the cursor during our step: what we did for that range must not commit. */
class CursorMoved extends Error {}

const toConsumed = (r: EventRow): ConsumedEvent => ({ seq: r.id, repository: r.repository, event: JSON.parse(r.payload) as BerthEvent });

export class ConsumerRunner {
  readonly holder: string;
  private readonly leases: LeaseStore;
  private readonly cursorName: string;
  private readonly leaseName: string;
  private readonly types: EventType[];
  private readonly leaseMs: number;
  private leaseUntil = 0;
  private cursorReady = false;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private nudged = false;
  private unsubscribe?: () => void;

  constructor(private readonly meta: MetadataStore, readonly consumer: EventConsumer, private readonly opts: RunnerOptions = {}) {
    this.holder = opts.holder ?? `${hostname()}/${process.pid}/${randomUUID()}`;
    this.leases = new LeaseStore(meta);
    this.cursorName = consumerCursor(consumer.name);
    this.leaseName = `consumer:${consumer.name}`;
    this.types = selectedTypes(consumer.wants);
    this.leaseMs = opts.leaseMs ?? 30_000;
  }

  /** Runs the consumer until stop(): a step whenever woken or every pollMs, at once again while there is more. */
  start(): void {
    this.stopped = false;
    this.unsubscribe = this.opts.outbox?.onAppend(() => this.nudge());
    this.loop = this.run();
  }

  /** Stops after the step in progress and gives the lease up, so another process need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    await this.release();
  }

  /** Wakes the loop soon (an event was just appended; its transaction commits right after). */
  nudge(): void {
    if (this.nudged) return;
    this.nudged = true;
    setTimeout(() => { this.nudged = false; this.wake?.(); }, 5);
  }

  /** Gives the lease up (when held). */
  async release(): Promise<void> {
    if (this.leaseUntil === 0) return;
    this.leaseUntil = 0;
    await this.leases.release(this.leaseName, this.holder);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let busy = false;
      try {
        busy = (await this.step()).passed > 0;
      } catch (e) {
        this.opts.log?.error({ err: e, consumer: this.consumer.name }, 'event consumer step failed; retrying');
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, busy ? 0 : this.opts.pollMs ?? 250);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  /** Takes or renews the lease when needed; true while this runner holds it. */
  private async hold(): Promise<boolean> {
    const now = Date.now();
    if (now < this.leaseUntil - this.leaseMs / 2) return true;
    if (await this.leases.acquire(this.leaseName, this.holder, this.leaseMs, now)) {
      this.leaseUntil = now + this.leaseMs;
      return true;
    }
    this.leaseUntil = 0;
    return false;
  }

  /** One batch: nothing unless this runner holds the lease. */
  async step(): Promise<StepResult> {
    if (!(await this.hold())) return { held: false, handled: 0, passed: 0 };
    if (!this.cursorReady) {
      const start = this.consumer.startAt === 'now' ? await lastEventId(this.meta.db) : 0;
      await this.meta.relaxed((db) => ensureCursor(db, this.cursorName, start));
      this.cursorReady = true;
    }
    // Idle steps are reads only: no write transaction unless there is something after the cursor.
    const cursor = (await readCursor(this.meta.db, this.cursorName)) ?? 0;
    if ((await lastEventId(this.meta.db)) <= cursor) return { held: true, handled: 0, passed: 0 };
    const c = this.consumer;
    if (c.mode === 'transaction') {
      try {
        // Relaxed (no fsync): a commit lost to a power failure loses the handler's writes with the cursor move.
        return await this.meta.relaxedTransaction(async (tx) => {
          const batch = await this.batch(tx);
          if (!batch) return { held: true, handled: 0, passed: 0 };
          if (batch.events.length > 0) await c.handle(tx, batch.events);
          if (!(await moveCursor(tx, this.cursorName, batch.from, batch.to))) throw new CursorMoved();
          return { held: true, handled: batch.events.length, passed: batch.to - batch.from };
        });
      } catch (e) {
        if (!(e instanceof CursorMoved)) throw e;
        this.opts.log?.warn({ consumer: c.name }, 'event consumer cursor moved by another holder; batch rolled back');
        this.leaseUntil = 0;
        return { held: false, handled: 0, passed: 0 };
      }
    }
    const batch = await this.batch(this.meta.db);
    if (!batch) return { held: true, handled: 0, passed: 0 };
    if (batch.events.length > 0) await c.handle(batch.events);
    if (!(await this.meta.relaxed((db) => moveCursor(db, this.cursorName, batch.from, batch.to)))) {
      this.opts.log?.warn({ consumer: c.name }, 'event consumer cursor moved by another holder; this batch was handled twice');
      this.leaseUntil = 0;
      return { held: false, handled: batch.events.length, passed: 0 };
    }
    return { held: true, handled: batch.events.length, passed: batch.to - batch.from };
  }

  /**
   * The next batch after the cursor: the wanted events and the position the cursor moves to — past
   * unwanted events too, so that a consumer of rare types does not hold the outbox's pruning back.
   */
  private async batch(db: Tx): Promise<{ from: number; to: number; events: ConsumedEvent[] } | null> {
    const from = (await readCursor(db, this.cursorName)) ?? 0;
    const head = await lastEventId(db);
    if (head <= from) return null;
    const limit = this.consumer.batchSize ?? 500;
    const rows = await eventsAfter(db, from, { upTo: head, types: this.types, limit });
    const to = rows.length === limit ? rows[rows.length - 1].id : head;
    return { from, to, events: rows.map(toConsumed) };
  }
}
