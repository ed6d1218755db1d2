// Berth's events: what happened, written to the outbox in the same transaction as the change, then
// delivered to webhooks (in Distribution's envelope or as CloudEvents) and summarized in the audit log.

/** Event types (past tense). Room is left for scan and quota results. */
export const EVENT_TYPES = [
  'manifest.pushed', 'manifest.pulled', 'manifest.deleted',
  'tag.updated', 'tag.deleted',
  'blob.mounted', 'blob.deleted',
  'repository.deleted',
  'login.failed',
  'scan.completed', 'quota.exceeded',
  'webhook.ping',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Endpoint filters name these families rather than single types. */
export const EVENT_FAMILIES = ['push', 'pull', 'delete', 'tag', 'mount', 'login_failure', 'scan', 'quota'] as const;
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
  }
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
  /** type-specific details (login failures: user name and reason; scans: summary) */
  data?: Record<string, unknown>;
}
