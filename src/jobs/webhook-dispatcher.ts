// Webhook delivery, never on the request path. Two steps, both driven by the database so that a crash at
// any moment loses nothing: fan-out (events/webhook-fanout.ts, an outbox consumer run under its lease)
// turns outbox events into one delivery per matching endpoint and moves its cursor in the same
// transaction; delivery sends each endpoint's oldest pending delivery, in event order, retrying with
// exponential backoff and jitter until it succeeds or is dead-lettered. A delivery whose outcome was not
// recorded (a crash mid-send) is sent again: at least once, with a stable event id.
import type { Logger } from 'pino';
import type { MetadataStore } from '../db/database.js';
import { eventAt } from '../db/events.js';
import { deliveryOfEvent, leaseDelivery, pendingHeads, pruneFinishedDeliveries, recordAttempt } from '../db/webhook-deliveries.js';
import { deliveryTarget } from '../db/webhook-endpoints.js';
import type { BerthEvent } from '../events/event.js';
import { ConsumerRunner } from '../events/consumer-runner.js';
import { pruneOutbox } from '../events/outbox.js';
import { webhookFanout } from '../events/webhook-fanout.js';
import { deliver } from '../events/webhook-client.js';
import { renderPayload, type PayloadFormat } from '../events/webhook-payload.js';
import { redact, type Webhooks } from '../events/webhooks.js';
import type { AddressPolicy } from '../lib/address-guard.js';

export interface DispatcherOptions {
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  concurrency: number;
  policy: AddressPolicy;
  /** idle poll interval */
  pollMs?: number;
  /**
   * The fan-out lease's lifetime: after a crash, another process (or this one restarted) resumes the
   * fan-out at most this long after the last renewal.
   */
  fanoutLeaseMs?: number;
}

