// The job runtime across "processes": two MetadataStores on one database, each with its own scheduler.
// berth-test: both-dialects (on the run's database)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { MetadataStore } from '../../src/db/database.js';
import { Scheduler, type JobRun, type SchedulerOptions } from '../../src/jobs/scheduler.js';
import { newTestDatabase, openStoreAt } from '../helpers/db.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Log lines of level warn and above, to check that nothing went wrong unnoticed. */
function capture() {
  const lines: { level: number; msg: string; err?: { message?: string } }[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  return { log, lines };
}

interface Pair { a: MetadataStore; b: MetadataStore; close(): Promise<void> }

/** Two stores on one database of the run's dialect: two processes' view of it. */
async function pair(): Promise<Pair> {
  const db = await newTestDatabase('berth-jobs-');
  const a = await openStoreAt(db.location);
  const b = await openStoreAt(db.location);
  return { a, b, async close() { await a.close().catch(() => undefined); await b.close().catch(() => undefined); await db.drop(); } };
}

// Short times, so that the tests run quickly; nothing asserts how long anything took.
const FAST: SchedulerOptions = { leaseTtlMs: 400, renewMs: 100, pollMs: 30, progressIntervalMs: 200 };

const runsOf = async (s: Scheduler, job: string) => (await s.list(job, 1000)).reverse();

test('a periodic job runs once per interval across two processes, not twice', async () => {
  const p = await pair();
  const every = 150;
  const ran: string[] = [];
  const make = (meta: MetadataStore, who: string) => new Scheduler(meta, { ...FAST, holder: who })
    .define({ name: 'tick', every, async run() { ran.push(who); await sleep(10); return { who }; } });
  const a = make(p.a, 'A'), b = make(p.b, 'B');
  try {
    a.start(); b.start();
    await waitFor('six runs', async () => (await runsOf(a, 'tick')).filter((r) => r.state === 'done').length >= 6);
    await Promise.all([a.stop(), b.stop()]);
    const runs = await runsOf(b, 'tick');
    assert.ok(runs.every((r) => r.state === 'done' && r.trigger === 'schedule'), JSON.stringify(runs));
    assert.equal(ran.length, runs.length, 'each run is executed by exactly one process, and recorded once');
    assert.equal(new Set(runs.map((r) => r.holder)).size, 1, 'the lease holder runs it; the other never does while it lives');
    for (let i = 1; i < runs.length; i++) {
      assert.ok(runs[i].createdAt >= runs[i - 1].finishedAt! + every, `run ${i} started ${runs[i].createdAt - runs[i - 1].finishedAt!} ms after the previous ended (interval ${every})`);
    }
    assert.deepEqual(await a.leases.list(), [], 'a clean stop releases the leases');
  } finally {
    a.halt(); b.halt();
    await p.close();
  }
});

test('a holder that dies (stops renewing, releases nothing) loses the job to the other after the TTL; its run is retried there', async () => {
  const p = await pair();
  let release!: () => void;
  const blocked = new Promise<void>((r) => { release = r; });
  const attempts: { who: string; attempt: number }[] = [];
  const make = (meta: MetadataStore, who: string) => new Scheduler(meta, { ...FAST, holder: who })
    .define({ name: 'tick', every: 50, async run() { return who; } })
    .define({
      name: 'long', maxAttempts: 2, backoff: { baseMs: 10, maxMs: 10 },
      async run(ctx) {
        attempts.push({ who, attempt: ctx.attempt });
        if (who === 'A') await blocked; // A "dies" in the middle of it
        return { who };
      },
    });
  const a = make(p.a, 'A'), b = make(p.b, 'B');
  try {
    a.start();
    await waitFor('A holds the jobs', async () => (await runsOf(a, 'tick')).some((r) => r.holder === 'A' && r.state === 'done'));
    await waitFor('A holds long', () => a.holds('long'));
    b.start();
    const { run } = await b.enqueue('long', { n: 1 });
    await waitFor('A runs it', () => attempts.some((x) => x.who === 'A'));
    a.halt(); // like SIGKILL: no release, no state written
    release();
    await sleep(50); // a renewal already on its way lands; none follows
    const lease = await b.leases.get('tick');
    assert.equal(lease?.holder, 'A', 'the dead holder keeps its lease until it expires');
    const firstOfB = await waitFor('B runs tick', async () => (await runsOf(b, 'tick')).find((r) => r.holder === 'B'));
    assert.ok(firstOfB.createdAt >= lease!.until, 'B took over only once the lease had expired');
    const done = await waitFor('the interrupted run finishes in B', async () => { const r = await b.get(run.id); return r?.state === 'done' ? r : undefined; });
    assert.equal(done.holder, 'B');
    assert.equal(done.attempt, 2, 'the abandoned attempt counts; the retry is the second');
    assert.deepEqual(done.result, { who: 'B' });
    assert.deepEqual(attempts.map((x) => `${x.who}${x.attempt}`), ['A1', 'B2']);
  } finally {
    await b.stop();
    await p.close();
  }
});

test('failed runs are retried with exponential backoff until they succeed or the attempts run out', async () => {
  const p = await pair();
  const { log, lines } = capture();
  const calls: { attempt: number; at: number; endedAt?: number }[] = [];
  let failures = 2;
  const s = new Scheduler(p.a, { ...FAST, log })
    .define({
      name: 'flaky', maxAttempts: 3, backoff: { baseMs: 100, maxMs: 1000 },
      async run(ctx) {
        const call: { attempt: number; at: number; endedAt?: number } = { attempt: ctx.attempt, at: Date.now() };
        calls.push(call);
        try {
          if (failures-- > 0) throw new Error(`failure ${ctx.attempt}`);
          return { ok: true };
        } finally {
          call.endedAt = Date.now();
        }
      },
    })
    .define({ name: 'broken', maxAttempts: 2, backoff: { baseMs: 10, maxMs: 10 }, async run() { throw new Error('always broken'); } });
  const other = new Scheduler(p.b, FAST); // reads from the other "process"
  try {
    s.start();
    const { run } = await s.enqueue('flaky');
    const done = await waitFor('flaky done', async () => { const r = await other.get(run.id); return r?.state === 'done' ? r : undefined; });
    assert.equal(done.attempt, 3);
    assert.deepEqual(done.result, { ok: true });
    assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3]);
    // Jitter keeps each delay between half and all of base * 2^(attempt-1).
    assert.ok(calls[1].at - calls[0].endedAt! >= 50, 'first retry waited at least half the base delay');
    assert.ok(calls[2].at - calls[1].endedAt! >= 100, 'second retry waited at least half of twice the base delay');

    const broken = (await s.enqueue('broken')).run;
    const failed = await waitFor('broken failed', async () => { const r = await other.get(broken.id); return r?.state === 'failed' ? r : undefined; });
    assert.equal(failed.attempt, 2);
    assert.equal(failed.error, 'always broken');
    assert.ok(lines.some((l) => l.msg === 'job run failed; will retry'));
    assert.ok(lines.some((l) => l.msg === 'job run failed'));
  } finally {
    await s.stop();
    await p.close();
  }
});

