// Request and response shapes of /api/v1: validated on the way in, and the source of the OpenAPI document.
import { z } from 'zod';
import { ROLES } from '../../auth/roles.js';
// The families endpoints may subscribe to are the event model's own list, so the two cannot drift.
import { EVENT_FAMILIES } from '../../events/event.js';
import { globProblem, GLOB_MAX_LENGTH } from '../../lib/glob.js';
import { API_STATUS, API_WIRE_CODES } from './api-wire-codes.js';

const name = z.string().min(1).max(64).regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'lower-case letters, digits and . _ - (not at the ends)');
export const role = z.enum(ROLES);
const time = z.number().int().describe('milliseconds since the epoch');

export const ApiErrorBody = z.object({
  error: z.object({
    code: z.enum(API_WIRE_CODES).describe(`stable; clients branch on it: ${API_WIRE_CODES.map((c) => `${c} (${API_STATUS[c]})`).join(', ')}`),
    message: z.string().describe('for people'),
    detail: z.unknown().optional().describe('a 400 for request fields: [{"path","message"}]'),
    requestId: z.string().describe('the X-Request-Id of the request, as in the log'),
  }),
}).meta({ id: 'Error' });

export const User = z.object({
  name: z.string(),
  admin: z.boolean(),
  disabled: z.boolean(),
  source: z.string().describe('local, ldap or robot'),
  totp: z.boolean().describe('a second factor is in force'),
  email: z.string().nullable(),
  displayName: z.string().nullable(),
  createdAt: time,
}).meta({ id: 'User' });

export const Page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next: z.string().nullable().describe('pass as `last` for the next page; null at the end') });
export const Items = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

export const LoginRequest = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  code: z.string().max(16).optional().describe('the one-time code, for accounts with a second factor'),
});
export const Session = z.object({
  user: User,
  capabilities: z.object({ createOrganizations: z.boolean().describe('whether this caller may create organizations') }),
  via: z.enum(['session', 'token', 'basic']),
  csrfToken: z.string().nullable().describe('send as X-CSRF-Token on every state-changing request made with the session cookie'),
  expiresAt: time.nullable(),
}).meta({ id: 'Session' });

export const PasswordChange = z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(1).max(1024) });
export const TotpEnrollment = z.object({ secret: z.string().describe('base32'), uri: z.string().describe('otpauth:// URI for a QR code') });
export const TotpCode = z.strictObject({ code: z.string().regex(/^\d{6}$/, 'six digits') });

/** A repository name pattern, refused when it could not be stored (length, characters, wildcards). */
const pattern = z.string().min(1).max(GLOB_MAX_LENGTH).superRefine((v, ctx) => {
  const problem = globProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
export const Scope = z.strictObject({
  pattern: pattern.describe('repository name pattern: * within a path component, ** across them'),
  actions: z.array(z.enum(['pull', 'push', 'delete'])).min(1),
});
export const TokenCreate = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(Scope).min(1).max(50).optional().describe('absent: everything the user may do'),
  expiresInDays: z.number().positive().max(3650).optional(),
});
export const AccessToken = z.object({
  id: z.string(), name: z.string(), scopes: z.array(Scope).nullable(), createdAt: time,
  expiresAt: time.nullable(), lastUsedAt: time.nullable(), revokedAt: time.nullable(),
}).meta({ id: 'AccessToken' });
export const CreatedToken = z.object({ token: AccessToken, secret: z.string().describe('shown only in this response') });

export const UserCreate = z.strictObject({ name, password: z.string().min(1).max(1024), admin: z.boolean().optional() });
export const UserDeleteQuery = z.strictObject({
  repositories: z.enum(['refuse', 'transfer', 'delete']).optional().describe('what becomes of the user\'s repositories (default refuse while any remain)'),
  transferTo: name.optional().describe('with repositories=transfer: the user who owns the organization the namespace becomes'),
});
export const UserUpdate = z.strictObject({ admin: z.boolean().optional(), disabled: z.boolean().optional(), password: z.string().min(1).max(1024).optional() });

