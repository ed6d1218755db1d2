// Garbage collection runs as the API and the UI see them: the "gc" job of the runtime, its runs (started
// from the API or on gc.interval) kept in the database, so any process can start one, and follow or list
// the runs of every process.
import type { JobRun, Scheduler } from './scheduler.js';

export const GC_JOB = 'gc';

export interface GcRun {
  id: string;
  state: 'running' | 'done' | 'failed';
  dryRun: boolean;
  startedAt: number;
  finishedAt: number | null;
  progress: { phase: string; fields: Record<string, unknown> };
  report: Record<string, unknown> | null;
  error: string | null;
}

/** The parameters of a queued "gc" run. */
export interface GcParams { dryRun?: boolean; requestedBy?: Record<string, unknown> }

export function gcRunView(run: JobRun): GcRun {
  const params = (run.params ?? {}) as GcParams;
  const state = run.state === 'done' ? 'done' : run.state === 'failed' || run.state === 'cancelled' ? 'failed' : 'running';
  let progress = run.progress ?? { phase: 'starting', fields: {} };
  if (run.state === 'done') progress = { phase: 'finished', fields: {} };
  else if (run.state === 'queued') progress = run.attempt > 1 ? { phase: `waiting to retry (attempt ${run.attempt} of ${run.maxAttempts})`, fields: { error: run.error } } : { phase: 'queued', fields: {} };
  return {
    id: run.id, state, dryRun: params.dryRun ?? false, startedAt: run.startedAt ?? run.createdAt, finishedAt: run.finishedAt, progress,
    report: run.state === 'done' && run.result && typeof run.result === 'object' ? run.result as Record<string, unknown> : null,
    error: state === 'failed' ? (run.error ?? run.state) : null,
  };
}

export class GcRuns {
  constructor(private readonly jobs: Scheduler) {}

  /** Queues a run unless one is queued or running (in any process); returns the run either way. */
  async start(dryRun: boolean, requestedBy?: Record<string, unknown>): Promise<GcRun> {
    const params: GcParams = { dryRun, requestedBy };
    const { run } = await this.jobs.enqueue(GC_JOB, params, { unique: true });
    return gcRunView(run);
  }

  async get(id: string): Promise<GcRun | undefined> {
    const run = await this.jobs.get(id);
    return run && run.job === GC_JOB ? gcRunView(run) : undefined;
  }

  /** The latest runs, newest first. */
  async list(n = 10): Promise<GcRun[]> {
    return (await this.jobs.list(GC_JOB, n)).map(gcRunView);
  }
}
