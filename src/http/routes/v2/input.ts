// Reading /v2 request inputs (digests, page sizes, bodies, Content-Range) into what the services take.
import type { FastifyRequest } from 'fastify';
import { BerthError } from '../../../errors/berth-error.js';
import { parseDigest, type ParsedDigest } from '../../../oci/digest.js';
import { isValidTag } from '../../../oci/reference.js';
import type { ChunkInput } from '../../../registry/upload-service.js';

export function parseTag(tag: string): void {
  if (!isValidTag(tag)) throw new BerthError('TAG_INVALID', { message: 'invalid tag', detail: { tag: tag.slice(0, 200) } });
}

export function digestParam(value: string | null): ParsedDigest {
  if (value === null) throw new BerthError('DIGEST_INVALID', { message: 'digest query parameter required' });
  const d = parseDigest(value);
  if (typeof d !== 'object') throw new BerthError('DIGEST_INVALID', { message: d === 'unsupported' ? 'unsupported digest algorithm' : 'invalid digest', detail: { digest: value.slice(0, 300) } });
  return d;
}

export function pageSize(query: URLSearchParams, max: number): number {
  const n = query.get('n');
  if (n === null || n === '') return max;
  if (!/^\d{1,9}$/.test(n)) throw new BerthError('INPUT_INVALID', { message: 'n must be a non-negative integer', detail: { n: n.slice(0, 50) }, field: 'n' });
  return Math.min(Number(n), max);
}

export function contentLength(req: FastifyRequest): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new BerthError('SIZE_INVALID', { message: 'malformed Content-Length' });
  return Number(v);
}

export function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || (len === undefined && req.headers['transfer-encoding'] !== undefined);
}

/** Aborted when the client goes away before the request body is complete. */
export function abortSignal(req: FastifyRequest): AbortSignal {
  const ac = new AbortController();
  req.raw.once('close', () => { if (!req.raw.complete) ac.abort(); });
  return ac.signal;
}

export function chunk(req: FastifyRequest, withRange: boolean): ChunkInput {
  const input: ChunkInput = { body: req.raw, length: contentLength(req), signal: abortSignal(req) };
  const cr = req.headers['content-range'];
  if (withRange && cr !== undefined) {
    const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})$/.exec(cr.trim());
    if (!m) throw new BerthError('CONTENT_RANGE_INVALID', { detail: { contentRange: cr.slice(0, 100) } });
    input.range = { start: Number(m[1]), end: Number(m[2]) };
  }
  return input;
}

/** A pagination Link header. */
export function link(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

export function deletionDisabled(): BerthError {
  return new BerthError('DELETION_DISABLED');
}
