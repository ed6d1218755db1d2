// Webhook endpoints (per organization, or global) and their delivery history. Secrets and custom headers
// are stored sealed with the master key; a secret is shown once, when it is made.
import { randomBytes } from 'node:crypto';
// Endpoint changes are on record in the audit journal, which main.ts passes in: events/ does not import
// audit/ (AuditTrail is the one method used), so neither depends on the other.
import type { Db, Transact, Tx } from '../db/database.js';
import { lastEventId } from '../db/events.js';
import { attemptsOf, deliveriesOf, insertDelivery, resetDelivery } from '../db/webhook-deliveries.js';
import {
  deleteEndpoint, findEndpoint, findOrganizationId, insertEndpoint, listEndpoints, sealedSecrets, sealEndpointSecrets, subscribedFamilies,
  updateEndpoint, type EndpointRow,
} from '../db/webhook-endpoints.js';
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
    this.families = new Set(await subscribedFamilies(this.db));
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
    const id = await findOrganizationId(this.db, org);
    if (id === undefined) throw new BerthError('NOT_FOUND', { message: `no organization ${org}` });
    return id;
  }

  /** Creates an endpoint; it receives events from now on. Returns the secret (generated unless given) once. */
  async create(org: string | null, input: EndpointInput, ctx: RequestContext = SYSTEM_CONTEXT): Promise<{ endpoint: Endpoint; secret: string }> {
    this.validate(input);
    const orgId = await this.orgId(org);
    const secret = input.secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
    const id = await this.transact(async (tx: Tx) => {
      const head = await lastEventId(tx);
      const id = await insertEndpoint(tx, {
        orgId, name: input.name, url: input.url, format: input.format, events: input.events, repositoryPattern: input.repositoryPattern ?? null,
        tlsVerify: input.tlsVerify !== false, enabled: input.enabled !== false, fromEvent: head + 1, createdAt: Date.now(), createdBy: ctx.actor,
      });
      // Sealed once the id is known: it binds the sealed values to this endpoint.
      await sealEndpointSecrets(tx, id, this.box.seal(secret, secretContext(id)),
        input.headers && Object.keys(input.headers).length ? this.box.seal(JSON.stringify(input.headers), secretContext(id)) : null);
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
      await updateEndpoint(tx, id, {
        name: input.name, url: input.url, format: input.format, events: input.events, repositoryPattern: input.repositoryPattern,
        headersSealed: input.headers === undefined ? undefined : Object.keys(input.headers).length ? this.box.seal(JSON.stringify(input.headers), secretContext(id)) : null,
        tlsVerify: input.tlsVerify, enabled: input.enabled,
        secretSealed: input.secret === undefined ? undefined : this.box.seal(input.secret, secretContext(id)),
      });
      const changed = Object.keys(input).filter((k) => k !== 'secret' && k !== 'headers');
      await this.journal.write(tx, ctx, [{ action: 'webhook.update', resource: org ? `organization:${org}` : 'webhooks', detail: { id, changed, secret: input.secret !== undefined, headers: input.headers !== undefined } }]);
    });
    await this.refreshSubscriptions();
    return (await this.get(org, id))!;
  }

  async remove(org: string | null, id: number, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.get(org, id, true);
    await this.transact(async (tx: Tx) => {
      await deleteEndpoint(tx, id);
      await this.journal.write(tx, ctx, [{ action: 'webhook.delete', resource: org ? `organization:${org}` : 'webhooks', detail: { id } }]);
    });
    await this.refreshSubscriptions();
  }

  async list(org: string | null): Promise<Endpoint[]> {
    return (await listEndpoints(this.db, await this.orgId(org))).map((r) => this.view(r));
  }

  /** One endpoint of the scope (an organization's, or a global one). */
  async get(org: string | null, id: number, required = false): Promise<Endpoint | undefined> {
    const r = await findEndpoint(this.db, await this.orgId(org), id);
    if (!r && required) throw new BerthError('NOT_FOUND', { message: `no webhook ${id}` });
    return r ? this.view(r) : undefined;
  }

  private view(r: EndpointRow): Endpoint {
    const headers = r.headersSealed ? Object.keys(JSON.parse(this.box.open(r.headersSealed, secretContext(r.id))) as Record<string, string>) : [];
    return {
      id: r.id, org: r.org, name: r.name, url: displayUrl(r.url), format: r.format as PayloadFormat, events: r.events as EventFamily[], repositoryPattern: r.repositoryPattern,
      headerNames: headers, tlsVerify: r.tlsVerify, enabled: r.enabled, createdAt: r.createdAt, createdBy: r.createdBy,
    };
  }

  /** The endpoint's secret and custom headers, for signing and sending only. */
  async secrets(id: number): Promise<EndpointSecrets> {
    const r = await sealedSecrets(this.db, id);
    return {
      secret: this.box.open(r.secretSealed, secretContext(id)),
      headers: r.headersSealed ? JSON.parse(this.box.open(r.headersSealed, secretContext(id))) as Record<string, string> : {},
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
    const rows = await deliveriesOf(this.db, id, before, n + 1);
    const page = rows.slice(0, n);
    // Fix: ordered by insertion (time), not by attempt number: a redelivery restarts the numbering at 1, so
    // ordering by `attempt` mixed old and new attempts and the newest one was not last.
    const attempts = await attemptsOf(this.db, page.map((r) => r.id));
    const items = page.map((r) => ({
      ...r,
      history: attempts.filter((a) => a.deliveryId === r.id)
        .map((a) => ({ attempt: a.attempt, at: a.at, status: a.status, latencyMs: a.latencyMs, error: a.error, response: a.response })),
    }));
    return { items, next: rows.length > n ? String(items[items.length - 1].id) : null };
  }

  /** Sends a delivery again (also a dead one), keeping its event id so receivers can tell. */
  async redeliver(org: string | null, id: number, deliveryId: number, ctx: RequestContext): Promise<void> {
    await this.get(org, id, true);
    await this.transact(async (tx: Tx) => {
      if (!(await resetDelivery(tx, id, deliveryId))) throw new BerthError('NOT_FOUND', { message: `no delivery ${deliveryId}` });
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
