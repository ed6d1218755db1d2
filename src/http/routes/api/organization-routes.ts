// /api/v1 organizations: settings, members (users and teams with roles), teams, robot accounts.
import type { TokenScope } from '../../../auth/access-tokens.js';
import type { User as AccountUser } from '../../../auth/accounts.js';
import { parseSubject } from '../../../auth/organizations.js';
import type { Resource } from '../../../auth/policy.js';
import { BerthError } from '../../../errors/berth-error.js';
import type { Services } from '../../services.js';
import * as C from '../../contracts/api.js';
import { route, type ApiRoute } from './framework.js';

const org = (action: 'read' | 'admin') => (p: Record<string, string>) => ({ resource: { type: 'organization', name: p.org } as Resource, action });

async function robotView(s: Services, r: AccountUser) {
  const tokens = (await s.auth.accessTokens.list(r.id)).filter((t) => t.revokedAt === null);
  const t = tokens[tokens.length - 1];
  return { name: r.name, scopes: t?.scopes ?? [], createdAt: r.createdAt, expiresAt: t?.expiresAt ?? null, lastUsedAt: t?.lastUsedAt ?? null, disabled: r.disabled || !t };
}

function robotScopes(orgName: string, scopes: TokenScope[]): TokenScope[] {
  for (const sc of scopes) {
    if (!sc.pattern.startsWith(`${orgName}/`)) throw new BerthError('INPUT_INVALID', { message: `a robot of ${orgName} reaches only ${orgName}/... repositories (not ${sc.pattern.slice(0, 100)})` });
  }
  return scopes;
}

async function robotOf(s: Services, orgName: string, name: string): Promise<AccountUser> {
  const r = await s.auth.accounts.byName(`${orgName}+${name}`);
  if (!r || r.source !== 'robot') throw new BerthError('NOT_FOUND', { message: `no robot ${orgName}+${name.slice(0, 64)}` });
  return r;
}