/** Exponential backoff with full jitter: a random delay up to base * 2^(attempt-1), capped. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export class WebhookDispatcher {
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly inFlight = new Set<number>();
  private readonly fanout: ConsumerRunner;
  private unsubscribe?: () => void;

  constructor(private readonly meta: MetadataStore, private readonly webhooks: Webhooks, private readonly opts: DispatcherOptions, private readonly log: Logger) {
    // Stepped from this loop (not started on its own), so that one wake-up drives fan-out and delivery.
    this.fanout = new ConsumerRunner(meta, webhookFanout(), { leaseMs: opts.fanoutLeaseMs ?? 10_000, log });
  }

  start(): void {
    this.unsubscribe = this.webhooks.outbox.onAppend(() => this.nudge());
    this.loop = this.run();
  }

  /** Wakes the loop (an event was just written). */
  private nudged = false;
  nudge(): void {
    // The event's transaction commits right after; one wake-up for a burst of events.
    if (this.nudged) return;
    this.nudged = true;
    setTimeout(() => { this.nudged = false; this.wake?.(); }, 5);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    // Another process may take the fan-out over at once.
    await this.fanout.release().catch((e) => this.log.warn({ err: e }, 'webhook fan-out lease not released; it expires'));
  }

  /**
   * Keeps the outbox and the history bounded: finished deliveries go after `historyDays`, events once every
   * consumer passed them, they are a day old and no delivery refers to them.
   */
  async prune(historyDays = 30): Promise<void> {
    const now = Date.now();
    await this.meta.relaxedTransaction((tx) => pruneFinishedDeliveries(tx, now - historyDays * 86_400_000));
    await pruneOutbox(this.meta, 86_400_000, now);
  }

  private lastPrune = 0;

  private async run(): Promise<void> {
    while (!this.stopped) {
      let busy = false;
      try {
        if (Date.now() - this.lastPrune > 3600_000) {
          this.lastPrune = Date.now();
          await this.prune();
        }
        busy = (await this.fanOut()) > 0;
        busy = (await this.deliverDue()) || busy;
      } catch (e) {
        this.log.error({ err: e }, 'webhook dispatcher step failed');
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, busy ? 0 : this.opts.pollMs ?? 250);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
    // Let deliveries in flight record their outcome.
    while (this.inFlight.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Outbox events after the fan-out's cursor become deliveries, with the cursor moved in the same
   * transaction (one batch; nothing while another process holds the fan-out lease). Returns how many
   * outbox positions the cursor passed.
   */
  async fanOut(): Promise<number> {
    return (await this.fanout.step()).passed;
  }

  /** Starts the head delivery of every endpoint that has one due (up to the concurrency limit). */
  private async deliverDue(): Promise<boolean> {
    const now = Date.now();
    // Fix: only enabled endpoints. A disabled endpoint was still sent its pending deliveries and retries (until
    // they were dead-lettered); now they wait, in order, until it is enabled again.
    const heads = await pendingHeads(this.meta.db);
    let started = false;
    for (const h of heads) {
      if (this.inFlight.size >= this.opts.concurrency) break;
      const endpointId = h.endpointId;
      if (this.inFlight.has(endpointId)) continue;
      const d = await deliveryOfEvent(this.meta.db, endpointId, h.eventSeq);
      if (!d || d.nextAttemptAt > now || d.leaseUntil > now) continue;
      // A lease, so that another worker (or this one after a restart) does not send it at the same time.
      const lease = now + this.opts.timeoutMs + 5000;
      if (!(await this.meta.relaxed((db) => leaseDelivery(db, d.id, lease, now)))) continue;
      this.inFlight.add(endpointId);
      started = true;
      // Fix: a failure to record the outcome (a DB error) used to be an unhandled rejection, which ends the
      // whole process on Node 20. Log it instead; the lease expires and the delivery is sent again.
      void this.attempt(d.id, endpointId, h.eventSeq, d.attempts + 1).catch((e) => {
        this.log.error({ err: e, endpoint: endpointId, delivery: d.id }, 'webhook delivery outcome not recorded');
      }).finally(() => {
        this.inFlight.delete(endpointId);
        this.wake?.();
      });
    }
    return started;
  }

  private async attempt(deliveryId: number, endpointId: number, eventSeq: number, attempt: number): Promise<void> {
    const at = Date.now();
    let result: { ok: boolean; status?: number; latencyMs: number; error?: string; responseSnippet?: string };
    let eventId = '';
    let url = '';
    try {
      const ep = await deliveryTarget(this.meta.db, endpointId);
      const ev = await eventAt(this.meta.db, eventSeq);
      if (!ep || !ev) return; // the endpoint was removed: its deliveries went with it
      eventId = ev.eventId;
      url = ep.url;
      const secrets = await this.webhooks.secrets(endpointId);
      const payload = renderPayload(ep.format as PayloadFormat, [JSON.parse(ev.payload) as BerthEvent]);
      result = await deliver({
        url: ep.url, body: payload.body, contentType: payload.contentType, headers: secrets.headers, timeoutMs: this.opts.timeoutMs,
        policy: this.opts.policy, tls: { verify: ep.tlsVerify }, signature: { secret: secrets.secret, id: ev.eventId },
      });
    } catch (e) {
      result = { ok: false, latencyMs: Date.now() - at, error: (e as Error).message };
    }
    const dead = !result.ok && attempt >= this.opts.maxAttempts;
    const state = result.ok ? 'delivered' : dead ? 'dead' : 'pending';
    const nextAttemptAt = result.ok || dead ? Date.now() : Date.now() + backoff(attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
    // A lost commit here means one more delivery of the same event: at least once, as promised.
    // Fix: the endpoint (and with it this delivery) may have been removed while the request was in flight;
    // inserting the attempt then violated the foreign key and took the process down. Nothing is recorded then.
    const recorded = await this.meta.relaxedTransaction((tx) => recordAttempt(tx, deliveryId, {
      attempt, at, status: result.status ?? null, latencyMs: Math.round(result.latencyMs), error: result.error?.slice(0, 500) ?? null,
      response: result.responseSnippet?.slice(0, 4096) ?? null,
      state, lastError: result.ok ? null : (result.error ?? `HTTP ${result.status}`).slice(0, 500), nextAttemptAt,
      finishedAt: result.ok || dead ? Date.now() : null,
    }));
    if (result.ok || !recorded) return;
    // The URL without credentials and query (often tokens); the error never names them (webhook-client.ts).
    const fields = { endpoint: endpointId, delivery: deliveryId, event: eventId, url: redact(url), status: result.status ?? null, error: result.error ?? null, attempt };
    if (dead) this.log.error({ ...fields, attempts: attempt }, 'webhook delivery dead-lettered');
    else this.log.warn({ ...fields, nextAttemptAt: new Date(nextAttemptAt).toISOString() }, 'webhook delivery attempt failed; will retry');
  }
}
