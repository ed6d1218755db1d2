// The web UI: the built single-page app (web/dist) served at /, with the app's index for every route it
// handles client-side. Hashed assets are cached for good; the index never, so a new build shows at once.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { BerthError } from '../../../errors/berth-error.js';
import { apiError } from '../../errors/api-errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
};

// Everything the app needs comes from this origin; nothing may frame it.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/** web/dist next to dist/ (the package root), wherever Berth runs from. */
export function webRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../web/dist');
}

export async function webRoutes(app: FastifyInstance, root = webRoot()): Promise<void> {
  const send = async (reply: FastifyReply, file: string, immutable: boolean) => {
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return false;
    reply.header('Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream').header('Content-Length', st.size)
      .header('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('Content-Security-Policy', CSP).header('X-Content-Type-Options', 'nosniff').header('Referrer-Policy', 'no-referrer').header('X-Frame-Options', 'DENY');
    await reply.send(createReadStream(file));
    return true;
  };

  app.get('/*', async (req, reply) => {
    const pathname = decodeURIComponent((req.raw.url ?? '/').split('?')[0]);
    if (pathname.startsWith('/api/')) {
      const a = apiError(new BerthError('ENDPOINT_NOT_FOUND', { message: `no API route GET ${pathname.slice(0, 200)}` }), { requestId: req.id });
      return reply.code(a.status).headers(a.headers).type('application/json').send(JSON.stringify(a.body));
    }
    const file = path.resolve(root, `.${path.posix.normalize(pathname)}`);
    // Only files below the root; a hashed asset is immutable.
    if (file.startsWith(`${root}${path.sep}`) && path.basename(file) !== 'index.html' && (await send(reply, file, pathname.startsWith('/assets/')))) return reply;
    // A missing asset, or a missing top-level file (/robots.txt), is a 404; a deeper path with a dot in it
    // (a tag "1.0", a repository "app.v2") is one of the app's own routes.
    if (pathname.startsWith('/assets/') || /^\/[^/]*\.[a-z0-9]{1,5}$/i.test(pathname)) {
      return reply.code(404).type('text/plain').send('not found');
    }
    if (await send(reply, path.join(root, 'index.html'), false)) return reply;
    return reply.code(503).type('text/html; charset=utf-8').header('Content-Security-Policy', CSP)
      .send('<!doctype html><title>Berth</title><p>The web UI has not been built. Run <code>npm run build</code> (or <code>npm install</code>) and restart Berth.</p>');
  });
}
