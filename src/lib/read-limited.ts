import type { Readable } from 'node:stream';

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) { super(`body exceeds ${limit} bytes`); }
}

/** Reads a whole (small) body, refusing to buffer more than limit bytes. */
export async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.destroy();
      throw new BodyTooLargeError(limit);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts, total);
}
