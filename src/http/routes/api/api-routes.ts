// /api/v1: the management API (JSON), described by /api/v1/openapi.json.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { accountRoutes } from './account-routes.js';
import { openApiDocument, registerApi, route, type ApiRoute } from './framework.js';
import { organizationRoutes } from './organization-routes.js';
import { repositoryRoutes } from './repository-routes.js';
import { auditRoutes } from './audit-routes.js';
import { webhookRoutes } from './webhook-routes.js';
import { browseRoutes } from './browse-routes.js';
import { scanRoutes } from './scan-routes.js';

export const API_VERSION = '1.0.0';

export const allApiRoutes: ApiRoute<any, any>[] = [...accountRoutes, ...organizationRoutes, ...repositoryRoutes, ...auditRoutes, ...webhookRoutes, ...browseRoutes, ...scanRoutes];

export async function apiRoutes(app: FastifyInstance, s: Services): Promise<void> {
  let doc: string | undefined;
  const openapi = route({
    method: 'GET', path: '/openapi.json', tag: 'meta', summary: 'This API described in OpenAPI 3.1', needs: 'anyone',
    async handle() {
      doc ??= JSON.stringify(openApiDocument(allApiRoutes, API_VERSION));
      return JSON.parse(doc);
    },
  });
  await registerApi(app, s, [...allApiRoutes, openapi]);
}
