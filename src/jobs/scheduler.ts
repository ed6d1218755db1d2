// The job runtime: named periodic jobs, queued jobs (enqueued with parameters), services (work that runs
// for as long as a process holds its lease) and per-process housekeeping. Every job and service has a
// lease in the database, so that several processes on one database run each of them once: the holder
// renews it while it runs, releases it at a clean stop, and a dead holder's lease expires after its TTL
// (or at once, when the holder was a process on this machine that no longer exists). Runs, their
// progress, results and errors are rows in job_runs, visible from every process.
import { readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MetadataStore } from '../db/database.js';
import { JobRuns, type JobProgress, type JobRun } from '../db/job-runs.js';
import { LeaseStore } from '../db/leases.js';

export type { JobRun, JobProgress } from '../db/job-runs.js';

export interface JobContext {
  runId: string;
  job: string;
  params: unknown;
  /** 1 for the first attempt */
  attempt: number;
  /** aborted when the run must stop: a clean stop of the process, a cancellation, or the lease lost */
  signal: AbortSignal;
  /** Reports progress; written to the database at a bounded rate (the last report always is). */
  progress(phase: string, fields?: Record<string, unknown>): void;
}

export interface Backoff { baseMs: number; maxMs: number }

export interface JobDefinition {
  name: string;
  /** Periodic: at least this many ms between the end of one scheduled run and the next (in any process). */
  every?: number;
  /** With `every`: when the history holds no run within `every`, the first run starts at once. */
  runAtStart?: boolean;
  /** One last run at a clean stop, by the process that holds the lease (e.g. a final audit checkpoint). */
  runAtStop?: boolean;
  /** Attempts per run, the first included (default 1: no retry). */
  maxAttempts?: number;
  /** Delay before a retry: exponential from baseMs, capped at maxMs, with jitter. */
  backoff?: Backoff;
  /** Returns the run's result (stored as JSON). */
  run(ctx: JobContext): Promise<unknown>;
  /** Called with the run's final outcome (done, cancelled, or failed with no attempt left) before it is stored. */
  onFinish?(run: JobRun): Promise<void> | void;
}

export interface ServiceDefinition {
  name: string;
  /**
   * Runs for as long as this process holds the lease; must return soon after `signal` aborts. Returning
   * before that, or throwing, restarts it after a backoff.
   */
  run(signal: AbortSignal): Promise<void>;
  backoff?: Backoff;
}

/** Per-process housekeeping (caches of this process): no lease, no history. */
export interface LocalJobDefinition {
  name: string;
  every: number;
  /** `signal` aborts when the process stops: a long run (a scan) returns soon after */
  run(signal: AbortSignal): Promise<unknown>;
}

export interface SchedulerOptions {
  /** identifies this process in leases and runs; default host, pid namespace, pid and a random part */
  holder?: string;
  /** a lease not renewed for this long is free for another process (default 15 s) */
  leaseTtlMs?: number;
  /** how often leases are renewed and free ones looked for (default a third of the TTL) */
  renewMs?: number;
  /** how often a holder looks for runs queued by other processes (default 1 s) */
  pollMs?: number;
  /** runs of different jobs at once in this process (default 2; services and per-process jobs do not count) */
  concurrency?: number;
  /** at most one progress write per run per this many ms (default 1 s) */
  progressIntervalMs?: number;
  /** history kept: finished runs younger than this (default 14 days), and at most `keep` per job (default 200) */
  history?: { maxAgeMs?: number; keep?: number };
  log?: Logger;
}

const DEFAULT_BACKOFF: Backoff = { baseMs: 5000, maxMs: 300_000 };

/** Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped at max. */
export function retryDelay(attempt: number, b: Backoff): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function pidNamespace(): string {
  try { return readlinkSync('/proc/self/ns/pid').replace(/\D/g, ''); } catch { return ''; }
}

const PID_NS = pidNamespace();
const HOST = hostname();