export const Organization = z.object({
  name: z.string(), public: z.boolean(), createdAt: time,
  role: role.nullable().describe("the caller's role on it"),
}).meta({ id: 'Organization' });
export const OrganizationCreate = z.strictObject({ name, public: z.boolean().optional() });
export const OrganizationUpdate = z.strictObject({ public: z.boolean() });

export const Member = z.object({ kind: z.enum(['user', 'team']), name: z.string(), role }).meta({ id: 'Member' });
export const RoleAssignment = z.strictObject({ role });

export const Team = z.object({ name: z.string(), directoryGroup: z.string().nullable(), members: z.number().int() }).meta({ id: 'Team' });
export const TeamDetail = Team.extend({ memberList: z.array(z.object({ name: z.string(), source: z.string() })) });
export const TeamCreate = z.strictObject({ name, directoryGroup: z.string().min(1).max(1024).optional() });
export const TeamUpdate = z.strictObject({ directoryGroup: z.string().min(1).max(1024).nullable() });

export const Robot = z.object({
  name: z.string().describe('ORG+NAME: the user name to log in with'),
  scopes: z.array(Scope), createdAt: time, expiresAt: time.nullable(), lastUsedAt: time.nullable(), disabled: z.boolean(),
}).meta({ id: 'Robot' });
export const RobotCreate = z.strictObject({ name, scopes: z.array(Scope).min(1).max(50), expiresInDays: z.number().positive().max(3650).optional() });
export const RobotSecret = z.object({ robot: Robot, secret: z.string().describe('shown only in this response') });

export const Repository = z.object({
  name: z.string(),
  exists: z.boolean().describe('whether anything was ever pushed to it (false: the permissions say what the caller could do)'),
  visibility: z.enum(['public', 'private', 'inherit']).describe('inherit: as its organization (private in a user namespace)'),
  public: z.boolean().describe('the effective visibility'),
  permissions: z.object({ pull: z.boolean(), push: z.boolean(), delete: z.boolean(), settings: z.boolean(), members: z.boolean() }),
}).meta({ id: 'Repository' });
export const RepositoryDeleted = z.object({
  tags: z.number().int(), manifests: z.number().int(), blobLinks: z.number().int().describe('links to blobs removed; garbage collection frees blobs no other repository links'),
}).meta({ id: 'RepositoryDeleted' });
export const RepositorySummary = z.object({ name: z.string(), public: z.boolean() }).meta({ id: 'RepositorySummary' });
export const RepositoryUpdate = z.strictObject({ visibility: z.enum(['public', 'private', 'inherit']) });

export const PageQuery = z.strictObject({
  n: z.coerce.number().int().min(1).max(1000).optional(),
  last: z.string().max(512).optional(),
  q: z.string().max(256).optional().describe('substring of the name'),
});

export const AuditRecord = z.object({
  seq: z.number().int(), at: time, actor: z.string(), actorSource: z.string(), address: z.string(), userAgent: z.string(),
  action: z.string(), resource: z.string(), outcome: z.enum(['success', 'failure', 'denied']), requestId: z.string(),
  detail: z.record(z.string(), z.unknown()).nullable(), prevHash: z.string(), hash: z.string(),
}).meta({ id: 'AuditRecord' });

const timeParam = z.string().max(40).describe('ISO 8601 time or milliseconds since the epoch');
export const AuditQuery = z.strictObject({
  actor: z.string().max(256).optional(),
  action: z.string().max(100).optional().describe('exact action, or a prefix ending in "." such as "user."'),
  repository: z.string().max(255).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: timeParam.optional(),
  until: timeParam.optional(),
  before: z.coerce.number().int().positive().optional().describe('cursor: the `next` of the previous page'),
  n: z.coerce.number().int().min(1).max(1000).optional(),
});
export const AuditExportQuery = AuditQuery.omit({ before: true, n: true }).extend({ format: z.enum(['jsonl', 'csv']).default('jsonl') });

export const AuditVerification = z.object({
  ok: z.boolean(), records: z.number().int(), checkpoints: z.number().int(),
  firstBad: z.object({ seq: z.number().int(), reason: z.string() }).optional(),
  head: z.object({ seq: z.number().int(), hash: z.string() }).optional(),
  from: z.number().int().optional(),
  lastCheckpoint: z.object({ seq: z.number().int(), at: time }).optional(),
}).meta({ id: 'AuditVerification' });

