// The shapes /api/v1 answers with (see GET /api/v1/openapi.json): taken from the server's zod contracts
// through src/http/contracts/shared.ts, the one module of src/ the UI may import (types, and the roles as
// a constant; `npm run check:deps` enforces it), so the UI cannot drift from the API. This file only adds
// what the contracts leave open (the image configuration is any JSON to them) and labels for the UI.
import type { ManifestDetail as ManifestContract, EventFamily } from '../../src/http/contracts/shared.js';

export { ROLES } from '../../src/http/contracts/shared.js';
export type {
  AccessToken, Action, ActivityStats, AuditRecord, AuditVerification, CreatedToken, CreatedWebhook, EventFamily,
  Items, Member, Organization, Outcome, Page, Platform, Repository, RepositorySummary, Robot, RobotSecret, Role,
  Scope, Session, StorageStats, TagInfo, TagPage, TagSort, Team, TeamDetail, TotpEnrollment, User, Visibility, Webhook,
  WebhookDelivery, WebhookFormat, GcRun as GcJob,
} from '../../src/http/contracts/shared.js';
import type { Page, WebhookDelivery } from '../../src/http/contracts/shared.js';

export type WebhookDeliveryPage = Page<WebhookDelivery>;

/** A manifest's detail, with its image configuration (when it has one) read as an OCI image config. */
export type ManifestDetail = Omit<ManifestContract, 'config'> & { config: ImageConfig | null };
/** The parts of an OCI image configuration the UI shows; the API passes the JSON through as it is. */
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

// Labels for every family the API knows: a family added to the contract without a label fails to compile.
const FAMILY_LABELS: Record<EventFamily, { label: string; reserved?: boolean }> = {
  push: { label: 'Push' }, pull: { label: 'Pull' }, delete: { label: 'Delete' },
  tag: { label: 'Tag change' }, mount: { label: 'Cross-repository mount' },
  login_failure: { label: 'Failed login' }, access: { label: 'Members and roles' }, scan: { label: 'Scan (reserved)', reserved: true }, quota: { label: 'Quota (reserved)', reserved: true },
};
export const EVENT_FAMILIES: { value: EventFamily; label: string; reserved?: boolean }[] =
  (Object.keys(FAMILY_LABELS) as EventFamily[]).map((value) => ({ value, ...FAMILY_LABELS[value] }));
