// What code outside the server (the web UI) may import: the shapes /api/v1 answers with, derived from the
// contracts in api.ts so they cannot drift, and the few constants a client needs. Pure: the types come in
// with `import type` (erased, so neither zod nor the contracts reach the UI's bundle) and the only values
// are dependency-free constants. .dependency-cruiser.cjs holds these rules.
import type { z } from 'zod';
import type * as C from './api.js';

export { ROLES, type Role } from '../../auth/roles.js';

type Out<T extends z.ZodType> = z.output<T>;

export type Page<T> = Out<ReturnType<typeof C.Page<z.ZodType<T>>>>;
export type Items<T> = Out<ReturnType<typeof C.Items<z.ZodType<T>>>>;

export type User = Out<typeof C.User>;
export type Session = Out<typeof C.Session>;
export type Scope = Out<typeof C.Scope>;
export type Action = Scope['actions'][number];
export type AccessToken = Out<typeof C.AccessToken>;
export type CreatedToken = Out<typeof C.CreatedToken>;
export type TotpEnrollment = Out<typeof C.TotpEnrollment>;

export type Organization = Out<typeof C.Organization>;
export type Member = Out<typeof C.Member>;
export type Team = Out<typeof C.Team>;
export type TeamDetail = Out<typeof C.TeamDetail>;
export type Robot = Out<typeof C.Robot>;
export type RobotSecret = Out<typeof C.RobotSecret>;

export type Repository = Out<typeof C.Repository>;
export type Visibility = Repository['visibility'];
export type RepositorySummary = Out<typeof C.RepositorySummary>;
export type RepositoryDeleted = Out<typeof C.RepositoryDeleted>;

export type Platform = Out<typeof C.Platform>;
export type TagInfo = Out<typeof C.TagInfo>;
export type TagPage = Out<typeof C.TagPage>;
export type TagSort = NonNullable<Out<typeof C.TagQuery>['sort']>;
export type ManifestDetail = Out<typeof C.ManifestDetail>;

export type StorageStats = Out<typeof C.StorageStats>;
export type ActivityStats = Out<typeof C.ActivityStats>;
export type GcRun = Out<typeof C.GcRunView>;

export type AuditRecord = Out<typeof C.AuditRecord>;
export type Outcome = AuditRecord['outcome'];
export type AuditVerification = Out<typeof C.AuditVerification>;

export type Webhook = Out<typeof C.Webhook>;
export type EventFamily = Webhook['events'][number];
export type WebhookFormat = Webhook['format'];
export type CreatedWebhook = Out<typeof C.CreatedWebhook>;
export type WebhookDelivery = Out<typeof C.WebhookDelivery>;
export type PingResult = Out<typeof C.PingResult>;
