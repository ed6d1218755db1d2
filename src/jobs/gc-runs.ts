// Garbage collection started from the API: runs in this process, its progress kept in memory so the UI
// can show it (and the last few runs) without freezing.
import { randomUUID } from 'node:crypto';
import type { GarbageCollector, GcReport } from '../registry/garbage-collector.js';

export interface GcRun {
  id: string;
  state: 'running' | 'done' | 'failed';
  dryRun: boolean;
  startedAt: number;
  finishedAt: number | null;
  progress: { phase: string; fields: Record<string, unknown> };
  report: GcReport | null;
  error: string | null;
}

export class GcRuns {
  private readonly runs = new Map<string, GcRun>();

  constructor(private readonly gc: GarbageCollector, private readonly opts: { graceSeconds: number; uploadExpirySeconds: number }) {}

  /** Starts a run unless one is going; returns the run either way. */
  start(dryRun: boolean, onDone?: (run: GcRun) => void): GcRun {
    const going = [...this.runs.values()].find((r) => r.state === 'running');
    if (going) return going;
    const run: GcRun = { id: randomUUID(), state: 'running', dryRun, startedAt: Date.now(), finishedAt: null, progress: { phase: 'starting', fields: {} }, report: null, error: null };
    this.runs.set(run.id, run);
    for (const old of [...this.runs.values()].slice(0, -10)) this.runs.delete(old.id);
    void this.gc.run({ dryRun, graceSeconds: this.opts.graceSeconds, uploadExpirySeconds: this.opts.uploadExpirySeconds, progress: (phase, fields) => { run.progress = { phase, fields }; } })
      .then((report) => { run.state = 'done'; run.report = report; run.progress = { phase: 'finished', fields: {} }; })
      .catch((e: Error) => { run.state = 'failed'; run.error = e.message; })
      .finally(() => { run.finishedAt = Date.now(); onDone?.(run); });
    return run;
  }

  get(id: string): GcRun | undefined {
    return this.runs.get(id);
  }

  list(): GcRun[] {
    return [...this.runs.values()].reverse();
  }
}
