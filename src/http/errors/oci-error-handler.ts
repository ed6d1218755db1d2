// Turning whatever a /v2 or /token request threw into the OCI envelope: our errors as they are, the
// framework's (bad URL, oversized parameter, ...) and a client gone away as catalogue codes, anything
// else as INTERNAL (logged, never shown).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, isBerthError } from '../../errors/berth-error.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { infrastructureError } from '../../errors/infrastructure.js';
import type { Answer, SerializeContext } from './wire.js';
import type { OciEnvelope } from './v2-errors.js';

/** Fastify's own refusals, by the status it gives them. */
const FRAMEWORK_STATUS: Record<number, ErrorCode> = {
  400: 'REQUEST_MALFORMED',
  404: 'ENDPOINT_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

const ABORTS = ['ABORT_ERR', 'ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE'];

export function protocolError(error: unknown, req: FastifyRequest): BerthError {
  if (isBerthError(error)) return error;
  const err = error as Error & { statusCode?: number; code?: string };
  if (err.statusCode && err.statusCode < 500) return new BerthError(FRAMEWORK_STATUS[err.statusCode] ?? 'REQUEST_MALFORMED', { message: err.message });
  if (ABORTS.includes(err.code ?? '') || (req.raw.destroyed && !req.raw.complete)) {
    // The client went away mid-request; nothing to answer.
    req.log.info({ err: { message: err.message, code: err.code } }, 'request aborted by client');
    return new BerthError('REQUEST_ABORTED');
  }
  const infra = infrastructureError(err);
  if (infra) {
    req.log.error({ err: { message: err.message, code: err.code } }, infra.message);
    return infra;
  }
  req.log.error({ err }, 'unhandled error');
  return new BerthError('INTERNAL');
}

/** How long the rest of a request body an error answered early is read (and dropped) before the socket is closed. */
const LINGER_MS = 30_000;

/**
 * An error answered before its request body is in (the disk filled up mid-upload): the rest of the body is
 * read and dropped, so the client gets to read the answer instead of a connection reset, and the connection
 * stays usable. A client still sending LINGER_MS after the answer is cut off.
 */
export function drainRequestBody(req: FastifyRequest, reply: FastifyReply): void {
  const raw = req.raw;
  if (raw.complete || raw.destroyed) return;
  raw.resume();
  reply.raw.once('finish', () => {
    if (raw.complete || raw.destroyed) return;
    const timer = setTimeout(() => raw.destroy(), LINGER_MS);
    timer.unref();
    raw.once('end', () => clearTimeout(timer));
    raw.once('close', () => clearTimeout(timer));
  });
}

/** A Fastify error handler answering in the OCI envelope with one surface's serializer. */
export function ociErrorHandler(serialize: (e: BerthError, ctx: SerializeContext) => Answer<OciEnvelope>) {
  return async (error: FastifyError, req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const a = serialize(protocolError(error, req), { requestId: req.id });
    drainRequestBody(req, reply);
    if (reply.sent || reply.raw.headersSent) return;
    reply.code(a.status).headers(a.headers).type('application/json');
    if (req.method === 'HEAD') return reply.send();
    return reply.send(JSON.stringify(a.body));
  };
}
