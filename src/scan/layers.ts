// Reads an image's layers in order as streams and feeds the catalogers the files they name, as the final
// filesystem holds them: a later layer's file replaces an earlier one, whiteouts (`.wh.NAME`) delete a path
// and everything under it, an opaque marker (`.wh..wh..opq`) hides what lower layers put in its directory
// (OCI image-spec layer.md). Nothing but the named files is parsed and no layer is held in memory: a layer
// is decompressed once, entry by entry, and an entry nobody wants is skipped as it streams by.
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import tar from 'tar-stream';
import type { Cataloger, FileContent, FoundPackage } from './catalog/types.js';

export interface LayerSource {
  digest: string;
  mediaType: string;
  /** the layer blob as stored (compressed) */
  open(): Promise<Readable>;
}

/** A package with the file that recorded it and the layer that introduced it. */
export interface LayerPackage extends FoundPackage {
  cataloger: string;
  /** the file (in the final filesystem) that records it */
  path: string;
  /** index into the layers, and its digest */
  layerIndex: number;
  layer: string;
}

export interface CatalogIssue { layer: string; path: string; cataloger: string; message: string }

export interface LayerStats { digest: string; compressedBytes: number; entries: number; filesParsed: number }

export interface WalkResult {
  packages: LayerPackage[];
  /** final contents of the files asked for in `collect` (small ones: os-release and the like) */
  files: Map<string, Buffer>;
  issues: CatalogIssue[];
  layers: LayerStats[];
}

