// Line reading for the text databases of OS package managers (dpkg status, apk installed). Those files can
// be many megabytes, and a hostile image can put a gigabyte on one line: lines are cut at a limit and the
// rest of an overlong line is skipped without being held in memory.
import type { FileContent } from './types.js';

/** Longer than any field a package manager writes on one line (descriptions continue on further lines). */
export const MAX_LINE_BYTES = 64 * 1024;

export interface Line {
  /** the line without its LF or CRLF, decoded as UTF-8 (at most maxLine bytes of it) */
  text: string;
  /** the line was longer than maxLine; text holds its beginning only */
  cut: boolean;
}

/** The lines of a file, in order, whether the walker handed it over whole or as a stream. */
export async function* boundedLines(content: FileContent, maxLine = MAX_LINE_BYTES): AsyncGenerator<Line> {
  const source: AsyncIterable<Buffer> | Iterable<Buffer> = content.kind === 'buffer' ? [content.data] : content.stream;
  let parts: Buffer[] = [];
  let length = 0;
  let cut = false;
  const take = (): Line => {
    let bytes = Buffer.concat(parts, length);
    if (!cut && bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    const line = { text: bytes.toString('utf8'), cut };
    parts = [];
    length = 0;
    cut = false;
    return line;
  };
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start <= buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      if (!cut) {
        const room = maxLine - length;
        const piece = buf.subarray(start, Math.min(end, start + room));
        if (piece.length > 0) { parts.push(piece); length += piece.length; }
        if (end - start > room) cut = true;
      }
      if (nl === -1) break;
      yield take();
      start = nl + 1;
    }
  }
  if (length > 0 || cut) yield take();
}
