// Webhook endpoints (per organization, or global) and their delivery history. Secrets and custom headers
// are stored sealed with the master key; a secret is shown once, when it is made.
import { randomBytes } from 'node:crypto';
// Endpoint changes are on record in the audit journal, which main.ts passes in: events/ does not import
// audit/ (AuditTrail is the one method used), so neither depends on the other.
import type { Db, Transact, Tx } from '../db/database.js';
import { lastEventId } from '../db/events.js';
import { insertDelivery } from '../db/webhook-deliveries.js';
import { BerthError } from '../errors/berth-error.js';
import type { SecretBox } from '../lib/secret-box.js';
import { checkUrl, type AddressBlockedError, type AddressPolicy } from '../lib/address-guard.js';
import { SYSTEM_CONTEXT, type RequestContext } from '../lib/request-context.js';
import { WebhookPinged } from './catalogue.js';
import { EVENT_FAMILIES, type EventFamily } from './event.js';
import type { Outbox } from './outbox.js';
import { isReservedHeader } from './webhook-client.js';
import { PAYLOAD_FORMATS, type PayloadFormat } from './webhook-payload.js';

export interface EndpointInput {
  name: string;
  url: string;
  format: PayloadFormat;
  events: EventFamily[];
  repositoryPattern?: string | null;
  headers?: Record<string, string>;
  tlsVerify?: boolean;
  enabled?: boolean;
  secret?: string;
}

export interface Endpoint {
  id: number; org: string | null; name: string; url: string; format: PayloadFormat; events: EventFamily[]; repositoryPattern: string | null;
  headerNames: string[]; tlsVerify: boolean; enabled: boolean; createdAt: number; createdBy: string;
}

export interface Delivery {
  id: number; eventId: string; eventType: string; state: string; attempts: number; nextAttemptAt: number; lastStatus: number | null;
  lastError: string | null; createdAt: number; finishedAt: number | null;
  history: { attempt: number; at: number; status: number | null; latencyMs: number; error: string | null; response: string | null }[];
}

/** What the delivery worker needs of an endpoint, secrets opened. */
export interface EndpointSecrets { secret: string; headers: Record<string, string> }

const secretContext = (id: number) => `webhook:${id}`;

/** What endpoint changes need of the audit journal: records written in the change's transaction. */
export interface AuditTrail {
  write(tx: Tx, ctx: RequestContext, entries: { action: string; resource: string; detail?: Record<string, unknown> }[]): Promise<void>;
}

export class Webhooks {
  /** Event families some enabled endpoint subscribes to (refreshed by refreshSubscriptions); null before the first refresh. */
  private families: Set<string> | null = null;

  constructor(
    private readonly db: Db, private readonly transact: Transact, private readonly box: SecretBox, private readonly policy: AddressPolicy,
    private readonly journal: AuditTrail, readonly outbox: Outbox,
  ) {}

  /**
   * Whether an enabled endpoint wants this family (pull events are only written then). Until the
   * subscriptions were first read every family counts as wanted: an event is never dropped unseen.
   */
  wants(family: EventFamily): boolean {
    return this.families?.has(family) ?? true;
  }

  async refreshSubscriptions(): Promise<void> {
    const rows = await this.db.selectFrom('webhook_endpoints').select('events').where('enabled', '=', 1).execute();
    this.families = new Set(rows.flatMap((r) => JSON.parse(r.events) as string[]));
  }

