// Berth's events: what happened, written to the outbox (outbox.ts) in the same transaction as the change,
// then read by consumers (consumer.ts), the first of which turns them into webhook deliveries (in
// Distribution's envelope or as CloudEvents). catalogue.ts has one constructor per type.
import { namespaceOf } from '../oci/reference.js';

/** Event types (past tense). Room is left for scan and quota results. */
export const EVENT_TYPES = [
  'manifest.pushed', 'manifest.pulled', 'manifest.deleted',
  'tag.updated', 'tag.deleted',
  'blob.mounted', 'blob.deleted',
  'repository.deleted',
  'login.failed',
  'scan.completed', 'quota.exceeded',
  'webhook.ping',
  // Who may do what: memberships and roles (family "access").
  'organization.member.added', 'organization.member.removed', 'organization.member.role_changed',
  'team.created', 'team.deleted', 'team.member.added', 'team.member.removed',
  'repository.role.granted', 'repository.role.revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Endpoint filters name these families rather than single types. */
export const EVENT_FAMILIES = ['push', 'pull', 'delete', 'tag', 'mount', 'login_failure', 'scan', 'quota', 'access'] as const;
export type EventFamily = (typeof EVENT_FAMILIES)[number];

export function familyOf(type: EventType): EventFamily | 'ping' {
  switch (type) {
    case 'manifest.pushed': return 'push';
    case 'manifest.pulled': return 'pull';
    case 'manifest.deleted': case 'blob.deleted': case 'tag.deleted': case 'repository.deleted': return 'delete';
    case 'tag.updated': return 'tag';
    case 'blob.mounted': return 'mount';
    case 'login.failed': return 'login_failure';
    case 'scan.completed': return 'scan';
    case 'quota.exceeded': return 'quota';
    case 'webhook.ping': return 'ping';
    case 'organization.member.added': case 'organization.member.removed': case 'organization.member.role_changed':
    case 'team.created': case 'team.deleted': case 'team.member.added': case 'team.member.removed':
    case 'repository.role.granted': case 'repository.role.revoked':
      return 'access';
  }
}

/** Every type of the given families. */
export function typesOf(families: readonly (EventFamily | 'ping')[]): EventType[] {
  return EVENT_TYPES.filter((t) => families.includes(familyOf(t)));
}

export interface EventActor {
  /** account name; empty for anonymous */
  name: string;
  /** how it authenticated: local, ldap, token, robot, anonymous */
  source: string;
}

export interface EventRequest {
  id: string;
  /** client address (after trusted proxies) */
  addr: string;
  /** the Host the client asked for */
  host: string;
  method: string;
  useragent: string;
}

export interface EventTarget {
  repository: string;
  digest?: string;
  mediaType?: string;
  size?: number;
  tag?: string;
  /** absolute URL of the manifest or blob, when the public address is known */
  url?: string;
  /** for blob.mounted: the repository it was mounted from */
  from?: string;
  /** for index manifests: their children's digests */
  references?: string[];
}

export interface BerthEvent {
  /** UUID, stable across redeliveries: receivers drop duplicates by it */
  id: string;
  type: EventType;
  /** ISO 8601 with milliseconds, UTC */
  timestamp: string;
  actor: EventActor;
  request: EventRequest;
  target?: EventTarget;
  /** the Berth instance: its public address and a stable instance id */
  source: { addr: string; instanceID: string };
  /** type-specific details (login failures: user name and reason; access changes: organization, subject, role) */
  data?: Record<string, unknown>;
}

/** An event as a change describes it; the outbox adds id, time, actor, request and source. */
export interface NewEvent {
  type: EventType;
  /** the repository it concerns, for filters (defaults to target.repository) */
  repository?: string;
  target?: EventTarget;
  data?: Record<string, unknown>;
}

/**
 * The namespace (organization or user) an event concerns, for organization-scoped filters: its
 * repository's, or the organization named in its data (access changes); null for registry-wide events.
 */
export function namespaceOfEvent(repository: string | null, event: BerthEvent): string | null {
  if (repository !== null) return namespaceOf(repository);
  const org = event.data?.organization;
  return typeof org === 'string' ? org : null;
}
