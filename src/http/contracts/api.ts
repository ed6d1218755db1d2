// Request and response shapes of /api/v1: validated on the way in, and the source of the OpenAPI document.
import { z } from 'zod';

const name = z.string().min(1).max(64).regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'lower-case letters, digits and . _ - (not at the ends)');
export const role = z.enum(['reader', 'developer', 'maintainer', 'admin']);
const time = z.number().int().describe('milliseconds since the epoch');

export const ApiErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), detail: z.unknown().optional(), requestId: z.string() }),
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
  via: z.enum(['session', 'token', 'basic']),
  csrfToken: z.string().nullable().describe('send as X-CSRF-Token on every state-changing request made with the session cookie'),
  expiresAt: time.nullable(),
}).meta({ id: 'Session' });

export const PasswordChange = z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(1).max(1024) });
export const TotpEnrollment = z.object({ secret: z.string().describe('base32'), uri: z.string().describe('otpauth:// URI for a QR code') });
export const TotpCode = z.strictObject({ code: z.string().regex(/^\d{6}$/, 'six digits') });

const scope = z.strictObject({
  pattern: z.string().min(1).max(255).describe('repository name pattern: * within a path component, ** across them'),
  actions: z.array(z.enum(['pull', 'push', 'delete'])).min(1),
});
export const TokenCreate = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(scope).min(1).max(50).optional().describe('absent: everything the user may do'),
  expiresInDays: z.number().positive().max(3650).optional(),
});
export const AccessToken = z.object({
  id: z.string(), name: z.string(), scopes: z.array(scope).nullable(), createdAt: time,
  expiresAt: time.nullable(), lastUsedAt: time.nullable(), revokedAt: time.nullable(),
}).meta({ id: 'AccessToken' });
export const CreatedToken = z.object({ token: AccessToken, secret: z.string().describe('shown only in this response') });

export const UserCreate = z.strictObject({ name, password: z.string().min(1).max(1024), admin: z.boolean().optional() });
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
  scopes: z.array(scope), createdAt: time, expiresAt: time.nullable(), lastUsedAt: time.nullable(), disabled: z.boolean(),
}).meta({ id: 'Robot' });
export const RobotCreate = z.strictObject({ name, scopes: z.array(scope).min(1).max(50), expiresInDays: z.number().positive().max(3650).optional() });
export const RobotSecret = z.object({ robot: Robot, secret: z.string().describe('shown only in this response') });

export const Repository = z.object({
  name: z.string(),
  visibility: z.enum(['public', 'private', 'inherit']).describe('inherit: as its organization (private in a user namespace)'),
  public: z.boolean().describe('the effective visibility'),
  permissions: z.object({ pull: z.boolean(), push: z.boolean(), delete: z.boolean(), settings: z.boolean(), members: z.boolean() }),
}).meta({ id: 'Repository' });
export const RepositorySummary = z.object({ name: z.string(), public: z.boolean() }).meta({ id: 'RepositorySummary' });
export const RepositoryUpdate = z.strictObject({ visibility: z.enum(['public', 'private', 'inherit']) });

export const PageQuery = z.strictObject({
  n: z.coerce.number().int().min(1).max(1000).optional(),
  last: z.string().max(512).optional(),
  q: z.string().max(256).optional().describe('substring of the name'),
});
