// Streams a source into a writable while observing every chunk (hashing, counting), with backpressure
// and without buffering more than the streams' own high-water marks. Plain 'data'/'drain' events: an
// async-iterator pipeline costs a promise per chunk on the hottest path of an upload. On failure the
// source is left paused for its owner to drain or destroy.
import type { Readable, Writable } from 'node:stream';

export interface PumpOptions {
  signal?: AbortSignal;
  /** Sees each chunk once the sink's write of it completed, in order (the sink is done with it). */
  written?: (chunk: Buffer) => void;
  /** A second consumer's backpressure: while full() the source stays paused. */
  hold?: { full(): boolean; whenReady(cb: () => void): void };
}

const ignore = () => undefined;

export function pump(source: Readable, sink: Writable, onChunk: (chunk: Buffer) => void, opts: PumpOptions = {}): Promise<void> {
  const { signal, written, hold } = opts;
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let sinkFull = false;
    let held = false;
    let corked = false;
    const finish = (err?: Error | null) => {
      if (done) return;
      done = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', finish);
      source.off('close', onSourceClose);
      sink.off('drain', onDrain);
      sink.off('error', finish);
      sink.off('finish', onFinish);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        // The caller learns the error from the rejection; an 'error' the streams emit while they are
        // torn down (the sink's own abort signal, say) must not become an uncaught exception.
        source.on('error', ignore);
        sink.on('error', ignore);
        // The source is left paused, not destroyed: it belongs to the caller. Destroying an HTTP request
        // resets its socket, and the client would never read the answer that says why (disk full).
        source.pause();
        if (!sink.destroyed) sink.destroy(err);
        reject(err);
      } else {
        resolve();
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (!corked) {
        corked = true;
        sink.cork();
        setImmediate(uncork);
      }
      const ok = written ? sink.write(chunk, (err?: Error | null) => {
        if (err || done) return;
        try { written(chunk); } catch (e) { finish(e as Error); }
      }) : sink.write(chunk);
      if (!ok) {
        sinkFull = true;
        source.pause();
      }
      if (hold && !held && hold.full()) {
        held = true;
        source.pause();
        hold.whenReady(() => {
          held = false;
          if (!sinkFull && !done) source.resume();
        });
      }
    };
    // Chunks that arrive in one turn of the event loop go to the sink together (one writev).
    const uncork = () => { corked = false; if (!sink.destroyed) sink.uncork(); };
    const onDrain = () => {
      sinkFull = false;
      if (!held) source.resume();
    };
    const onEnd = () => sink.end();
    const onFinish = () => finish();
    const onSourceClose = () => { if (!source.readableEnded) finish(Object.assign(new Error('request body ended prematurely'), { code: 'ECONNRESET' })); };
    const onAbort = () => finish(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    if (signal?.aborted) return onAbort();
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', finish);
    source.once('close', onSourceClose);
    sink.on('drain', onDrain);
    sink.once('error', finish);
    sink.once('finish', onFinish);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