test('the concurrency limit holds: never more runs at once than allowed', async () => {
  const p = await pair();
  let now = 0, most = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  const s = new Scheduler(p.a, { ...FAST, concurrency: 2 });
  for (let i = 0; i < 5; i++) {
    s.define({ name: `c${i}`, async run() { now++; most = Math.max(most, now); await gate; now--; return i; } });
  }
  try {
    s.start();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await s.enqueue(`c${i}`)).run.id);
    await waitFor('two running', () => now === 2);
    await sleep(300); // the three others are due and wait for a slot
    assert.equal(now, 2);
    const states = await Promise.all(ids.map(async (id) => (await s.get(id))?.state));
    assert.deepEqual(states.filter((x) => x === 'queued').length, 3, 'the others wait, queued');
    open();
    for (const id of ids) await waitFor(`run ${id}`, async () => (await s.get(id))?.state === 'done');
    assert.equal(most, 2, `at most two at once (saw ${most})`);
  } finally {
    await s.stop();
    await p.close();
  }
});

test('run state, progress and result are visible from the other process; progress is written at a bounded rate', async () => {
  const p = await pair();
  let go!: () => void;
  const gate = new Promise<void>((r) => { go = r; });
  const a = new Scheduler(p.a, { ...FAST, progressIntervalMs: 500, holder: 'A' })
    .define({
      name: 'report', async run(ctx) {
        for (let i = 1; i <= 500; i++) ctx.progress('counting', { i });
        await gate;
        ctx.progress('finishing', { total: 500 });
        return { total: 500, params: ctx.params };
      },
    });
  let writes = 0;
  const write = a.runs.progress.bind(a.runs);
  a.runs.progress = (...args) => { writes++; return write(...args); };
  const b = new Scheduler(p.b, FAST);
  try {
    a.start();
    const { run } = await b.enqueue('report', { from: 'B' }); // queued by B, run by A (the only one defining it)
    const seen = await waitFor('progress visible in B', async () => { const r = await b.get(run.id); return r?.progress?.fields.i === 500 ? r : undefined; });
    assert.equal(seen.state, 'running');
    assert.equal(seen.holder, 'A');
    assert.deepEqual(seen.params, { from: 'B' });
    assert.ok(writes <= 2, `500 reports in a burst make at most two writes (made ${writes})`);
    go();
    const done = await waitFor('done', async () => { const r = await b.get(run.id); return r?.state === 'done' ? r : undefined; });
    assert.deepEqual(done.result, { total: 500, params: { from: 'B' } });
    assert.deepEqual(done.progress, { phase: 'finishing', fields: { total: 500 } }, 'the last report is always written');
    assert.ok(done.startedAt! >= done.createdAt && done.finishedAt! >= done.startedAt!);
  } finally {
    await a.stop();
    await p.close();
  }
});

