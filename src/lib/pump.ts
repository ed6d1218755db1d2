// Streams a source into a writable while observing every chunk (hashing, counting), with backpressure
// and without buffering more than the streams' own high-water marks.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export async function pump(source: Readable, sink: Writable, onChunk: (chunk: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const observe = async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) {
      onChunk(chunk);
      yield chunk;
    }
  };
  await pipeline(source, observe, sink, { signal });
}