export interface WalkOptions {
  /** paths whose final content is returned whole (at most COLLECT_MAX bytes each) */
  collect?: readonly string[];
  signal?: AbortSignal;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const COLLECT_MAX = 64 * 1024;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** One file's parse by one cataloger, and for each package the layers it has been in since it appeared there. */
interface Entry {
  layerIndex: number;
  packages: FoundPackage[];
  /** package key → the earliest layer of its unbroken run in this path's versions */
  since: Map<string, number>;
}

const packageKey = (p: FoundPackage): string => `${p.type}\0${p.namespace ?? ''}\0${p.name}\0${p.version}\0${p.arch ?? ''}`;

/** The path as the image root sees it: no leading "./" or "/", no "." or empty parts; undefined when it climbs out. */
export function normalizePath(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.join('/');
}

export async function walkLayers(layers: readonly LayerSource[], catalogers: readonly Cataloger[], opts: WalkOptions = {}): Promise<WalkResult> {
  // path → cataloger name → its parse of the file as it stands
  const state = new Map<string, Map<string, Entry>>();
  const collected = new Map<string, { layerIndex: number; data: Buffer }>();
  const collect = new Set(opts.collect ?? []);
  const issues: CatalogIssue[] = [];
  const stats: LayerStats[] = [];

  // The recorded paths by each of their ancestor directories: a whiteout finds what it hides without a
  // look at every recorded path.
  const under = new Map<string, Set<string>>();
  const ancestors = (p: string) => { const out: string[] = ['']; for (let k = p.indexOf('/'); k >= 0; k = p.indexOf('/', k + 1)) out.push(p.slice(0, k)); return out; };
  const held = (p: string) => { for (const a of ancestors(p)) { let set = under.get(a); if (!set) under.set(a, set = new Set()); set.add(p); } };
  const released = (p: string) => { if (state.has(p) || collected.has(p)) return; for (const a of ancestors(p)) { const set = under.get(a); set?.delete(p); if (set?.size === 0) under.delete(a); } };

  /** Drops what layers below `below` recorded at `path` and, when `deep`, beneath it. */
  const remove = (path: string, deep: boolean, below: number) => {
    const paths = [path, ...(deep ? under.get(path) ?? [] : [])];
    for (const p of paths) {
      const byCataloger = state.get(p);
      if (byCataloger) {
        for (const [name, e] of byCataloger) if (e.layerIndex < below) byCataloger.delete(name);
        if (byCataloger.size === 0) state.delete(p);
      }
      const c = collected.get(p);
      if (c && c.layerIndex < below) collected.delete(p);
      released(p);
    }
  };

  for (let i = 0; i < layers.length; i++) {
    opts.signal?.throwIfAborted();
    const layer = layers[i]!;
    const layerStats: LayerStats = { digest: layer.digest, compressedBytes: 0, entries: 0, filesParsed: 0 };
    stats.push(layerStats);
    const raw = await layer.open();
    const counted = raw.pipe(new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) { layerStats.compressedBytes += chunk.length; cb(null, chunk); },
    }));
    raw.on('error', (e) => counted.destroy(e));
    const extract = tar.extract();
    const decompressed = await decompress(counted);
    decompressed.on('error', (e) => extract.destroy(e));
    decompressed.pipe(extract);
    // Opaque directories of this layer apply to lower layers only: entries of this layer in them stay.
    try {
      for await (const entry of extract) {
        opts.signal?.throwIfAborted();
        layerStats.entries++;
        const h = entry.header;
        const path = normalizePath(h.name);
        if (path === undefined || path === '') { entry.resume(); continue; }
        const slash = path.lastIndexOf('/');
        const dir = slash < 0 ? '' : path.slice(0, slash), base = path.slice(slash + 1);
        if (base === OPAQUE) { remove(dir, true, i); entry.resume(); continue; }
        if (base.startsWith(WHITEOUT)) {
          remove(dir === '' ? base.slice(WHITEOUT.length) : `${dir}/${base.slice(WHITEOUT.length)}`, true, i);
          entry.resume();
          continue;
        }
        // Whatever this layer puts at a path replaces what was there (a directory keeps its contents); a
        // package in both versions of a file keeps the layer it came from.
        const current = state.get(path);
        const before = current && new Map(current);
        if (h.type !== 'directory') remove(path, true, i);
        if (h.type === 'link' && h.linkname) {
          const target = normalizePath(h.linkname);
          const from = target === undefined ? undefined : state.get(target);
          if (from) for (const [cataloger, e] of from) record(state, path, cataloger, e.packages, i, before?.get(cataloger));
          if (state.has(path)) held(path);
          entry.resume();
          continue;
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file') { entry.resume(); continue; }
        const info = { size: h.size ?? 0, mode: h.mode ?? 0 };
        const wanting: { c: Cataloger; how: 'buffer' | 'stream' }[] = [];
        for (const c of catalogers) {
          const how = c.wants(path, info);
          if (how) wanting.push({ c, how });
        }
        const collectIt = collect.has(path) && info.size <= COLLECT_MAX;
        if (wanting.length === 0 && !collectIt) { entry.resume(); continue; }
        layerStats.filesParsed++;
        const results = await feed(Readable.from(entry as AsyncIterable<Buffer>, { objectMode: false }), path, info.size, wanting, collectIt, (data) => { collected.set(path, { layerIndex: i, data }); held(path); });
        for (const r of results) {
          if ('error' in r) { issues.push({ layer: layer.digest, path, cataloger: r.cataloger, message: r.error }); continue; }
          record(state, path, r.cataloger, r.packages, i, before?.get(r.cataloger));
          if (state.has(path)) held(path);
        }
      }
    } catch (e) {
      raw.destroy();
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw new LayerReadError(layer.digest, (e as Error).message);
    }
  }

  const packages: LayerPackage[] = [];
  for (const [path, byCataloger] of state) {
    for (const [cataloger, e] of byCataloger) {
      for (const p of e.packages) {
        const layerIndex = e.since.get(packageKey(p)) ?? e.layerIndex;
        packages.push({ ...p, cataloger, path, layerIndex, layer: layers[layerIndex]!.digest });
      }
    }
  }
  packages.sort((a, b) => a.layerIndex - b.layerIndex || cmp(a.path, b.path) || cmp(a.name, b.name) || cmp(a.version, b.version));
  const files = new Map([...collected].map(([p, c]) => [p, c.data]));
  return { packages, files, issues, layers: stats };
}

