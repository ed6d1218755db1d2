// The shapes /api/v1 answers with (see GET /api/v1/openapi.json). Written by hand: the UI talks to Berth
// over HTTP only and never imports server code.
export type Role = 'reader' | 'developer' | 'maintainer' | 'admin';
export const ROLES: Role[] = ['reader', 'developer', 'maintainer', 'admin'];
export type Action = 'pull' | 'push' | 'delete';

export interface User {
  name: string; admin: boolean; disabled: boolean; source: string; totp: boolean;
  email: string | null; displayName: string | null; createdAt: number;
}
export interface Session { user: User; capabilities: { createOrganizations: boolean }; via: 'session' | 'token' | 'basic'; csrfToken: string | null; expiresAt: number | null }
export interface Page<T> { items: T[]; next: string | null }
export interface Items<T> { items: T[] }

export interface Scope { pattern: string; actions: Action[] }
export interface AccessToken {
  id: string; name: string; scopes: Scope[] | null; createdAt: number;
  expiresAt: number | null; lastUsedAt: number | null; revokedAt: number | null;
}
export interface CreatedToken { token: AccessToken; secret: string }
export interface TotpEnrollment { secret: string; uri: string }

export interface Organization { name: string; public: boolean; createdAt: number; role: Role | null }
export interface Member { kind: 'user' | 'team'; name: string; role: Role }
export interface Team { name: string; directoryGroup: string | null; members: number }
export interface TeamDetail extends Team { memberList: { name: string; source: string }[] }
export interface Robot { name: string; scopes: Scope[]; createdAt: number; expiresAt: number | null; lastUsedAt: number | null; disabled: boolean }
export interface RobotSecret { robot: Robot; secret: string }

export type Visibility = 'public' | 'private' | 'inherit';
export interface RepositorySummary { name: string; public: boolean }
export interface Repository {
  name: string; exists: boolean; visibility: Visibility; public: boolean;
  permissions: { pull: boolean; push: boolean; delete: boolean; settings: boolean; members: boolean };
}

export interface Platform { os: string; architecture: string; variant?: string }
export interface TagInfo {
  name: string; digest: string; mediaType: string; size: number; pushedAt: number;
  platforms: Platform[]; artifactType: string | null;
}
export type TagSort = 'name' | 'pushed' | 'size';
export interface Descriptor { digest: string; mediaType: string; size: number; annotations?: Record<string, string> | null }
export interface ManifestDetail {
  digest: string; mediaType: string; size: number; artifactType?: string | null; pushedAt?: number;
  manifest: Record<string, unknown>;
  config: ImageConfig | null;
  layers: Descriptor[];
  children: { digest: string; mediaType: string; size?: number; platform: Platform | null; artifactType?: string | null }[];
  referrers: { digest: string; artifactType: string | null; mediaType: string; size: number; annotations: Record<string, string> | null }[];
  tags: string[];
}
export interface ImageConfig {
  architecture?: string; os?: string; variant?: string; created?: string; author?: string;
  config?: {
    Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null; WorkingDir?: string; User?: string; Volumes?: Record<string, unknown> | null; StopSignal?: string;
  };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }[];
  rootfs?: { type: string; diff_ids: string[] };
  [key: string]: unknown;
}

export interface StorageStats {
  organizations: { name: string; bytes: number; repositories: number }[];
  repositories: { name: string; bytes: number }[];
  totalBytes: number;
}
export interface ActivityStats { days: { date: string; pushes: number; pulls: number }[] }

export interface GcJob {
  id: string; state: 'running' | 'done' | 'failed'; dryRun: boolean; startedAt: number; finishedAt: number | null;
  /** phase, and counters so far (e.g. removed, bytes); done/total when the phase knows its size */
  progress: { phase: string; fields?: Record<string, unknown>; done?: number; total?: number };
  report: Record<string, unknown> | null;
  error: string | null;
}

export type Outcome = 'success' | 'failure' | 'denied';
export interface AuditRecord {
  seq: number; at: number; actor: string; actorSource: string; address: string; userAgent: string;
  action: string; resource: string; outcome: Outcome; requestId: string;
  detail: Record<string, unknown> | null; prevHash: string; hash: string;
}
export interface AuditVerification {
  ok: boolean; records: number; checkpoints: number;
  firstBad?: { seq: number; reason: string };
  head?: { seq: number; hash: string };
  from?: number;
  lastCheckpoint?: { seq: number; at: number };
}

export type EventFamily = 'push' | 'pull' | 'delete' | 'tag' | 'mount' | 'login_failure' | 'scan' | 'quota' | 'access';
export const EVENT_FAMILIES: { value: EventFamily; label: string; reserved?: boolean }[] = [
  { value: 'push', label: 'Push' }, { value: 'pull', label: 'Pull' }, { value: 'delete', label: 'Delete' },
  { value: 'tag', label: 'Tag change' }, { value: 'mount', label: 'Cross-repository mount' },
  { value: 'login_failure', label: 'Failed login' }, { value: 'access', label: 'Members and roles' },
  { value: 'scan', label: 'Scan (reserved)', reserved: true }, { value: 'quota', label: 'Quota (reserved)', reserved: true },
];
export type WebhookFormat = 'distribution-v1' | 'distribution-v2' | 'cloudevents';
export interface Webhook {
  id: number; org: string | null; name: string; url: string; format: WebhookFormat; events: EventFamily[];
  repositoryPattern: string | null; headerNames: string[]; tlsVerify: boolean; enabled: boolean; createdAt: number; createdBy: string;
}
export interface CreatedWebhook { webhook: Webhook; secret: string }
export interface WebhookDelivery {
  id: number; eventId: string; eventType: string; state: 'pending' | 'delivered' | 'dead'; attempts: number;
  nextAttemptAt: number; lastStatus: number | null; lastError: string | null; createdAt: number; finishedAt: number | null;
  history: { attempt: number; at: number; status: number | null; latencyMs: number; error: string | null; response: string | null }[];
}
export interface WebhookDeliveryPage { items: WebhookDelivery[]; next: string | number | null }
