// The one request log line (and metrics), for Fastify's onResponse and for responses written directly.
import type { FastifyRequest } from 'fastify';
import { observeRequest } from './metrics.js';

export function logRequest(req: FastifyRequest, status: number, bytesOut: number, durationMs: number): void {
  observeRequest(req.method, status, durationMs);
  const url = req.raw.url ?? '';
  const q = url.indexOf('?');
  req.log.info({
    method: req.method,
    path: q < 0 ? url : url.slice(0, q),
    status,
    bytesIn: Number(req.headers['content-length'] ?? 0),
    bytesOut,
    durationMs: Math.round(durationMs * 100) / 100,
    remote: req.ip,
    userAgent: req.headers['user-agent'],
  }, 'request');
}
