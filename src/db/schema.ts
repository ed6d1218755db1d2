// Table types for Kysely. Times are milliseconds since the epoch.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
  /** tags in the repository (kept by triggers) */
  tag_count: Generated<number>;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** last upload, mount or link: garbage collection spares blobs touched within its grace period */
  touched_at: number;
}

export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
  touched_at: number;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  size: number;
  content: Buffer;
  /** JSON of the manifest's top-level annotations, for referrers listings */
  annotations: string | null;
  created_at: number;
  /** own bytes + blobs + (an index) children's totals */
  total_size: Generated<number>;
}

export interface ManifestBlobsTable {
  manifest_id: number;
  repository_id: number;
  digest: string;
}

export interface ManifestChildrenTable {
  manifest_id: number;
  repository_id: number;
  child_digest: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  updated_at: number;
  /** the manifest's total_size (kept by a trigger) */
  size: Generated<number>;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  /** bytes received and acknowledged */
  size: number;
  /** set when a chunk below the minimum chunk length arrived: it must have been the last */
  short_chunk_end: number | null;
  /** digest verified and being published (completes a publication a crash cut off) */
  publishing_digest: string | null;
  created_at: number;
  updated_at: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  password_hash: string | null;
  is_admin: number;
  disabled: number;
  source: string;
  tokens_valid_after: number;
  created_at: number;
  totp_secret_sealed: string | null;
  totp_pending_sealed: string | null;
  totp_last_step: number | null;
  external_dn: string | null;
  email: string | null;
  display_name: string | null;
  synced_at: number | null;
}

export interface SessionsTable {
  id_hash: string;
  user_id: number;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  address: string;
  user_agent: string;
}

export interface SigningKeysTable {
  kid: string;
  public_jwk: string;
  private_key_sealed: string | null;
  created_at: number;
  sign_until: number | null;
  verify_until: number | null;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  window_start: number;
  locked_until: number;
}

export interface AuthFailuresTable {
  id: Generated<number>;
  at: number;
  user_name: string;
  address: string;
  source: string;
  reason: string;
}

export interface AccessTokensTable {
  id: string;
  user_id: number;
  name: string;
  secret_hash: string;
  scopes: string | null;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface OrganizationsTable { id: Generated<number>; name: string; public: number; created_at: number }
export interface TeamsTable { id: Generated<number>; org_id: number; name: string; directory_group: string | null }
/** source: manual, or directory (the LDAP sync added it and may remove it) */
export interface TeamMembersTable { team_id: number; user_id: number; source: Generated<string> }
export interface MemberRoleRow { subject_kind: 'user' | 'team'; subject_id: number; role: string }
export interface OrgMembersTable extends MemberRoleRow { org_id: number }
export interface RepositoryMembersTable extends MemberRoleRow { repository_name: string }
export interface RepositorySettingsTable { name: string; public: number | null }

export interface AuditLogTable {
  seq: number; at: number; actor: string; actor_source: string; address: string; user_agent: string;
  action: string; resource: string; outcome: string; request_id: string; detail: string | null; prev_hash: string; hash: string;
}
/** The chain's head (one row, id 1): locked by every writer of the chain; seq 0 for an empty chain. */
export interface AuditHeadTable { id: number; seq: number; hash: string }
export interface AuditCheckpointsTable { seq: number; hash: string; at: number; key_id: string; signature: string; archived: string | null }
export interface EventsTable { id: Generated<number>; event_id: string; type: string; repository: string | null; payload: string; created_at: number }
export interface WebhookEndpointsTable {
  id: Generated<number>; org_id: number | null; name: string; url: string; secret_sealed: string; format: string; events: string;
  repository_pattern: string | null; headers_sealed: string | null; tls_verify: number; enabled: number; from_event: number; created_at: number; created_by: string;
}
export interface WebhookDeliveriesTable {
  id: Generated<number>; endpoint_id: number; event_seq: number; event_id: string; state: string; attempts: number; next_attempt_at: number;
  lease_until: number; last_status: number | null; last_error: string | null; created_at: number; finished_at: number | null;
}
export interface WebhookAttemptsTable { id: Generated<number>; delivery_id: number; attempt: number; at: number; status: number | null; latency_ms: number; error: string | null; response: string | null }
export interface CursorsTable { name: string; value: number }
export interface ScanQueueTable {
  digest: string; repository: string; reason: string; queued_at: number; not_before: number;
  attempts: Generated<number>; claimed_by: string | null; claimed_until: Generated<number>;
}
export interface ImageCatalogTable {
  digest: string; media_type: string; status: string; catalog: string | null; packages: Generated<number>; error: string | null;
  scanner: string; scanned_at: number; duration_ms: Generated<number>; bytes_read: Generated<number>;
}
export interface VulnSourceTable { name: string; records: number; newest_modified: string | null; imported_at: number; file: string; verified: string }
export interface VulnTable { id: string; source: string; modified: string; withdrawn: string | null; aliases: string; summary: string | null; severity: string; score: number | null; record: string }
export interface VulnPackageTable { vuln_id: string; ecosystem: string; name: string; affected: string }
export interface ImageFindingsTable { digest: string; db_version: number; matched_at: number; critical: number; high: number; medium: number; low: number; unknown: number; findings: string }
export interface ScanPolicyTable { target: string; severity: string; unscanned: string; exempt: string; exempt_pushers: number; updated_at: number; updated_by: string }
export interface ScanAllowTable { target: string; vuln_id: string; until: number; reason: string; created_by: string; created_at: number }
export interface GcReviewTable { kind: string; repository_id: number; digest: string; review_after: number; reason: string }
export interface AuditSpoolTable { segment: string; consumed: number; updated_at: number }
export interface LeasesTable { name: string; holder: string; until: number; acquired_at: number }
export interface JobRunsTable {
  id: string; job: string; trigger: string; state: string; params: string | null; attempt: number; max_attempts: number; not_before: number;
  holder: string | null; created_at: number; started_at: number | null; finished_at: number | null; progress: string | null; progress_at: number | null;
  result: string | null; error: string | null; cancel_requested: number;
}
export interface EncryptionKeysTable {
  id: string; provider: string; state: 'active' | 'retired'; created_at: number; retired_at: number | null; check_wrapped: Buffer; check_digest: string;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_blobs: ManifestBlobsTable;
  manifest_children: ManifestChildrenTable;
  tags: TagsTable;
  uploads: UploadsTable;
  users: UsersTable;
  signing_keys: SigningKeysTable;
  login_throttle: LoginThrottleTable;
  auth_failures: AuthFailuresTable;
  access_tokens: AccessTokensTable;
  organizations: OrganizationsTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  org_members: OrgMembersTable;
  repository_members: RepositoryMembersTable;
  repository_settings: RepositorySettingsTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_spool: AuditSpoolTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  cursors: CursorsTable;
  gc_review: GcReviewTable;
  scan_queue: ScanQueueTable;
  image_catalogs: ImageCatalogTable;
  vuln_sources: VulnSourceTable;
  vulns: VulnTable;
  vuln_packages: VulnPackageTable;
  image_findings: ImageFindingsTable;
  scan_policies: ScanPolicyTable;
  scan_allowlist: ScanAllowTable;
  leases: LeasesTable;
  job_runs: JobRunsTable;
  encryption_keys: EncryptionKeysTable;
}
