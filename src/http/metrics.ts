// Prometheus metrics at /metrics.
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'berth_' });

const requests = new Counter({ name: 'berth_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'status'], registers: [registry] });
const latency = new Histogram({
  name: 'berth_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30], registers: [registry],
});

export function observeRequest(method: string, status: number, ms: number): void {
  requests.inc({ method, status: String(status) });
  latency.observe({ method }, ms / 1000);
}

export function metricsRoute(app: FastifyInstance): void {
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
}
