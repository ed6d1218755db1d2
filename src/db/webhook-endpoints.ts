// Webhook endpoints (table webhook_endpoints): global ones (org_id null) and organizations'. Secrets and
// custom headers are stored sealed (events/webhooks.ts seals and opens them); `events` is a JSON list
// of event families.
import type { Tx } from './database.js';

export interface EndpointRow {
  id: number; org: string | null; name: string; url: string; format: string; events: string[]; repositoryPattern: string | null;
  headersSealed: string | null; tlsVerify: boolean; enabled: boolean; createdAt: number; createdBy: string;
}

export interface NewEndpoint {
  orgId: number | null; name: string; url: string; format: string; events: string[]; repositoryPattern: string | null;
  tlsVerify: boolean; enabled: boolean; fromEvent: number; createdAt: number; createdBy: string;
}

/** The fields an update may change (absent: unchanged; sealed values as stored). */
export interface EndpointChanges {
  name?: string; url?: string; format?: string; events?: string[]; repositoryPattern?: string | null; headersSealed?: string | null;
  tlsVerify?: boolean; enabled?: boolean; secretSealed?: string;
}

/** An organization's id by name (webhooks are scoped by organization). */
export async function findOrganizationId(db: Tx, name: string): Promise<number | undefined> {
  const o = await db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst();
  return o ? Number(o.id) : undefined;
}

/** The event families of every enabled endpoint (with repeats). */
export async function subscribedFamilies(db: Tx): Promise<string[]> {
  const rows = await db.selectFrom('webhook_endpoints').select('events').where('enabled', '=', 1).execute();
  return rows.flatMap((r) => JSON.parse(r.events) as string[]);
}

/** Inserts an endpoint whose secret is not sealed yet (sealing binds the id: see sealEndpointSecrets); returns its id. */
export async function insertEndpoint(tx: Tx, e: NewEndpoint): Promise<number> {
  const row = await tx.insertInto('webhook_endpoints').values({
    org_id: e.orgId, name: e.name, url: e.url, secret_sealed: 'pending', format: e.format, events: JSON.stringify(e.events),
    repository_pattern: e.repositoryPattern, headers_sealed: null, tls_verify: e.tlsVerify ? 1 : 0, enabled: e.enabled ? 1 : 0,
    from_event: e.fromEvent, created_at: e.createdAt, created_by: e.createdBy,
  }).returning('id').executeTakeFirstOrThrow();
  return Number(row.id);
}

export async function sealEndpointSecrets(tx: Tx, id: number, secretSealed: string, headersSealed: string | null): Promise<void> {
  await tx.updateTable('webhook_endpoints').set({ secret_sealed: secretSealed, headers_sealed: headersSealed }).where('id', '=', id).execute();
}

export async function updateEndpoint(tx: Tx, id: number, c: EndpointChanges): Promise<void> {
  await tx.updateTable('webhook_endpoints').set({
    ...(c.name !== undefined ? { name: c.name } : {}),
    ...(c.url !== undefined ? { url: c.url } : {}),
    ...(c.format !== undefined ? { format: c.format } : {}),
    ...(c.events !== undefined ? { events: JSON.stringify(c.events) } : {}),
    ...(c.repositoryPattern !== undefined ? { repository_pattern: c.repositoryPattern } : {}),
    ...(c.headersSealed !== undefined ? { headers_sealed: c.headersSealed } : {}),
    ...(c.tlsVerify !== undefined ? { tls_verify: c.tlsVerify ? 1 : 0 } : {}),
    ...(c.enabled !== undefined ? { enabled: c.enabled ? 1 : 0 } : {}),
    ...(c.secretSealed !== undefined ? { secret_sealed: c.secretSealed } : {}),
  }).where('id', '=', id).execute();
}

/** Deletes the endpoint; its deliveries and their attempts go with it (foreign keys). */
export async function deleteEndpoint(tx: Tx, id: number): Promise<void> {
  await tx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

function inScope(db: Tx, orgId: number | null) {
  const q = db.selectFrom('webhook_endpoints').leftJoin('organizations as o', 'o.id', 'webhook_endpoints.org_id').selectAll('webhook_endpoints').select('o.name as org_name');
  return orgId === null ? q.where('webhook_endpoints.org_id', 'is', null) : q.where('webhook_endpoints.org_id', '=', orgId);
}

const toEndpoint = (r: {
  id: number; org_name: string | null; name: string; url: string; format: string; events: string; repository_pattern: string | null; headers_sealed: string | null;
  tls_verify: number; enabled: number; created_at: number; created_by: string;
}): EndpointRow => ({
  id: Number(r.id), org: r.org_name, name: r.name, url: r.url, format: r.format, events: JSON.parse(r.events) as string[], repositoryPattern: r.repository_pattern,
  headersSealed: r.headers_sealed, tlsVerify: Boolean(r.tls_verify), enabled: Boolean(r.enabled), createdAt: Number(r.created_at), createdBy: r.created_by,
});

/** The endpoints of a scope (an organization's id, or null: the global ones), in id order. */
export async function listEndpoints(db: Tx, orgId: number | null): Promise<EndpointRow[]> {
  return (await inScope(db, orgId).orderBy('webhook_endpoints.id').execute()).map(toEndpoint);
}

/** One endpoint, only within its scope. */
export async function findEndpoint(db: Tx, orgId: number | null, id: number): Promise<EndpointRow | undefined> {
  const r = await inScope(db, orgId).where('webhook_endpoints.id', '=', id).executeTakeFirst();
  return r && toEndpoint(r);
}

/** The sealed secret and headers of an endpoint (it must exist). */
export async function sealedSecrets(db: Tx, id: number): Promise<{ secretSealed: string; headersSealed: string | null }> {
  const r = await db.selectFrom('webhook_endpoints').select(['secret_sealed', 'headers_sealed']).where('id', '=', id).executeTakeFirstOrThrow();
  return { secretSealed: r.secret_sealed, headersSealed: r.headers_sealed };
}

/** Where and how a delivery to the endpoint is sent; undefined once it was removed. */
export async function deliveryTarget(db: Tx, id: number): Promise<{ url: string; format: string; tlsVerify: boolean; enabled: boolean } | undefined> {
  const r = await db.selectFrom('webhook_endpoints').select(['url', 'format', 'tls_verify', 'enabled']).where('id', '=', id).executeTakeFirst();
  return r && { url: r.url, format: r.format, tlsVerify: Boolean(r.tls_verify), enabled: Boolean(r.enabled) };
}
