// Reading a cataloger's FileContent without owning the stream: the walker drains what a cataloger leaves, so
// stopping early must leave the stream paused, not destroyed (destroying a tar entry stream would end the
// layer's extraction).
import type { Readable } from 'node:stream';
import { CatalogError, type FileContent } from './types.js';

/**
 * Hands the stream's chunks to onChunk until it returns false or the stream ends. Stops by pausing the stream,
 * not destroying it: the walker resumes it to drain the rest. An error of the stream rejects.
 */
export function readChunks(stream: Readable, onChunk: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      // 'data' (not 'readable') so that the walker's resume() afterwards makes the rest flow.
      stream.pause();
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
      if (err !== undefined) reject(err);
      else resolve();
    };
    const onData = (chunk: unknown) => {
      if (done) return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      let more: boolean;
      try {
        more = onChunk(buf);
      } catch (err) {
        finish(err);
        return;
      }
      if (!more) finish();
    };
    const onEnd = () => finish();
    const onError = (err: unknown) => finish(err);
    if (stream.readableEnded || stream.destroyed) {
      resolve();
      return;
    }
    stream.on('end', onEnd);
    stream.on('error', onError);
    // A stream destroyed by someone else ends with 'close' and no 'end'.
    stream.on('close', onEnd);
    stream.on('data', onData);
  });
}

/** The whole content as a buffer, refusing more than limit bytes (a CatalogError, not a crash). */
export async function contentBuffer(content: FileContent, limit: number): Promise<Buffer> {
  if (content.kind === 'buffer') {
    if (content.data.length > limit) throw new CatalogError(`file is larger than ${limit} bytes`);
    return content.data;
  }
  const parts: Buffer[] = [];
  let total = 0;
  let tooLarge = false;
  await readChunks(content.stream, (chunk) => {
    total += chunk.length;
    if (total > limit) {
      tooLarge = true;
      return false;
    }
    parts.push(chunk);
    return true;
  });
  if (tooLarge) throw new CatalogError(`file is larger than ${limit} bytes`);
  return Buffer.concat(parts, total);
}

/**
 * The first bytes of the content up to and including `stop` (or all of it, up to limit): for header-only
 * formats whose bodies may be large. Returns what was read even when `stop` never came.
 */
export async function contentPrefix(content: FileContent, stop: RegExp, limit: number): Promise<Buffer> {
  if (content.kind === 'buffer') return content.data.subarray(0, limit);
  const parts: Buffer[] = [];
  let total = 0;
  let tail = '';
  await readChunks(content.stream, (chunk) => {
    const take = chunk.subarray(0, Math.max(0, limit - total));
    parts.push(take);
    total += take.length;
    // Look for the stop mark in this chunk plus a few bytes of the previous one (a mark may straddle chunks).
    const text = tail + take.toString('latin1');
    if (stop.test(text)) return false;
    tail = text.slice(-8);
    return total < limit;
  });
  return Buffer.concat(parts, total);
}