export class LayerReadError extends Error {
  constructor(readonly layer: string, message: string) {
    super(`layer ${layer}: ${message}`);
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A new version of the file at `path` (layer `i`): packages present in the previous version keep their start. */
function record(state: Map<string, Map<string, Entry>>, path: string, cataloger: string, packages: FoundPackage[], i: number, prev: Entry | undefined): void {
  const since = new Map<string, number>();
  for (const p of packages) {
    const k = packageKey(p);
    since.set(k, prev?.since.get(k) ?? i);
  }
  if (packages.length === 0 && !prev) return;
  let byCataloger = state.get(path);
  if (!byCataloger) state.set(path, byCataloger = new Map());
  byCataloger.set(cataloger, { layerIndex: i, packages, since });
}

type FeedResult = { cataloger: string; packages: FoundPackage[] } | { cataloger: string; error: string };

/** Hands one tar entry to the catalogers that want it; the entry is consumed to its end whatever they read. */
async function feed(
  entry: Readable, path: string, size: number, wanting: { c: Cataloger; how: 'buffer' | 'stream' }[], collectIt: boolean,
  collected: (data: Buffer) => void,
): Promise<FeedResult[]> {
  const limit = (c: Cataloger) => c.maxBytes ?? DEFAULT_MAX_BYTES;
  const tooBig = (c: Cataloger): FeedResult => ({ cataloger: c.name, error: `file of ${size} bytes is larger than the ${limit(c)} this cataloger reads` });
  const run = async (c: Cataloger, content: FileContent): Promise<FeedResult> => {
    try {
      return { cataloger: c.name, packages: await c.parse(path, content) };
    } catch (e) {
      if (content.kind === 'stream') content.stream.resume();
      return { cataloger: c.name, error: (e as Error).message };
    }
  };
  const streamers = wanting.filter((w) => w.how === 'stream');
  const buffered = wanting.filter((w) => w.how === 'buffer');
  const wholeMax = Math.max(collectIt ? COLLECT_MAX : 0, ...buffered.map((w) => limit(w.c)));
  // Someone wants it whole and it fits: read it once and hand the streamers the same bytes.
  if (size <= wholeMax) {
    const data = await readAll(entry);
    if (collectIt) collected(data);
    const out: FeedResult[] = [];
    for (const w of wanting) {
      if (w.how === 'buffer') out.push(data.length > limit(w.c) ? tooBig(w.c) : await run(w.c, { kind: 'buffer', data }));
      else out.push(await run(w.c, { kind: 'stream', stream: Readable.from([data]), size: data.length }));
    }
    return out;
  }
  const out: FeedResult[] = buffered.map((w) => tooBig(w.c));
  if (streamers.length === 0) { entry.resume(); await finished(entry); return out; }
  // One pass, teed to every streaming cataloger (pipe waits for the slowest).
  const branches = streamers.map(() => new PassThrough({ highWaterMark: 256 * 1024 }));
  for (const b of branches) entry.pipe(b);
  const ended = finished(entry);
  const parsed = await Promise.all(streamers.map(async (w, k) => {
    const r = await run(w.c, { kind: 'stream', stream: branches[k]!, size });
    branches[k]!.resume(); // what the cataloger left unread drains, so the other branches and the tar go on
    return r;
  }));
  await ended;
  return [...out, ...parsed];
}

function finished(s: Readable): Promise<void> {
  if (s.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => { s.once('end', resolve); s.once('error', reject); s.once('close', resolve); });
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Layer bytes → tar bytes: gzip and zstd by their magic numbers (media types are often wrong), else plain tar. */
async function decompress(s: Readable): Promise<Readable> {
  const head = await peek(s, 4);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return s.pipe(createGunzip());
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return s.pipe(zstdStream());
  return s;
}

/** Reads the first `n` bytes and puts them back. */
async function peek(s: Readable, n: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const chunk = s.read() as Buffer | null;
    if (chunk === null) {
      if (s.readableEnded) break;
      const more = await new Promise<boolean>((resolve, reject) => {
        const done = () => { cleanup(); resolve(!s.readableEnded); };
        const fail = (e: Error) => { cleanup(); reject(e); };
        const cleanup = () => { s.off('readable', done); s.off('end', done); s.off('error', fail); };
        s.once('readable', done); s.once('end', done); s.once('error', fail);
      });
      if (!more) break;
      continue;
    }
    got.push(chunk);
    len += chunk.length;
  }
  const all = Buffer.concat(got);
  if (all.length > 0) s.unshift(all);
  return all.subarray(0, n);
}

function zstdStream(): Transform {
  let push: ((chunk: Buffer) => void) | undefined;
  const z = new ZstdDecompress((chunk) => push?.(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      push = (c) => this.push(c);
      try { z.push(chunk); cb(); } catch (e) { cb(e as Error); }
    },
    flush(cb: TransformCallback) {
      push = (c) => this.push(c);
      try { z.push(new Uint8Array(0), true); cb(); } catch (e) { cb(e as Error); }
    },
  });
}