// The families endpoints may subscribe to are the event model's own list, so the two cannot drift.
const families = z.enum(EVENT_FAMILIES);
const formats = z.enum(['distribution-v1', 'distribution-v2', 'cloudevents']);
export const WebhookCreate = z.strictObject({
  name: z.string().min(1).max(100),
  url: z.string().min(1).max(2048),
  format: formats.default('distribution-v1').describe('distribution-v1 (Distribution 2.x envelope), distribution-v2 (3.x), or cloudevents (CloudEvents 1.0 JSON)'),
  events: z.array(families).min(1).describe('event families to deliver'),
  repositoryPattern: pattern.nullable().optional().describe('only repositories matching (* within a component, ** across)'),
  headers: z.record(z.string(), z.string().max(4096)).optional().describe('custom headers sent with every delivery (stored encrypted)'),
  tlsVerify: z.boolean().optional().describe('verify the receiver\'s certificate (default true)'),
  enabled: z.boolean().optional(),
  secret: z.string().min(16).max(256).optional().describe('HMAC secret; generated when absent'),
});
export const WebhookUpdate = WebhookCreate.partial();
export const Webhook = z.object({
  id: z.number().int(), org: z.string().nullable(), name: z.string(), url: z.string(), format: formats, events: z.array(families),
  repositoryPattern: z.string().nullable(), headerNames: z.array(z.string()), tlsVerify: z.boolean(), enabled: z.boolean(), createdAt: time, createdBy: z.string(),
}).meta({ id: 'Webhook' });
export const CreatedWebhook = z.object({ webhook: Webhook, secret: z.string().describe('shown only in this response') });
export const WebhookDelivery = z.object({
  id: z.number().int(), eventId: z.string(), eventType: z.string(), state: z.enum(['pending', 'delivered', 'dead']), attempts: z.number().int(),
  nextAttemptAt: time, lastStatus: z.number().int().nullable(), lastError: z.string().nullable(), createdAt: time, finishedAt: time.nullable(),
  history: z.array(z.object({ attempt: z.number().int(), at: time, status: z.number().int().nullable(), latencyMs: z.number().int(), error: z.string().nullable(), response: z.string().nullable() })),
}).meta({ id: 'WebhookDelivery' });
export const PingResult = z.object({ deliveryId: z.number().int(), eventId: z.string() });
export const DeliveryQuery = z.strictObject({ n: z.coerce.number().int().min(1).max(200).optional(), before: z.coerce.number().int().positive().optional() });

