// Runs of background jobs: queued, running (with holder and progress), and their history. Every process
// reads the same rows, so a run started from the API in one process can be followed from another.
// State changes of a run are conditional on its holder: a process that lost a job's lease (and whose run
// another process recovered) cannot overwrite what the new holder wrote.
import { randomUUID } from 'node:crypto';
import type { MetadataStore } from './database.js';
import type { JobRunsTable } from './schema.js';

export type JobRunState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export type JobTrigger = 'schedule' | 'queue' | 'service';
export interface JobProgress { phase: string; fields: Record<string, unknown> }

export interface JobRun {
  id: string;
  job: string;
  trigger: JobTrigger;
  state: JobRunState;
  params: unknown;
  /** 1 for the first attempt */
  attempt: number;
  maxAttempts: number;
  notBefore: number;
  holder: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  progress: JobProgress | null;
  progressAt: number | null;
  result: unknown;
  error: string | null;
  cancelRequested: boolean;
}

const FINISHED: JobRunState[] = ['done', 'failed', 'cancelled'];

function json(text: string | null): unknown {
  if (text === null) return null;
  try { return JSON.parse(text); } catch { return null; }
}

function toRun(r: JobRunsTable): JobRun {
  return {
    id: r.id, job: r.job, trigger: r.trigger as JobTrigger, state: r.state as JobRunState, params: json(r.params),
    attempt: Number(r.attempt), maxAttempts: Number(r.max_attempts), notBefore: Number(r.not_before), holder: r.holder,
    createdAt: Number(r.created_at), startedAt: r.started_at === null ? null : Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at), progress: json(r.progress) as JobProgress | null,
    progressAt: r.progress_at === null ? null : Number(r.progress_at), result: json(r.result), error: r.error,
    cancelRequested: Number(r.cancel_requested) !== 0,
  };
}

const stringify = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

// Runs made in one millisecond would tie on created_at and "newest" would fall to the random id; a clock
// that never repeats within this process keeps creation order (history listing, pruning, claim order).
let lastCreated = 0;
function creationTime(): number {
  lastCreated = Math.max(Date.now(), lastCreated + 1);
  return lastCreated;
}

export class JobRuns {
  constructor(private readonly meta: MetadataStore) {}