/** A holder name that says where it runs: host, pid namespace and pid, and a random part. */
export function holderName(): string {
  return `${HOST}/${PID_NS || '-'}/${process.pid}/${randomBytes(4).toString('hex')}`;
}

/**
 * True when the holder was a process of this machine (same host name and pid namespace) that is gone.
 * A live process with that pid (maybe another one, reusing it) counts as alive: then the lease expires.
 */
export function holderIsGone(holder: string): boolean {
  const [host, ns, pidText] = holder.split('/');
  const pid = Number(pidText);
  if (!PID_NS || host !== HOST || ns !== PID_NS || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

type StopReason = 'stop' | 'cancel' | 'lease' | 'halt';

interface Active { run: JobRun; controller: AbortController; reason?: StopReason; done: Promise<void> }

interface Slot {
  name: string;
  job?: JobDefinition;
  service?: ServiceDefinition;
  held: boolean;
  active?: Active;
  serviceRun?: Active;
  wake?: () => void;
  loop?: Promise<void>;
  lastRenewed: number;
  /** the message of the step failure last logged: a database that stays read-only is logged once, not every poll */
  failing?: string;
}

export class Scheduler {
  readonly holder: string;
  readonly runs: JobRuns;
  readonly leases: LeaseStore;
  private readonly slots = new Map<string, Slot>();
  private readonly locals: LocalJobDefinition[] = [];
  private readonly localLoops: Promise<void>[] = [];
  private readonly localWake = new Set<() => void>();
  private readonly ttl: number;
  private readonly renewMs: number;
  private readonly pollMs: number;
  private readonly progressMs: number;
  private readonly concurrency: number;
  private readonly history: { maxAgeMs: number; keep: number };
  private readonly log?: Logger;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private renewTimer?: NodeJS.Timeout;
  private started = false;
  private startedAt = 0;
  private stopping = false;
  /** aborted when the runtime stops: per-process jobs end their runs */
  private readonly localStop = new AbortController();
  private halted = false;

  constructor(meta: MetadataStore, opts: SchedulerOptions = {}) {
    this.holder = opts.holder ?? holderName();
    this.runs = new JobRuns(meta);
    this.leases = new LeaseStore(meta);
    this.ttl = opts.leaseTtlMs ?? 15_000;
    this.renewMs = opts.renewMs ?? Math.max(10, Math.floor(this.ttl / 3));
    this.pollMs = opts.pollMs ?? 1000;
    this.progressMs = opts.progressIntervalMs ?? 1000;
    this.concurrency = Math.max(1, opts.concurrency ?? 2);
    this.history = { maxAgeMs: opts.history?.maxAgeMs ?? 14 * 86_400_000, keep: opts.history?.keep ?? 200 };
    this.log = opts.log;
    // The history is pruned by a job of its own, run by one process.
    this.define({ name: 'jobs.prune-history', every: 3600_000, runAtStart: true, run: async () => ({ removed: await this.runs.prune({ before: Date.now() - this.history.maxAgeMs, keep: this.history.keep }) }) });
  }

  define(def: JobDefinition): this {
    this.add({ name: def.name, job: def, held: false, lastRenewed: 0 });
    return this;
  }

  service(def: ServiceDefinition): this {
    this.add({ name: def.name, service: def, held: false, lastRenewed: 0 });
    return this;
  }

  perProcess(def: LocalJobDefinition): this {
    if (this.started) throw new Error('define jobs before start()');
    this.locals.push(def);
    return this;
  }

  private add(slot: Slot): void {
    if (this.started) throw new Error('define jobs before start()');
    if (this.slots.has(slot.name)) throw new Error(`job ${slot.name} is defined twice`);
    this.slots.set(slot.name, slot);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    for (const slot of this.slots.values()) slot.loop = this.loop(slot);
    for (const l of this.locals) this.localLoops.push(this.localLoop(l));
    this.renewTimer = setInterval(() => void this.renewAll(), this.renewMs);
  }

  /** Whether this process holds the job's lease right now. */
  holds(name: string): boolean {
    return this.slots.get(name)?.held ?? false;
  }

  /**
   * Queues a run of `name` with parameters, for whichever process holds its lease. With `unique`, a run
   * of that job already queued or running is returned instead (created: false).
   */
  async enqueue(name: string, params?: unknown, opts: { unique?: boolean; notBefore?: number } = {}): Promise<{ run: JobRun; created: boolean }> {
    const def = this.slots.get(name)?.job;
    const res = await this.runs.enqueue(name, { params, maxAttempts: def?.maxAttempts ?? 1, unique: opts.unique, notBefore: opts.notBefore });
    this.slots.get(name)?.wake?.();
    return res;
  }

  get(id: string): Promise<JobRun | undefined> {
    return this.runs.get(id);
  }

  list(name: string, n = 20): Promise<JobRun[]> {
    return this.runs.list(name, n);
  }

  /** Cancels a queued run, or stops a running one (here at once; in another process at its next lease renewal). */
  async cancel(id: string): Promise<boolean> {
    for (const slot of this.slots.values()) {
      if (slot.active?.run.id === id) { this.abort(slot.active, 'cancel'); return true; }
    }
    return this.runs.cancel(id);
  }

  /**
   * Stops at a clean shutdown: no new runs; services stop; running jobs get `graceMs` to finish, then
   * their signal aborts and stop() waits for them (an interrupted queued run goes back to the queue for
   * another process). Jobs marked runAtStop run once more, then the leases are released. Resolves when
   * nothing of the runtime touches the database any more.
   */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.started) return;
    this.localStop.abort(new Error('stopping'));
    for (const w of this.localWake) w();
    for (const slot of this.slots.values()) {
      slot.wake?.();
      if (slot.serviceRun) this.abort(slot.serviceRun, 'stop');
    }
    const pending = () => [...this.slots.values()].flatMap((s) => (s.active ? [s.active.done] : []));
    if ((opts.graceMs ?? 0) > 0 && pending().length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending()), new Promise((r) => { timer = setTimeout(r, opts.graceMs); })]);
      clearTimeout(timer);
    }
    for (const slot of this.slots.values()) if (slot.active) this.abort(slot.active, 'stop');
    await Promise.all([...this.slots.values()].map((s) => s.loop));
    await Promise.all(this.localLoops);
    for (const slot of this.slots.values()) {
      if (!slot.held || !slot.job?.runAtStop) continue;
      try {
        const run = await this.runs.begin(slot.name, 'schedule', this.holder, 1);
        await this.execute(slot, run);
      } catch (e) {
        this.log?.error({ err: e, job: slot.name }, 'final run of a job failed');
      }
    }
    clearInterval(this.renewTimer);
    for (const slot of this.slots.values()) {
      if (!slot.held) continue;
      slot.held = false;
      await this.leases.release(slot.name, this.holder).catch((e) => this.log?.warn({ err: e, job: slot.name }, 'lease not released'));
    }
  }

  /**
   * Stops at once, as a killed process would: leases are not released, runs are left as they are (their
   * signals abort, and nothing more is written), nothing is waited for. For tests that stand for a
   * process dying.
   */
  halt(): void {
    this.halted = true;
    this.stopping = true;
    clearInterval(this.renewTimer);
    this.localStop.abort(new Error('halted'));
    for (const w of this.localWake) w();
    for (const slot of this.slots.values()) {
      slot.wake?.();
      if (slot.active) this.abort(slot.active, 'halt');
      if (slot.serviceRun) this.abort(slot.serviceRun, 'halt');
    }
  }

  private abort(a: Active, reason: StopReason): void {
    if (a.controller.signal.aborted) return;
    a.reason = reason;
    a.controller.abort(new Error(`job ${a.run.job}: ${reason === 'lease' ? 'lease lost' : reason === 'cancel' ? 'cancelled' : 'stopping'}`));
  }

  private sleep(slot: Slot, ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => { slot.wake = undefined; resolve(); }, Math.max(0, ms));
      slot.wake = () => { clearTimeout(t); slot.wake = undefined; resolve(); };
    });
  }

  private async slotFree(): Promise<void> {
    while (this.running >= this.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
  }

  private releaseSlot(): void {
    this.running--;
    this.waiting.shift()?.();
  }

  // ---- leases ----

  private async tryAcquire(slot: Slot): Promise<boolean> {
    const now = Date.now();
    const current = await this.leases.get(slot.name);
    let got = false;
    if (!current || current.until < now || current.holder === this.holder) {
      got = await this.leases.acquire(slot.name, this.holder, this.ttl, now);
    } else if (holderIsGone(current.holder)) {
      got = await this.leases.takeOver(slot.name, current.holder, this.holder, this.ttl, now);
      if (got) this.log?.info({ job: slot.name, from: current.holder }, 'job taken over from a process that is gone');
    }
    if (!got) return false;
    slot.held = true;
    slot.lastRenewed = now;
    await this.recover(slot);
    return true;
  }

  /** Runs left "running" by a previous holder that died: a failed attempt, retried when attempts remain. */
  private async recover(slot: Slot): Promise<void> {
    for (const run of await this.runs.runningElsewhere(slot.name, this.holder)) {
      const error = `the process running it (${run.holder}) stopped before it finished`;
      const def = slot.job;
      if (def && run.trigger !== 'service' && run.attempt < run.maxAttempts) {
        await this.runs.requeue(run.id, run.holder!, { attempt: run.attempt + 1, notBefore: Date.now() + retryDelay(run.attempt, def.backoff ?? DEFAULT_BACKOFF), error });
        continue;
      }
      const final = { ...run, state: 'failed' as const, error, finishedAt: Date.now() };
      if (def?.onFinish && run.trigger !== 'service') await this.finishHook(def, final);
      await this.runs.finish(run.id, run.holder!, { state: 'failed', error });
      this.log?.warn({ job: slot.name, run: run.id, holder: run.holder }, 'job run abandoned by a process that stopped');
    }
  }

  private lose(slot: Slot, why: string): void {
    if (!slot.held) return;
    slot.held = false;
    this.log?.warn({ job: slot.name, why }, 'job lease lost; another process may run it now');
    if (slot.active) this.abort(slot.active, 'lease');
    if (slot.serviceRun) this.abort(slot.serviceRun, 'lease');
    slot.wake?.();
  }

  private renewing = false;

  private async renewAll(): Promise<void> {
    // One renewal round at a time: a slow database must not pile them up.
    if (this.halted || this.renewing) return;
    this.renewing = true;
    try {
      await this.renewRound();
    } finally {
      this.renewing = false;
    }
  }

  private async renewRound(): Promise<void> {
    const mine: string[] = [];
    for (const slot of this.slots.values()) {
      if (!slot.held || this.halted) continue;
      const now = Date.now();
      try {
        if (await this.leases.renew(slot.name, this.holder, this.ttl, now)) slot.lastRenewed = now;
        else this.lose(slot, 'another process holds it');
      } catch (e) {
        this.log?.warn({ err: e, job: slot.name }, 'job lease not renewed');
        if (Date.now() - slot.lastRenewed > this.ttl) this.lose(slot, 'not renewed within its TTL');
      }
      if (slot.active) mine.push(slot.active.run.id);
    }
    // Cancellations asked for from another process reach the run here.
    try {
      for (const id of await this.runs.cancelRequested(mine)) {
        for (const slot of this.slots.values()) if (slot.active?.run.id === id) this.abort(slot.active, 'cancel');
      }
    } catch { /* asked again at the next renewal */ }
  }

  // ---- loops ----

  private async loop(slot: Slot): Promise<void> {
    while (!this.stopping) {
      try {
        if (!slot.held && !(await this.tryAcquire(slot))) {
          await this.sleep(slot, this.renewMs);
          continue;
        }
        if (this.stopping) break;
        if (slot.service) await this.serveTenure(slot);
        else await this.jobStep(slot);
        if (slot.failing !== undefined) this.log?.info({ job: slot.name }, 'job runtime steps succeed again');
        slot.failing = undefined;
      } catch (e) {
        if (this.halted) break;
        const message = String((e as Error)?.message ?? e);
        if (message !== slot.failing) this.log?.error({ err: e, job: slot.name }, 'job runtime step failed');
        slot.failing = message;
        await this.sleep(slot, this.pollMs);
      }
    }
  }

  /** One step of a job's holder: a queued run that is due, else the periodic run when due, else wait. */
  private async jobStep(slot: Slot): Promise<void> {
    const def = slot.job!;
    const nextQueued = await this.runs.nextQueued(slot.name);
    const now = Date.now();
    if (nextQueued !== undefined && nextQueued <= now) {
      await this.slotFree();
      try {
        if (!slot.held || this.stopping) return;
        const run = await this.runs.claimNext(slot.name, this.holder);
        if (run) await this.execute(slot, run);
      } finally {
        this.releaseSlot();
      }
      return;
    }
    let due = Infinity;
    if (def.every !== undefined) {
      due = await this.periodicDue(slot.name, def, now);
      if (due <= now) {
        await this.slotFree();
        try {
          if (!slot.held || this.stopping) return;
          // Looked at again with the slot taken: another holder may have run it meanwhile.
          if ((await this.periodicDue(slot.name, def, Date.now())) > Date.now()) return;
          const run = await this.runs.begin(slot.name, 'schedule', this.holder, def.maxAttempts ?? 1);
          await this.execute(slot, run);
        } finally {
          this.releaseSlot();
        }
        return;
      }
    }
    const wakeAt = Math.min(due, nextQueued ?? Infinity, now + this.pollMs);
    await this.sleep(slot, wakeAt - now);
  }

  /**
   * When the next periodic run is due: `every` after the last scheduled run (by any process) ended, or
   * began if it has not ended; with no history, at once (runAtStart) or `every` after this start. A
   * scheduled run waiting for its retry stands for the next one.
   */
  private async periodicDue(name: string, def: JobDefinition, now: number): Promise<number> {
    const last = await this.runs.lastScheduled(name);
    if (!last) return def.runAtStart ? now : this.startedAt + def.every!;
    if (last.state === 'queued') return Infinity;
    return (last.finishedAt ?? last.createdAt) + def.every!;
  }

  private async execute(slot: Slot, run: JobRun): Promise<void> {
    const def = slot.job!;
    const controller = new AbortController();
    let resolveDone!: () => void;
    const active: Active = { run, controller, done: new Promise((r) => { resolveDone = r; }) };
    slot.active = active;
    // Progress: the latest report is kept; at most one write per progressMs, and the last one at the end.
    let latest: JobProgress | undefined;
    let lastWrite = 0;
    let timer: NodeJS.Timeout | undefined;
    let writing: Promise<unknown> = Promise.resolve();
    const flush = () => {
      timer = undefined;
      if (!latest || this.halted) return;
      const p = latest;
      lastWrite = Date.now();
      writing = writing.then(() => this.runs.progress(run.id, this.holder, p)).catch((e) => this.log?.warn({ err: e, job: run.job }, 'job progress not recorded'));
    };
    const ctx: JobContext = {
      runId: run.id, job: run.job, params: run.params, attempt: run.attempt, signal: controller.signal,
      progress: (phase, fields = {}) => {
        latest = { phase, fields };
        if (timer) return;
        timer = setTimeout(flush, Math.max(0, lastWrite + this.progressMs - Date.now()));
      },
    };
    try {
      let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, result: await def.run(ctx) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      clearTimeout(timer);
      if (latest && !this.halted) flush();
      await writing;
      if (this.halted) return;
      const now = Date.now();
      if (outcome.ok) {
        await this.end(def, run, { state: 'done', result: outcome.result ?? null, progress: latest });
        return;
      }
      const reason = controller.signal.aborted ? active.reason : undefined;
      if (reason === 'stop' || reason === 'lease') {
        // Interrupted, not failed: a queued run waits for the next holder; a periodic one comes round again.
        if (run.trigger === 'queue') await this.runs.requeue(run.id, this.holder, { attempt: run.attempt, notBefore: now, error: null });
        else await this.end(def, run, { state: 'cancelled', error: reason === 'stop' ? 'stopped with the process' : 'lease lost', progress: latest });
        return;
      }
      if (reason === 'cancel') {
        await this.end(def, run, { state: 'cancelled', error: 'cancelled', progress: latest });
        return;
      }
      const error = message(outcome.error);
      if (run.attempt < run.maxAttempts) {
        const delay = retryDelay(run.attempt, def.backoff ?? DEFAULT_BACKOFF);
        this.log?.warn({ job: run.job, run: run.id, attempt: run.attempt, err: { message: error }, retryInMs: delay }, 'job run failed; will retry');
        await this.runs.requeue(run.id, this.holder, { attempt: run.attempt + 1, notBefore: now + delay, error });
        return;
      }
      this.log?.error({ job: run.job, run: run.id, attempt: run.attempt, err: outcome.error }, 'job run failed');
      await this.end(def, run, { state: 'failed', error, progress: latest });
    } finally {
      slot.active = undefined;
      resolveDone();
    }
  }

  private async end(def: JobDefinition, run: JobRun, end: { state: 'done' | 'failed' | 'cancelled'; result?: unknown; error?: string; progress?: JobProgress }): Promise<void> {
    const now = Date.now();
    await this.finishHook(def, { ...run, state: end.state, result: end.result ?? null, error: end.error ?? null, finishedAt: now, progress: end.progress ?? run.progress, holder: this.holder });
    await this.runs.finish(run.id, this.holder, end, now);
  }

  private async finishHook(def: JobDefinition, run: JobRun): Promise<void> {
    try {
      await def.onFinish?.(run);
    } catch (e) {
      this.log?.error({ err: e, job: run.job, run: run.id }, 'job finish hook failed');
    }
  }

  /** A service's tenure: runs it (restarting it after failures) until the lease is lost or the process stops. */
  private async serveTenure(slot: Slot): Promise<void> {
    const def = slot.service!;
    let failures = 0;
    while (slot.held && !this.stopping) {
      const run = await this.runs.begin(slot.name, 'service', this.holder, 1);
      const controller = new AbortController();
      let resolveDone!: () => void;
      const active: Active = { run, controller, done: new Promise((r) => { resolveDone = r; }) };
      slot.serviceRun = active;
      let error: string | undefined;
      try {
        await def.run(controller.signal);
        if (!controller.signal.aborted) error = 'the service returned while it should have run on';
      } catch (e) {
        if (!controller.signal.aborted) error = message(e);
      } finally {
        slot.serviceRun = undefined;
        resolveDone();
      }
      if (this.halted) return;
      const reason = active.reason;
      if (error === undefined) {
        await this.runs.finish(run.id, this.holder, reason === 'lease' ? { state: 'cancelled', error: 'lease lost' } : { state: 'done' });
        failures = 0;
        continue;
      }
      failures++;
      this.log?.error({ job: slot.name, err: { message: error } }, 'service stopped; restarting it');
      await this.runs.finish(run.id, this.holder, { state: 'failed', error });
      await this.sleep(slot, retryDelay(failures, def.backoff ?? DEFAULT_BACKOFF));
    }
  }

  private async localLoop(def: LocalJobDefinition): Promise<void> {
    while (!this.stopping) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.localWake.delete(wake); resolve(); }, def.every);
        const wake = () => { clearTimeout(t); this.localWake.delete(wake); resolve(); };
        this.localWake.add(wake);
      });
      if (this.stopping) break;
      try {
        await def.run(this.localStop.signal);
      } catch (e) {
        if (!this.localStop.signal.aborted) this.log?.error({ err: e, job: def.name }, 'background job failed');
      }
    }
  }
}
