// /v2/<name>/blobs/<digest>: pull (GET, HEAD, with single byte ranges) and delete.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../../../errors/berth-error.js';
import type { ParsedDigest } from '../../../oci/digest.js';
import type { RangeSource } from '../../../registry/blob-service.js';
import { logRequest } from '../../request-log.js';
import { abortSignal, deletionDisabled, digestParam } from './input.js';
import { repository, v2Resource, type RouteOf, type V2Context } from './route.js';

type Route = RouteOf<'blob'>;

async function pull(c: V2Context<Route>, digest: ParsedDigest, head: boolean): Promise<unknown> {
  const { s, route, req, reply } = c;
  const info = await s.blobs.stat(route.name, digest);
  reply.header('Docker-Content-Digest', info.digest).header('Accept-Ranges', 'bytes')
    .header('ETag', `"${info.digest}"`).header('Cache-Control', 'max-age=31536000, immutable')
    .header('Content-Type', 'application/octet-stream');
  if (!head && info.size > 0) {
    // After the authorization and on record like any pull; the client reads the bytes (and its range) from the store.
    const url = await s.blobs.redirect(digest);
    if (url) {
      await s.pullSummaries.add(c.ctx(), route.name, info.digest, info.size);
      return reply.code(307).header('Location', url).header('Cache-Control', 'no-store').header('Content-Length', 0).send();
    }
  }
  const range = parseRange(req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    throw new BerthError('RANGE_NOT_SATISFIABLE', { detail: { range: req.headers.range, size: info.size }, blobSize: info.size });
  }
  if (range) {
    reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`).header('Content-Length', range.end - range.start + 1);
  } else {
    reply.header('Content-Length', info.size);
  }
  if (head) return reply.send();
  await s.pullSummaries.add(c.ctx(), route.name, info.digest, range ? range.end - range.start + 1 : info.size);
  if (info.size === 0) return reply.send('');
  const source = await s.blobs.openRange(digest, range?.start ?? 0, range?.end ?? info.size - 1, { ctx: c.ctx(), name: route.name });
  if (source) return sendRange(req, reply, source);
  const content = await s.blobs.open(digest, info.size, range ?? undefined, () => abortSignal(req), { ctx: c.ctx(), name: route.name });
  return reply.send(content);
}

export const blobs = v2Resource<Route, ParsedDigest>({
  kind: 'blob',
  needs: (route, method) => ({ resource: repository(route.name), action: method === 'DELETE' ? 'delete' : 'pull' }),
  parse: ({ route }) => digestParam(route.digest),
  methods: {
    GET: (c, digest) => pull(c, digest, false),
    HEAD: (c, digest) => pull(c, digest, true),
    DELETE: async ({ s, route, reply, ctx }, digest) => {
      if (!s.config.registry.deleteEnabled) throw deletionDisabled();
      await s.blobs.delete(route.name, digest, ctx());
      return reply.code(202).header('Content-Length', 0).send();
    },
  },
});

/** Writes a large blob straight to the socket (Fastify steps aside), then logs like any response. */
async function sendRange(req: FastifyRequest, reply: FastifyReply, source: RangeSource): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>);
  let sent = 0;
  try {
    sent = await source.pipeTo(res, abortSignal(req));
    res.end();
  } catch (e) {
    req.log.info({ err: { message: (e as Error).message } }, 'blob transfer ended early');
    res.destroy();
  } finally {
    await source.close().catch(() => undefined);
  }
  logRequest(req, reply.statusCode, sent, reply.elapsedTime);
}

/** A single byte range (RFC 9110); multiple or malformed ranges are ignored (whole content). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    if (size === 0) return null; // RFC 9110: a non-zero suffix of an empty representation is ignored
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}
