// The HTTP server: one JSON log line per request, errors in the protocol's own envelope.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isBerthError } from '../errors/berth-error.js';
import { infrastructureError } from '../errors/infrastructure.js';
import { ociErrorHandler } from './errors/oci-error-handler.js';
import { tokenError } from './errors/token-errors.js';
import { v2Error } from './errors/v2-errors.js';
import { metricsRoute, metricsToken, observeAudit } from './metrics.js';
import { logRequest } from './request-log.js';
import { httpsOptions, tlsEnabled } from './tls.js';
import { v2Routes } from './routes/v2/handlers.js';
import { tokenRoutes } from './routes/token/token-routes.js';
import { apiRoutes } from './routes/api/api-routes.js';
import { webRoutes } from './routes/web/web-routes.js';
import type { Services } from './services.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function baseOptions(cfg: Services['config'], logger: Logger) {
  return {
    ...(tlsEnabled(cfg.tls) ? { https: httpsOptions(cfg.tls) } : {}),
    loggerInstance: logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: cfg.http.trustProxy as boolean | string | string[],
  };
}

function healthRoutes(app: FastifyInstance, services: Services): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = await services.readiness.check();
    reply.code(r.ready ? 200 : 503).header('Cache-Control', 'no-store');
    return r.ready ? { status: 'ready', checks: r.checks } : { status: 'unavailable', cause: r.causes.join('; '), checks: r.checks };
  });
}

/** Readiness learns of writes that failed on the disk or the database, whichever route met them. */
function noteFaults(app: FastifyInstance, services: Services): void {
  app.addHook('onError', async (_req, _reply, error) => {
    const e = isBerthError(error) ? error : infrastructureError(error);
    if (e && (e.code === 'STORAGE_FULL' || e.code === 'STORAGE_UNAVAILABLE' || e.code === 'DATABASE_UNAVAILABLE')) services.readiness.noteFault();
  });
}

/** The listener of metrics.listen: /metrics, /healthz and /readyz only, with the main port's TLS settings. */
export async function buildMetricsServer(services: Services, opts: { logger: Logger }): Promise<FastifyInstance> {
  const cfg = services.config;
  const app = Fastify({ ...baseOptions(cfg, opts.logger), keepAliveTimeout: cfg.http.keepAliveTimeout * 1000, return503OnClosing: true, forceCloseConnections: 'idle' });
  healthRoutes(app as unknown as FastifyInstance, services);
  metricsRoute(app as unknown as FastifyInstance, { enabled: cfg.metrics.enabled, token: metricsToken(cfg.metrics), loopbackOnly: false });
  return app as unknown as FastifyInstance;
}

export async function buildServer(services: Services, opts: { logger: Logger }): Promise<FastifyInstance> {
  const cfg = services.config;
  observeAudit(services.journal);
  const app = Fastify({
    ...baseOptions(cfg, opts.logger),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Large blobs stream for as long as they take; idle sockets are still reaped by keepAliveTimeout.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: cfg.http.keepAliveTimeout * 1000,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreDuplicateSlashes: false, maxParamLength: 8192 },
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
  });

  if (cfg.publicUrl) {
    // Behind a proxy that rewrites paths or hosts, clients follow absolute Locations.
    const base = cfg.publicUrl.replace(/\/+$/, '');
    app.addHook('onSend', async (_req, reply, payload) => {
      const loc = reply.getHeader('location');
      if (typeof loc === 'string' && loc.startsWith('/')) reply.header('Location', `${base}${loc}`);
      return payload;
    });
  }

  app.addHook('onResponse', async (req, reply) => {
    logRequest(req, reply.statusCode, Number(reply.getHeader('content-length') ?? 0), reply.elapsedTime);
  });

  // /v2 and everything else outside /token and /api/v1 answer errors in the OCI envelope.
  app.setErrorHandler(ociErrorHandler(v2Error));
  noteFaults(app as unknown as FastifyInstance, services);

  healthRoutes(app as unknown as FastifyInstance, services);
  metricsRoute(app as unknown as FastifyInstance, {
    enabled: cfg.metrics.enabled, token: metricsToken(cfg.metrics), loopbackOnly: true, servedElsewhere: cfg.metrics.listen !== undefined,
  });
  await app.register(async (scope) => v2Routes(scope, services));
  await app.register(async (scope) => {
    scope.setErrorHandler(ociErrorHandler(tokenError));
    await tokenRoutes(scope, services);
  });
  await app.register(async (scope) => apiRoutes(scope, services), { prefix: '/api/v1' });
  await app.register(async (scope) => webRoutes(scope));
  return app as unknown as FastifyInstance;
}