export const TagQuery = z.strictObject({
  n: z.coerce.number().int().min(1).max(1000).optional(),
  last: z.string().max(160).optional().describe('the previous page\'s `next`: a tag name (name order) or a cursor; a deleted tag still continues after it'),
  sort: z.enum(['name', 'pushed', 'size']).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  q: z.string().max(128).optional().describe('substring of the tag name'),
});
export const Platform = z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() });
export const TagInfo = z.object({
  name: z.string(), digest: z.string(), mediaType: z.string(), artifactType: z.string().nullable(),
  size: z.number().int().describe('bytes: the manifest and its blobs (an index: and its children)'), pushedAt: time,
  platforms: z.array(Platform).describe("an index: its children's platforms; an image: its configuration's os/architecture; artifacts: none"),
}).meta({ id: 'TagInfo' });
export const TagPage = Page(TagInfo).extend({ total: z.number().int().describe('tags matching, on all pages') });
const descriptor = z.object({ digest: z.string(), mediaType: z.string(), size: z.number().int() });
export const ManifestDetail = z.object({
  digest: z.string(), mediaType: z.string(), artifactType: z.string().nullable(), size: z.number().int(), pushedAt: time,
  manifest: z.unknown(), config: z.unknown().describe('the image configuration (JSON), when there is one'),
  layers: z.array(descriptor.extend({ annotations: z.record(z.string(), z.string()).nullable() })),
  children: z.array(descriptor.extend({ platform: Platform.nullable(), artifactType: z.string().nullable() })),
  referrers: z.array(descriptor.extend({ artifactType: z.string(), annotations: z.record(z.string(), z.string()).nullable() })),
  tags: z.array(z.string()),
}).meta({ id: 'ManifestDetail' });
export const StorageStats = z.object({
  totalBytes: z.number().int(),
  organizations: z.array(z.object({ name: z.string(), bytes: z.number().int(), repositories: z.number().int() })),
  repositories: z.array(z.object({ name: z.string(), bytes: z.number().int() })),
}).meta({ id: 'StorageStats' });
export const ActivityStats = z.object({ days: z.array(z.object({ date: z.string(), pushes: z.number().int(), pulls: z.number().int() })) }).meta({ id: 'ActivityStats' });
export const ScanView = z.object({
  digest: z.string(),
  state: z.enum(['none', 'queued', 'scanning', 'done', 'failed', 'skipped']),
  catalog: z.unknown().optional().describe('the catalogue: per platform manifest its distribution and packages (purl, ecosystem, layer, path)'),
  scannedAt: time.optional(), scanner: z.string().optional(), durationMs: z.number().optional(), bytesRead: z.number().optional(),
  packages: z.number().optional(), error: z.string().optional(),
  queue: z.object({ reason: z.string(), queuedAt: time, attempts: z.number() }).optional(),
  vulnerabilities: z.object({
    dbVersion: z.number(), current: z.boolean().describe('matched against the database as last imported'), matchedAt: time,
    counts: z.record(z.string(), z.number()),
    findings: z.array(z.unknown()).optional().describe('id (CVE when known), ids, severity, score, package (name, version, purl, layer, path), fixedVersion, confidence, sources'),
  }).optional(),
}).meta({ id: 'Scan' });

export const SbomQuery = z.strictObject({
  format: z.enum(['cyclonedx', 'spdx']).optional(),
  /** for an index: the platform manifest's digest (default: the first image) */
  platform: z.string().max(200).optional(),
});

export const VulnerabilityQuery = z.strictObject({
  format: z.enum(['json', 'harbor']).optional(),
  /** only findings at or above this severity */
  severity: z.enum(['critical', 'high', 'medium', 'low']).optional(),
});

export const ScanPolicyBody = z.strictObject({
  severity: z.enum(['critical', 'high', 'medium', 'low']),
  unscanned: z.enum(['allow', 'block']).optional(),
  /** user or robot names whose pulls the policy never refuses */
  exempt: z.array(z.string().min(1).max(256)).max(1000).optional(),
  /** principals that may push to the repository are exempt (default false) */
  exemptPushers: z.boolean().optional(),
});

export const ScanAllowBody = z.strictObject({
  vulnId: z.string().min(1).max(200),
  until: z.string().max(40).describe('ISO 8601 date or time in the future'),
  reason: z.string().min(1).max(2000),
});

export const ScanPolicyView = z.object({
  policy: z.object({
    target: z.string(), severity: z.string(), unscanned: z.enum(['allow', 'block']), exempt: z.array(z.string()), exemptPushers: z.boolean(), updatedAt: time, updatedBy: z.string(),
  }).nullable(),
  allowList: z.array(z.object({ vulnId: z.string(), until: time, reason: z.string(), createdBy: z.string(), createdAt: time, expired: z.boolean() })),
}).meta({ id: 'ScanPolicy' });

export const VulnDbStatusView = z.object({
  dbVersion: z.number(), records: z.number(), withdrawn: z.number(), packages: z.number(),
  sources: z.array(z.object({ name: z.string(), records: z.number(), newestModified: z.string().nullable(), importedAt: time, file: z.string(), verified: z.string() })),
  lastImportAt: time.nullable(), outOfDate: z.boolean(), maxAgeDays: z.number(),
}).meta({ id: 'VulnDbStatus' });

export const GcRunView = z.object({
  id: z.string(), state: z.enum(['running', 'done', 'failed']), dryRun: z.boolean(), startedAt: time, finishedAt: time.nullable(),
  progress: z.object({ phase: z.string(), fields: z.record(z.string(), z.unknown()) }), report: z.record(z.string(), z.unknown()).nullable(), error: z.string().nullable(),
}).meta({ id: 'GcRun' });