  /**
   * Queues a run (durably: the caller was told it will happen). With `unique`, a run of the same job that
   * is already queued or running is returned instead (created false). One statement checks and inserts,
   * so two processes cannot both queue one, and no write lock is held across awaits.
   */
  async enqueue(job: string, opts: { params?: unknown; maxAttempts: number; notBefore?: number; unique?: boolean }, now = creationTime()): Promise<{ run: JobRun; created: boolean }> {
    const row: JobRunsTable = {
      id: randomUUID(), job, trigger: 'queue', state: 'queued', params: stringify(opts.params), attempt: 1, max_attempts: opts.maxAttempts,
      not_before: opts.notBefore ?? now, holder: null, created_at: now, started_at: null, finished_at: null, progress: null, progress_at: null,
      result: null, error: null, cancel_requested: 0,
    };
    if (!opts.unique) {
      await this.meta.db.insertInto('job_runs').values(row).execute();
      return { run: toRun(row), created: true };
    }
    for (;;) {
      const cols = Object.keys(row) as (keyof JobRunsTable)[];
      const res = await this.meta.db.insertInto('job_runs').columns(cols)
        .expression(this.meta.db.selectNoFrom((eb) => cols.map((c) => eb.val(row[c]).as(c)))
          .where((eb) => eb.not(eb.exists(eb.selectFrom('job_runs').select('id').where('job', '=', job).where('state', 'in', ['queued', 'running'])))))
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) return { run: toRun(row), created: true };
      const going = await this.meta.db.selectFrom('job_runs').selectAll().where('job', '=', job).where('state', 'in', ['queued', 'running'])
        .orderBy('created_at').limit(1).executeTakeFirst();
      if (going) return { run: toRun(going), created: false };
      // It ended between the two statements: try again.
    }
  }

  /** Records a run that starts now in this holder (a periodic run, or a service taking its lease). */
  async begin(job: string, trigger: 'schedule' | 'service', holder: string, maxAttempts: number, now = creationTime()): Promise<JobRun> {
    const row: JobRunsTable = {
      id: randomUUID(), job, trigger, state: 'running', params: null, attempt: 1, max_attempts: maxAttempts, not_before: now, holder,
      created_at: now, started_at: now, finished_at: null, progress: null, progress_at: null, result: null, error: null, cancel_requested: 0,
    };
    await this.meta.relaxed((db) => db.insertInto('job_runs').values(row).execute());
    return toRun(row);
  }

  /** Takes the oldest queued run of `job` that may start now; undefined when none (or another claimed it first). */
  async claimNext(job: string, holder: string, now = Date.now()): Promise<JobRun | undefined> {
    const next = await this.meta.db.selectFrom('job_runs').select('id').where('job', '=', job).where('state', '=', 'queued')
      .where('not_before', '<=', now).orderBy('not_before').orderBy('created_at').limit(1).executeTakeFirst();
    if (!next) return undefined;
    const r = await this.meta.relaxed((db) => db.updateTable('job_runs')
      .set({ state: 'running', holder, started_at: now, finished_at: null, progress: null, progress_at: null, error: null })
      .where('id', '=', next.id).where('state', '=', 'queued').executeTakeFirst());
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(next.id);
  }

  /** When the next queued run of `job` may start (the earliest not_before), if any is queued. */
  async nextQueued(job: string): Promise<number | undefined> {
    const r = await this.meta.db.selectFrom('job_runs').select((eb) => eb.fn.min('not_before').as('at'))
      .where('job', '=', job).where('state', '=', 'queued').executeTakeFirst();
    return r?.at === null || r?.at === undefined ? undefined : Number(r.at);
  }

  /** The newest periodic run of `job`, by any process. */
  async lastScheduled(job: string): Promise<JobRun | undefined> {
    const r = await this.meta.db.selectFrom('job_runs').selectAll().where('job', '=', job).where('trigger', '=', 'schedule')
      .orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    return r && toRun(r);
  }

  async progress(id: string, holder: string, progress: JobProgress, now = Date.now()): Promise<boolean> {
    const r = await this.meta.relaxed((db) => db.updateTable('job_runs').set({ progress: JSON.stringify(progress), progress_at: now })
      .where('id', '=', id).where('holder', '=', holder).where('state', '=', 'running').executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /** Ends a run this holder is running: done, failed or cancelled. False when it is not this holder's any more. */
  async finish(id: string, holder: string, end: { state: 'done' | 'failed' | 'cancelled'; result?: unknown; error?: string | null; progress?: JobProgress }, now = Date.now()): Promise<boolean> {
    const r = await this.meta.relaxed((db) => db.updateTable('job_runs')
      .set({ state: end.state, result: stringify(end.result), error: end.error ?? null, finished_at: now,
        ...(end.progress ? { progress: JSON.stringify(end.progress), progress_at: now } : {}) })
      .where('id', '=', id).where('holder', '=', holder).where('state', '=', 'running').executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Puts a run this holder was running back in the queue: a retry (attempt counted, after a delay) or a run
   * interrupted by a clean stop (same attempt, at once), for whichever process holds the lease next.
   */
  async requeue(id: string, holder: string, next: { attempt: number; notBefore: number; error?: string | null }): Promise<boolean> {
    const r = await this.meta.relaxed((db) => db.updateTable('job_runs')
      .set({ state: 'queued', holder: null, attempt: next.attempt, not_before: next.notBefore, error: next.error ?? null })
      .where('id', '=', id).where('holder', '=', holder).where('state', '=', 'running').executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /** Runs of `job` marked running by another holder: after taking the job's lease, these are abandoned. */
  async runningElsewhere(job: string, holder: string): Promise<JobRun[]> {
    const rows = await this.meta.db.selectFrom('job_runs').selectAll().where('job', '=', job).where('state', '=', 'running')
      .where('holder', '!=', holder).execute();
    return rows.map(toRun);
  }

  /** Cancels a queued run (true), or asks the holder of a running one to stop (true); false when it already ended. */
  async cancel(id: string, now = Date.now()): Promise<boolean> {
    return this.meta.relaxed(async (db) => {
      const q = await db.updateTable('job_runs').set({ state: 'cancelled', finished_at: now, error: 'cancelled before it started' })
        .where('id', '=', id).where('state', '=', 'queued').executeTakeFirst();
      if (Number(q.numUpdatedRows) > 0) return true;
      const r = await db.updateTable('job_runs').set({ cancel_requested: 1 }).where('id', '=', id).where('state', '=', 'running').executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
  }

  /** Of these running runs, the ones someone asked to cancel. */
  async cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.meta.db.selectFrom('job_runs').select('id').where('id', 'in', ids).where('cancel_requested', '=', 1).execute();
    return rows.map((r) => r.id);
  }

  async get(id: string): Promise<JobRun | undefined> {
    const r = await this.meta.db.selectFrom('job_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toRun(r);
  }

  /** Runs of a job, newest first. */
  async list(job: string, n = 20): Promise<JobRun[]> {
    const rows = await this.meta.db.selectFrom('job_runs').selectAll().where('job', '=', job).orderBy('created_at', 'desc').orderBy('id').limit(n).execute();
    return rows.map(toRun);
  }

  /**
   * Keeps history bounded: finished runs older than `before` go, and of each job only the newest `keep`
   * finished runs stay. Queued and running runs are never pruned. Returns how many were removed.
   */
  async prune(opts: { before: number; keep: number }): Promise<number> {
    return this.meta.relaxed(async (db) => {
      let removed = Number((await db.deleteFrom('job_runs').where('state', 'in', FINISHED).where('finished_at', '<', opts.before).executeTakeFirst()).numDeletedRows);
      const jobs = await db.selectFrom('job_runs').select('job').distinct().execute();
      for (const { job } of jobs) {
        const beyond = await db.selectFrom('job_runs').select('id').where('job', '=', job).where('state', 'in', FINISHED)
          .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(10_000).offset(opts.keep).execute();
        for (let i = 0; i < beyond.length; i += 500) {
          const r = await db.deleteFrom('job_runs').where('id', 'in', beyond.slice(i, i + 500).map((b) => b.id)).executeTakeFirst();
          removed += Number(r.numDeletedRows);
        }
      }
      return removed;
    });
  }
}