test('stop() cancels a running job through its signal and waits for it; a queued run goes back to the queue for another process', async () => {
  const p = await pair();
  const { log, lines } = capture();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  let batches = 0, stoppedCleanly = false;
  // Like a collection: batches of database writes, the signal looked at between them.
  const batchJob = (meta: MetadataStore) => async (ctx: { signal: AbortSignal; progress(p: string, f?: Record<string, unknown>): void }) => {
    try {
      for (;;) {
        ctx.signal.throwIfAborted();
        await meta.transaction((tx) => tx.insertInto('cursors').values({ name: 'jobs-test', value: batches }).onConflict((oc) => oc.column('name').doUpdateSet({ value: batches })).execute());
        batches++;
        ctx.progress('working', { batches });
        await sleep(5);
      }
    } finally {
      stoppedCleanly = true;
    }
  };
  const a = new Scheduler(p.a, { ...FAST, log, holder: 'A' }).define({ name: 'long', run: batchJob(p.a) });
  try {
    a.start();
    const { run } = await a.enqueue('long');
    await waitFor('some batches', () => batches >= 5);
    await a.stop();
    assert.ok(stoppedCleanly, 'the job ended before stop() resolved');
    await p.a.close(); // the database closes right after stop(), as serve() does
    const after = batches;
    await sleep(100);
    assert.equal(batches, after, 'nothing runs after stop()');
    const r = await new Scheduler(p.b, FAST).get(run.id);
    assert.equal(r?.state, 'queued', 'interrupted by the stop, it waits for the next holder');
    assert.equal(r?.attempt, 1, 'an interruption is not a failed attempt');
    assert.deepEqual(lines.filter((l) => /destroyed/.test(JSON.stringify(l))), []);
    assert.deepEqual(unhandled, []);

    // Another process picks it up.
    let ranInB = false;
    const b = new Scheduler(p.b, { ...FAST, holder: 'B' }).define({ name: 'long', async run() { ranInB = true; return 'ok'; } });
    b.start();
    const done = await waitFor('B finishes it', async () => { const x = await b.get(run.id); return x?.state === 'done' ? x : undefined; });
    assert.ok(ranInB);
    assert.equal(done.holder, 'B');
    await b.stop();
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await p.close();
  }
});

test('stop() with a grace lets a running job finish; jobs marked runAtStop run once more before the leases go', async () => {
  const p = await pair();
  const finals: string[] = [];
  const a = new Scheduler(p.a, { ...FAST, holder: 'A' })
    .define({ name: 'short', async run(ctx) { await sleep(200); return { aborted: ctx.signal.aborted }; } })
    .define({ name: 'checkpoint', every: 3600_000, runAtStop: true, async run() { finals.push('A'); return 'signed'; } });
  const b = new Scheduler(p.b, { ...FAST, holder: 'B' })
    .define({ name: 'checkpoint', every: 3600_000, runAtStop: true, async run() { finals.push('B'); return 'signed'; } });
  try {
    a.start();
    await waitFor('A holds checkpoint', () => a.holds('checkpoint'));
    b.start();
    const { run } = await a.enqueue('short');
    await waitFor('short running', async () => (await a.get(run.id))?.state === 'running');
    await a.stop({ graceMs: 10_000 });
    const r = await a.get(run.id);
    assert.equal(r?.state, 'done');
    assert.deepEqual(r?.result, { aborted: false }, 'it finished within the grace, without being cancelled');
    assert.deepEqual(finals, ['A'], 'only the holder of the lease makes the final run');
    await waitFor('B takes checkpoint at once (released)', () => b.holds('checkpoint'));
    await b.stop();
    assert.deepEqual(finals, ['A', 'B']);
    const runs = await runsOf(a, 'checkpoint');
    assert.deepEqual(runs.map((x) => `${x.holder}:${x.state}`), ['A:done', 'B:done']);
  } finally {
    await p.close();
  }
});