export const organizationRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/organizations', tag: 'organizations', summary: 'Organizations the caller may see (public ones, and those they belong to)',
    response: C.Items(C.Organization), needs: 'anyone',
    async handle(c) {
      const items = [];
      for (const o of await c.s.organizations.list()) {
        if (await c.authz.can({ type: 'organization', name: o.name }, 'read')) items.push({ ...o, role: await c.authz.organizationRole(o.name) });
      }
      return { items };
    },
  }),
  route({
    method: 'POST', path: '/organizations', tag: 'organizations', summary: 'Create an organization; its creator becomes its admin',
    body: C.OrganizationCreate, response: C.Organization, status: 201, needs: () => ({ resource: { type: 'system', name: 'organizations' }, action: 'create' }),
    async handle(c) {
      const p = c.principal;
      // The creator owns it from the first moment (one transaction); only an administrator adopts repositories nobody owned.
      const adopt = await c.authz.can({ type: 'system', name: 'organizations' }, 'adopt');
      await c.s.organizations.create(c.body.name, { public: c.body.public, owner: p.kind === 'user' ? p.name : undefined, adopt }, c.ctx);
      return { ...(await c.s.organizations.get(c.body.name))!, role: 'admin' };
    },
  }),
  route({
    method: 'GET', path: '/organizations/:org', tag: 'organizations', summary: 'One organization', response: C.Organization, needs: org('read'),
    async handle(c) {
      const o = await c.s.organizations.get(c.params.org);
      if (!o) throw new BerthError('NOT_FOUND', { message: `no organization ${c.params.org.slice(0, 64)}` });
      return { ...o, role: await c.authz.organizationRole(o.name) };
    },
  }),
  route({
    method: 'PATCH', path: '/organizations/:org', tag: 'organizations', summary: 'Make an organization public or private',
    body: C.OrganizationUpdate, response: C.Organization, needs: org('admin'),
    async handle(c) {
      await c.s.organizations.setPublic(c.params.org, c.body.public, c.ctx);
      return { ...(await c.s.organizations.get(c.params.org))!, role: await c.authz.organizationRole(c.params.org) };
    },
  }),
  route({
    method: 'DELETE', path: '/organizations/:org', tag: 'organizations', summary: 'Remove an organization that holds no repositories', needs: org('admin'),
    async handle(c) { await c.s.organizations.remove(c.params.org, c.ctx); },
  }),

  route({
    method: 'GET', path: '/organizations/:org/members', tag: 'organizations', summary: 'Users and teams with a role on the organization',
    response: C.Items(C.Member), needs: org('read'),
    async handle(c) { return { items: await c.s.organizations.orgMembers(c.params.org) }; },
  }),
  route({
    method: 'PUT', path: '/organizations/:org/members/:subject', tag: 'organizations', summary: 'Give a user (`alice`) or team (`team:build`) a role on the organization',
    body: C.RoleAssignment, needs: org('admin'),
    async handle(c) { await c.s.organizations.setOrgRole(c.params.org, parseSubject(c.params.subject), c.body.role, c.ctx); },
  }),
  route({
    method: 'DELETE', path: '/organizations/:org/members/:subject', tag: 'organizations', summary: 'Take a role away', needs: org('admin'),
    async handle(c) { await c.s.organizations.setOrgRole(c.params.org, parseSubject(c.params.subject), null, c.ctx); },
  }),

  route({
    method: 'GET', path: '/organizations/:org/teams', tag: 'teams', summary: "An organization's teams", response: C.Items(C.Team), needs: org('read'),
    async handle(c) { return { items: await c.s.organizations.teams(c.params.org) }; },
  }),
  route({
    method: 'POST', path: '/organizations/:org/teams', tag: 'teams', summary: 'Create a team, optionally following a directory group (its DN)',
    body: C.TeamCreate, response: C.Team, status: 201, needs: org('admin'),
    async handle(c) {
      await c.s.organizations.createTeam(c.params.org, c.body.name, c.ctx);
      if (c.body.directoryGroup) await c.s.organizations.setTeamDirectoryGroup(c.params.org, c.body.name, c.body.directoryGroup, c.ctx);
      return (await c.s.organizations.teams(c.params.org)).find((t) => t.name === c.body.name);
    },
  }),
  route({
    method: 'GET', path: '/organizations/:org/teams/:team', tag: 'teams', summary: 'A team and its members', response: C.TeamDetail, needs: org('read'),
    async handle(c) {
      const t = (await c.s.organizations.teams(c.params.org)).find((x) => x.name === c.params.team);
      if (!t) throw new BerthError('NOT_FOUND', { message: `no team ${c.params.team.slice(0, 64)}` });
      return { ...t, memberList: await c.s.organizations.teamMembers(c.params.org, t.name) };
    },
  }),
  route({
    method: 'PATCH', path: '/organizations/:org/teams/:team', tag: 'teams', summary: 'Make a team follow a directory group, or stop (null)',
    body: C.TeamUpdate, response: C.Team, needs: org('admin'),
    async handle(c) {
      await c.s.organizations.setTeamDirectoryGroup(c.params.org, c.params.team, c.body.directoryGroup, c.ctx);
      return (await c.s.organizations.teams(c.params.org)).find((t) => t.name === c.params.team);
    },
  }),
  route({
    method: 'DELETE', path: '/organizations/:org/teams/:team', tag: 'teams', summary: 'Remove a team and the roles given to it', needs: org('admin'),
    async handle(c) { await c.s.organizations.removeTeam(c.params.org, c.params.team, c.ctx); },
  }),
  route({
    method: 'PUT', path: '/organizations/:org/teams/:team/members/:user', tag: 'teams', summary: 'Add a user to a team', needs: org('admin'),
    async handle(c) { await c.s.organizations.addTeamMember(c.params.org, c.params.team, c.params.user, c.ctx); },
  }),
  route({
    method: 'DELETE', path: '/organizations/:org/teams/:team/members/:user', tag: 'teams', summary: 'Remove a user from a team', needs: org('admin'),
    async handle(c) { await c.s.organizations.removeTeamMember(c.params.org, c.params.team, c.params.user, c.ctx); },
  }),

  route({
    method: 'GET', path: '/organizations/:org/robots', tag: 'robots', summary: "An organization's robot accounts", response: C.Items(C.Robot), needs: org('admin'),
    async handle(c) {
      if (!(await c.s.organizations.get(c.params.org))) throw new BerthError('NOT_FOUND', { message: `no organization ${c.params.org.slice(0, 64)}` });
      return { items: await Promise.all((await c.s.auth.accounts.robots(c.params.org)).map((r) => robotView(c.s, r))) };
    },
  }),
  route({
    method: 'POST', path: '/organizations/:org/robots', tag: 'robots', summary: 'Create a robot account limited to repositories of the organization; its secret is in this response only',
    body: C.RobotCreate, response: C.RobotSecret, status: 201, needs: org('admin'),
    async handle(c) {
      const scopes = robotScopes(c.params.org, c.body.scopes);
      const r = await c.s.auth.accounts.createRobot(c.params.org, c.body.name, c.ctx);
      const { secret } = await c.s.auth.accessTokens.create(r.id, 'robot', { scopes, expiresAt: c.body.expiresInDays ? Date.now() + c.body.expiresInDays * 86_400_000 : undefined }, c.ctx);
      return { robot: await robotView(c.s, r), secret };
    },
  }),
  route({
    method: 'POST', path: '/organizations/:org/robots/:robot/secret', tag: 'robots', summary: "Replace a robot's secret (the old one stops working); the new one is in this response only",
    response: C.RobotSecret, status: 201, needs: org('admin'),
    async handle(c) {
      const r = await robotOf(c.s, c.params.org, c.params.robot);
      const old = (await c.s.auth.accessTokens.list(r.id)).filter((t) => t.revokedAt === null);
      const last = old[old.length - 1];
      for (const t of old) await c.s.auth.accessTokens.revoke(t.id, c.ctx);
      const { secret } = await c.s.auth.accessTokens.create(r.id, 'robot', { scopes: last?.scopes ?? [], expiresAt: last?.expiresAt ?? undefined }, c.ctx);
      return { robot: await robotView(c.s, r), secret };
    },
  }),
  route({
    method: 'DELETE', path: '/organizations/:org/robots/:robot', tag: 'robots', summary: 'Remove a robot account (its secret stops working at once)', needs: org('admin'),
    async handle(c) {
      const r = await robotOf(c.s, c.params.org, c.params.robot);
      await c.s.auth.accounts.remove(r.name, c.ctx);
    },
  }),
];
