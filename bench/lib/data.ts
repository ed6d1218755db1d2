// Deterministic "random-ish" payloads that are generated on the fly: a random buffer repeated
// until the wanted length, so a 1 GiB blob never sits in memory and its digest can be
// precomputed by hashing the very same stream.
import { createHash, randomBytes } from 'node:crypto';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface Payload {
  /** the repeated pattern */
  pattern: Buffer;
  /** total length in bytes */
  size: number;
  /** sha256:<hex> of the whole stream */
  digest: string;
}

/** Views (no copies) over `pattern` repeated, covering [start, start+length) of the stream. */
export function* slices(pattern: Buffer, start: number, length: number, piece = MiB): Generator<Buffer> {
  const end = start + length;
  let off = start;
  while (off < end) {
    const i = off % pattern.length;
    const n = Math.min(piece, pattern.length - i, end - off);
    yield pattern.subarray(i, i + n);
    off += n;
  }
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** A payload of `size` bytes: a random pattern (at most 16 MiB) repeated; digest precomputed. */
export function makePayload(size: number, patternSize = 16 * MiB): Payload {
  const pattern = randomBytes(Math.max(1, Math.min(patternSize, size)));
  const h = createHash('sha256');
  for (const s of slices(pattern, 0, size, pattern.length)) h.update(s);
  return { pattern, size, digest: `sha256:${h.digest('hex')}` };
}
