// The events Berth writes, one constructor per type (named in the past tense, like the types). Changes
// build them and append them to the outbox in their own transaction: outbox.append(tx, ctx, TagDeleted(…)).
// The fields given here are the event's payload as webhooks receive it (webhook-payload.ts renders them),
// so their names and order are part of the webhook format.
import type { EventTarget, NewEvent } from './event.js';

/** A manifest or index: the target every manifest and tag event carries. */
export type ManifestTarget = EventTarget & { digest: string };

/** A new manifest (one event per tag it was pushed with, or one without a tag). */
export const ManifestPushed = (target: ManifestTarget): NewEvent => ({ type: 'manifest.pushed', target });
/** A manifest was downloaded (written only while someone wants pull events: see Outbox.wantsEvent). */
export const ManifestPulled = (target: ManifestTarget): NewEvent => ({ type: 'manifest.pulled', target });
export const ManifestDeleted = (target: ManifestTarget): NewEvent => ({ type: 'manifest.deleted', target });
/** An existing manifest got a tag (a new one, or one moved from another manifest). */
export const TagUpdated = (target: ManifestTarget & { tag: string }): NewEvent => ({ type: 'tag.updated', target });
export const TagDeleted = (target: EventTarget & { tag: string }): NewEvent => ({ type: 'tag.deleted', target });
export const BlobMounted = (target: EventTarget & { digest: string; from: string }): NewEvent => ({ type: 'blob.mounted', target });
export const BlobDeleted = (target: EventTarget & { digest: string }): NewEvent => ({ type: 'blob.deleted', target });
/** A whole repository: its tags, manifests and blob links. */
export const RepositoryDeleted = (repository: string): NewEvent => ({ type: 'repository.deleted', repository, target: { repository } });

/** An image's findings changed (a scan, or the vulnerability database updated): counts and what came and went. */
export const ScanCompleted = (target: ManifestTarget, data: { counts: Record<string, number>; added: string[]; removed: string[]; dbVersion: number }): NewEvent =>
  ({ type: 'scan.completed', target, data });

export const LoginFailed = (d: { user: string; source: string; reason: string }): NewEvent => ({ type: 'login.failed', data: { user: d.user, source: d.source, reason: d.reason } });

/** A test event for one endpoint (delivered to it directly, never fanned out). */
export const WebhookPinged = (endpoint: number): NewEvent => ({ type: 'webhook.ping', data: { endpoint } });

/** Whom a role or membership is about: a user, or a team of the organization concerned. */
export interface AccessSubject { kind: 'user' | 'team'; name: string }

const subjectOf = (s: AccessSubject) => ({ kind: s.kind, name: s.name });

export const OrganizationMemberAdded = (d: { organization: string; subject: AccessSubject; role: string }): NewEvent =>
  ({ type: 'organization.member.added', data: { organization: d.organization, subject: subjectOf(d.subject), role: d.role } });
export const OrganizationMemberRemoved = (d: { organization: string; subject: AccessSubject; previous: string }): NewEvent =>
  ({ type: 'organization.member.removed', data: { organization: d.organization, subject: subjectOf(d.subject), previous: d.previous } });
export const OrganizationMemberRoleChanged = (d: { organization: string; subject: AccessSubject; role: string; previous: string }): NewEvent =>
  ({ type: 'organization.member.role_changed', data: { organization: d.organization, subject: subjectOf(d.subject), role: d.role, previous: d.previous } });

export const TeamCreated = (d: { organization: string; team: string }): NewEvent => ({ type: 'team.created', data: { organization: d.organization, team: d.team } });
export const TeamDeleted = (d: { organization: string; team: string }): NewEvent => ({ type: 'team.deleted', data: { organization: d.organization, team: d.team } });
/** source: manual, or directory (the LDAP sync follows a directory group). */
export const TeamMemberAdded = (d: { organization: string; team: string; user: string; source: string }): NewEvent =>
  ({ type: 'team.member.added', data: { organization: d.organization, team: d.team, user: d.user, source: d.source } });
export const TeamMemberRemoved = (d: { organization: string; team: string; user: string; source: string }): NewEvent =>
  ({ type: 'team.member.removed', data: { organization: d.organization, team: d.team, user: d.user, source: d.source } });

/** A role on one repository, given anew or replacing another (previous). */
export const RepositoryRoleGranted = (d: { repository: string; subject: AccessSubject; role: string; previous: string | null }): NewEvent =>
  ({ type: 'repository.role.granted', target: { repository: d.repository }, data: { repository: d.repository, subject: subjectOf(d.subject), role: d.role, previous: d.previous } });
export const RepositoryRoleRevoked = (d: { repository: string; subject: AccessSubject; previous: string }): NewEvent =>
  ({ type: 'repository.role.revoked', target: { repository: d.repository }, data: { repository: d.repository, subject: subjectOf(d.subject), previous: d.previous } });