  private validate(input: Partial<EndpointInput>): void {
    if (input.url !== undefined) {
      let url: URL;
      try { url = new URL(input.url); } catch { throw new BerthError('INPUT_INVALID', { message: 'url must be an absolute http:// or https:// URL' }); }
      try { checkUrl(url, this.policy); } catch (e) { throw new BerthError('INPUT_INVALID', { message: `url refused: ${(e as AddressBlockedError).reason ?? (e as Error).message}` }); }
    }
    if (input.format !== undefined && !PAYLOAD_FORMATS.includes(input.format)) throw new BerthError('INPUT_INVALID', { message: `format must be one of ${PAYLOAD_FORMATS.join(', ')}` });
    if (input.events !== undefined && (input.events.length === 0 || !input.events.every((e) => (EVENT_FAMILIES as readonly string[]).includes(e)))) {
      throw new BerthError('INPUT_INVALID', { message: `events must list some of ${EVENT_FAMILIES.join(', ')}` });
    }
    for (const h of Object.keys(input.headers ?? {})) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(h) || isReservedHeader(h)) throw new BerthError('INPUT_INVALID', { message: `header ${h.slice(0, 100)} cannot be set` });
      if (/[\r\n]/.test(input.headers![h])) throw new BerthError('INPUT_INVALID', { message: `header ${h} has a line break in its value` });
    }
    if (input.secret !== undefined && input.secret.length < 16) throw new BerthError('INPUT_INVALID', { message: 'a secret must have at least 16 characters' });
  }

  private async orgId(org: string | null): Promise<number | null> {
    if (org === null) return null;
    const o = await this.db.selectFrom('organizations').select('id').where('name', '=', org).executeTakeFirst();
    if (!o) throw new BerthError('NOT_FOUND', { message: `no organization ${org}` });
    return Number(o.id);
  }

  /** Creates an endpoint; it receives events from now on. Returns the secret (generated unless given) once. */
  async create(org: string | null, input: EndpointInput, ctx: RequestContext = SYSTEM_CONTEXT): Promise<{ endpoint: Endpoint; secret: string }> {
    this.validate(input);
    const orgId = await this.orgId(org);
    const secret = input.secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
    const id = await this.transact(async (tx: Tx) => {
      const head = await lastEventId(tx);
      const row = await tx.insertInto('webhook_endpoints').values({
        org_id: orgId, name: input.name, url: input.url, secret_sealed: 'pending', format: input.format, events: JSON.stringify(input.events),
        repository_pattern: input.repositoryPattern ?? null, headers_sealed: null, tls_verify: input.tlsVerify === false ? 0 : 1,
        enabled: input.enabled === false ? 0 : 1, from_event: head + 1, created_at: Date.now(), created_by: ctx.actor,
      }).returning('id').executeTakeFirstOrThrow();
      const id = Number(row.id);
      await tx.updateTable('webhook_endpoints').set({
        secret_sealed: this.box.seal(secret, secretContext(id)),
        headers_sealed: input.headers && Object.keys(input.headers).length ? this.box.seal(JSON.stringify(input.headers), secretContext(id)) : null,
      }).where('id', '=', id).execute();
      await this.journal.write(tx, ctx, [{ action: 'webhook.create', resource: org ? `organization:${org}` : 'webhooks', detail: { id, name: input.name, url: redact(input.url), events: input.events, format: input.format } }]);
      return id;
    });
    await this.refreshSubscriptions();
    return { endpoint: (await this.get(org, id))!, secret };
  }

  async update(org: string | null, id: number, input: Partial<EndpointInput>, ctx: RequestContext = SYSTEM_CONTEXT): Promise<Endpoint> {
    this.validate(input);
    await this.get(org, id, true);
    await this.transact(async (tx: Tx) => {
      await tx.updateTable('webhook_endpoints').set({
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.url !== undefined ? { url: input.url } : {}),
        ...(input.format !== undefined ? { format: input.format } : {}),
        ...(input.events !== undefined ? { events: JSON.stringify(input.events) } : {}),
        ...(input.repositoryPattern !== undefined ? { repository_pattern: input.repositoryPattern } : {}),
        ...(input.headers !== undefined ? { headers_sealed: Object.keys(input.headers).length ? this.box.seal(JSON.stringify(input.headers), secretContext(id)) : null } : {}),
        ...(input.tlsVerify !== undefined ? { tls_verify: input.tlsVerify ? 1 : 0 } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled ? 1 : 0 } : {}),
        ...(input.secret !== undefined ? { secret_sealed: this.box.seal(input.secret, secretContext(id)) } : {}),
      }).where('id', '=', id).execute();
      const changed = Object.keys(input).filter((k) => k !== 'secret' && k !== 'headers');
      await this.journal.write(tx, ctx, [{ action: 'webhook.update', resource: org ? `organization:${org}` : 'webhooks', detail: { id, changed, secret: input.secret !== undefined, headers: input.headers !== undefined } }]);
    });
    await this.refreshSubscriptions();
    return (await this.get(org, id))!;
  }

  async remove(org: string | null, id: number, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.get(org, id, true);
    await this.transact(async (tx: Tx) => {
      await tx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
      await this.journal.write(tx, ctx, [{ action: 'webhook.delete', resource: org ? `organization:${org}` : 'webhooks', detail: { id } }]);
    });
    await this.refreshSubscriptions();
  }

  async list(org: string | null): Promise<Endpoint[]> {
    const orgId = await this.orgId(org);
    let q = this.db.selectFrom('webhook_endpoints').leftJoin('organizations as o', 'o.id', 'webhook_endpoints.org_id').selectAll('webhook_endpoints').select('o.name as org_name');
    q = orgId === null ? q.where('webhook_endpoints.org_id', 'is', null) : q.where('webhook_endpoints.org_id', '=', orgId);
    return (await q.orderBy('webhook_endpoints.id').execute()).map((r) => this.view(r));
  }

  /** One endpoint of the scope (an organization's, or a global one). */
  async get(org: string | null, id: number, required = false): Promise<Endpoint | undefined> {
    const orgId = await this.orgId(org);
    let q = this.db.selectFrom('webhook_endpoints').leftJoin('organizations as o', 'o.id', 'webhook_endpoints.org_id').selectAll('webhook_endpoints').select('o.name as org_name')
      .where('webhook_endpoints.id', '=', id);
    q = orgId === null ? q.where('webhook_endpoints.org_id', 'is', null) : q.where('webhook_endpoints.org_id', '=', orgId);
    const r = await q.executeTakeFirst();
    if (!r && required) throw new BerthError('NOT_FOUND', { message: `no webhook ${id}` });
    return r ? this.view(r) : undefined;
  }

  private view(r: { id: number; org_name: string | null; name: string; url: string; format: string; events: string; repository_pattern: string | null; headers_sealed: string | null; tls_verify: number; enabled: number; created_at: number; created_by: string }): Endpoint {
    const headers = r.headers_sealed ? Object.keys(JSON.parse(this.box.open(r.headers_sealed, secretContext(Number(r.id)))) as Record<string, string>) : [];
    return {
      id: Number(r.id), org: r.org_name, name: r.name, url: displayUrl(r.url), format: r.format as PayloadFormat, events: JSON.parse(r.events), repositoryPattern: r.repository_pattern,
      headerNames: headers, tlsVerify: Boolean(r.tls_verify), enabled: Boolean(r.enabled), createdAt: Number(r.created_at), createdBy: r.created_by,
    };
  }

  /** The endpoint's secret and custom headers, for signing and sending only. */
  async secrets(id: number): Promise<EndpointSecrets> {
    const r = await this.db.selectFrom('webhook_endpoints').select(['secret_sealed', 'headers_sealed']).where('id', '=', id).executeTakeFirstOrThrow();
    return {
      secret: this.box.open(r.secret_sealed, secretContext(id)),
      headers: r.headers_sealed ? JSON.parse(this.box.open(r.headers_sealed, secretContext(id))) as Record<string, string> : {},
    };
  }

  /** A test event for one endpoint only, delivered (and recorded) like any other. */
  async ping(org: string | null, id: number, ctx: RequestContext): Promise<{ deliveryId: number; eventId: string }> {
    await this.get(org, id, true);
    return this.transact(async (tx: Tx) => {
      // The fan-out skips pings: this one delivery is all there is of it.
      const ev = (await this.outbox.append(tx, ctx, WebhookPinged(id)))!;
      const deliveryId = await insertDelivery(tx, { endpointId: id, eventSeq: ev.seq, eventId: ev.id });
      await this.journal.write(tx, ctx, [{ action: 'webhook.ping', resource: org ? `organization:${org}` : 'webhooks', detail: { id } }]);
      return { deliveryId, eventId: ev.id };
    });
  }

  async deliveries(org: string | null, id: number, n: number, before?: number): Promise<{ items: Delivery[]; next: string | null }> {
    await this.get(org, id, true);
    let q = this.db.selectFrom('webhook_deliveries as d').innerJoin('events as e', 'e.id', 'd.event_seq')
      .select(['d.id', 'd.event_id', 'e.type', 'd.state', 'd.attempts', 'd.next_attempt_at', 'd.last_status', 'd.last_error', 'd.created_at', 'd.finished_at'])
      .where('d.endpoint_id', '=', id).orderBy('d.id', 'desc').limit(n + 1);
    if (before !== undefined) q = q.where('d.id', '<', before);
    const rows = await q.execute();
    const page = rows.slice(0, n);
    const ids = page.map((r) => Number(r.id));
    // Fix: ordered by insertion (time), not by attempt number: a redelivery restarts the numbering at 1, so
    // ordering by `attempt` mixed old and new attempts and the newest one was not last.
    const attempts = ids.length ? await this.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', ids).orderBy('id').execute() : [];
    const items = page.map((r) => ({
      id: Number(r.id), eventId: r.event_id, eventType: r.type, state: r.state, attempts: Number(r.attempts), nextAttemptAt: Number(r.next_attempt_at),
      lastStatus: r.last_status === null ? null : Number(r.last_status), lastError: r.last_error, createdAt: Number(r.created_at), finishedAt: r.finished_at === null ? null : Number(r.finished_at),
      history: attempts.filter((a) => Number(a.delivery_id) === Number(r.id)).map((a) => ({
        attempt: Number(a.attempt), at: Number(a.at), status: a.status === null ? null : Number(a.status), latencyMs: Number(a.latency_ms), error: a.error, response: a.response,
      })),
    }));
    return { items, next: rows.length > n ? String(items[items.length - 1].id) : null };
  }

  /** Sends a delivery again (also a dead one), keeping its event id so receivers can tell. */
  async redeliver(org: string | null, id: number, deliveryId: number, ctx: RequestContext): Promise<void> {
    await this.get(org, id, true);
    await this.transact(async (tx: Tx) => {
      const res = await tx.updateTable('webhook_deliveries').set({ state: 'pending', attempts: 0, next_attempt_at: Date.now(), lease_until: 0, finished_at: null })
        .where('id', '=', deliveryId).where('endpoint_id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new BerthError('NOT_FOUND', { message: `no delivery ${deliveryId}` });
      await this.journal.write(tx, ctx, [{ action: 'webhook.redeliver', resource: org ? `organization:${org}` : 'webhooks', detail: { id, delivery: deliveryId } }]);
    });
  }
}

/** A URL as the API shows it after creation: credentials and query values (often tokens) masked. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return '';
  }
}

/** A URL without its credentials and query, for records and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}