test('cancelling: a queued run never starts; a running one in another process stops through its signal', async () => {
  const p = await pair();
  const a = new Scheduler(p.a, { ...FAST, holder: 'A' })
    .define({ name: 'wait', async run(ctx) { await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))); } });
  const b = new Scheduler(p.b, FAST);
  try {
    const queued = (await b.enqueue('wait', undefined, { notBefore: Date.now() + 3600_000 })).run;
    a.start();
    const { run } = await b.enqueue('wait');
    await waitFor('running in A', async () => (await b.get(run.id))?.state === 'running');
    assert.equal(await b.cancel(queued.id), true);
    assert.equal(await b.cancel(run.id), true);
    const c = await waitFor('cancelled', async () => { const r = await b.get(run.id); return r?.state === 'cancelled' ? r : undefined; });
    assert.equal(c.holder, 'A');
    assert.equal((await b.get(queued.id))?.state, 'cancelled');
    assert.equal(await b.cancel(run.id), false, 'an ended run cannot be cancelled');
  } finally {
    await a.stop();
    await p.close();
  }
});

test('unique enqueue answers the run already queued or running, from any process', async () => {
  const p = await pair();
  const a = new Scheduler(p.a, FAST), b = new Scheduler(p.b, FAST);
  try {
    const first = await a.enqueue('gc', { dryRun: true }, { unique: true });
    const second = await b.enqueue('gc', { dryRun: false }, { unique: true });
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(second.run.id, first.run.id);
    assert.deepEqual(second.run.params, { dryRun: true });
  } finally {
    await p.close();
  }
});

test('a service runs in one process at a time and moves when its holder stops; the history shows each tenure', async () => {
  const p = await pair();
  const running = new Set<string>();
  let overlap = false;
  const make = (meta: MetadataStore, who: string) => new Scheduler(meta, { ...FAST, holder: who }).service({
    name: 'deliver',
    async run(signal) {
      if (running.size > 0) overlap = true;
      running.add(who);
      await new Promise((r) => signal.addEventListener('abort', r));
      running.delete(who);
    },
  });
  const a = make(p.a, 'A'), b = make(p.b, 'B');
  try {
    a.start();
    await waitFor('A serves', () => running.has('A'));
    b.start();
    await sleep(300);
    assert.deepEqual([...running], ['A'], 'B waits while A holds the lease');
    await a.stop();
    await waitFor('B serves', () => running.has('B'));
    assert.equal(overlap, false);
    await b.stop();
    const runs: JobRun[] = await runsOf(a, 'deliver');
    assert.deepEqual(runs.map((r) => `${r.holder}:${r.trigger}:${r.state}`), ['A:service:done', 'B:service:done']);
  } finally {
    await p.close();
  }
});

test('old history is pruned: finished runs beyond the newest ones kept per job go; queued ones stay', async () => {
  const p = await pair();
  const s = new Scheduler(p.a, { ...FAST, history: { keep: 3 } }).define({ name: 'n', async run() { return 1; } });
  try {
    s.start();
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await s.enqueue('n')).run.id);
    for (const id of ids) await waitFor('done', async () => (await s.get(id))?.state === 'done');
    await s.stop();
    const waiting = (await s.enqueue('n', undefined, { notBefore: Date.now() + 3600_000 })).run;
    assert.equal(await s.runs.prune({ before: 0, keep: 3 }), 3);
    const left = await s.list('n', 100);
    assert.deepEqual(left.map((r) => r.id).sort(), [...ids.slice(3), waiting.id].sort());
    assert.ok(await s.runs.prune({ before: Date.now() + 1, keep: 100 }) >= 3, 'finished runs older than the age limit go');
    assert.deepEqual((await s.list('n', 100)).map((r) => r.id), [waiting.id]);
  } finally {
    await p.close();
  }
});
