// Prometheus metrics at /metrics. They tell anyone who can read them the request mix, error rates and the
// process's memory, so they are not for everyone: on the main port only loopback clients get them unless
// a bearer token is configured (then every scraper presents it), or they move to a separate listener
// (metrics.listen) whose address the operator chooses.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config/schema.js';
import { classifyAddress } from '../lib/address-guard.js';

const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'berth_' });

const requests = new Counter({ name: 'berth_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'status'], registers: [registry] });
const latency = new Histogram({
  name: 'berth_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30], registers: [registry],
});

let audit: { spooledBytes: number; dropped: number } | undefined;
new Gauge({ name: 'berth_audit_spool_bytes', help: 'audit records waiting in the spool for the database (bytes)', registers: [registry], collect() { this.set(audit?.spooledBytes ?? 0); } });
new Gauge({ name: 'berth_audit_records_unwritten', help: 'audit records not written since start (only with audit.failClosed: false)', registers: [registry], collect() { this.set(audit?.dropped ?? 0); } });

/** Where the audit gauges read from (the journal). */
export function observeAudit(source: { spooledBytes: number; dropped: number }): void {
  audit = source;
}

export function observeRequest(method: string, status: number, ms: number): void {
  requests.inc({ method, status: String(status) });
  latency.observe({ method }, ms / 1000);
}

/** The configured scrape token (metrics.token, or the first line of metrics.tokenFile), if any. */
export function metricsToken(cfg: Config['metrics']): string | undefined {
  if (cfg.token) return cfg.token;
  if (!cfg.tokenFile) return undefined;
  let text: string;
  try {
    text = readFileSync(cfg.tokenFile, 'utf8');
  } catch (e) {
    throw new Error(`metrics.tokenFile ${cfg.tokenFile} cannot be read: ${(e as Error).message}`);
  }
  const token = text.replace(/\r?\n$/, '');
  if (token.length < 16 || /[\r\n]/.test(token)) throw new Error(`metrics.tokenFile ${cfg.tokenFile} must hold one token of at least 16 characters`);
  return token;
}

// Hashing first makes the comparison constant-time whatever the lengths.
const digest = (s: string) => createHash('sha256').update(s).digest();
const sameToken = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

function isLoopback(ip: string): boolean {
  try { return classifyAddress(ip) === 'loopback'; } catch { return false; }
}

export interface MetricsAccess {
  /** metrics.enabled */
  enabled: boolean;
  token?: string;
  /** without a token, only loopback clients (the main port); the separate listener is open to whoever reaches it */
  loopbackOnly: boolean;
  /** set on the main port when metrics.listen moved /metrics elsewhere */
  servedElsewhere?: boolean;
}

const refuse = (reply: FastifyReply, status: number, message: string) =>
  reply.code(status).header('Cache-Control', 'no-store').type('text/plain; charset=utf-8').send(`${message}\n`);

export function metricsRoute(app: FastifyInstance, access: MetricsAccess): void {
  app.get('/metrics', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!access.enabled) return refuse(reply, 404, 'metrics are disabled (metrics.enabled: false)');
    if (access.servedElsewhere) return refuse(reply, 404, 'metrics are served on the metrics listener (metrics.listen), not on this port');
    if (access.token !== undefined) {
      const header = req.headers.authorization ?? '';
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m || !sameToken(m[1]!, access.token)) {
        reply.header('WWW-Authenticate', 'Bearer realm="metrics"');
        return refuse(reply, 401, m ? 'wrong metrics token' : 'metrics need the bearer token configured in metrics.token (Authorization: Bearer TOKEN)');
      }
    } else if (access.loopbackOnly && !isLoopback(req.ip)) {
      // req.ip is the address Fastify computed: the peer, or X-Forwarded-For from proxies in http.trustProxy.
      return refuse(reply, 403, 'metrics are served to loopback clients only on this port; configure metrics.token or metrics.listen to scrape from elsewhere');
    }
    return reply.header('Cache-Control', 'no-store').type(registry.contentType).send(await registry.metrics());
  });
}
