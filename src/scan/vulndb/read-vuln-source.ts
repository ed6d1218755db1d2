// Reads an offline vulnerability source into OSV records, whatever form it comes in:
// - one OSV record (JSON, or YAML), or a JSON list of them;
// - a directory, walked recursively: every file whose name says source (*.json, *.yaml, *.yml, *.zip,
//   *.tar, *.tar.gz, *.tgz, *.json.gz, DSA/DLA `list`), other files counted as skipped;
// - a zip of them (osv.dev's per-ecosystem all.zip), read entry by entry from the central directory;
// - a tar, or gzip-compressed tar, of them, read as a stream;
// - the Debian security tracker JSON export (streamed; also gzip-compressed), the Debian DSA/DLA lists, and
//   Alpine secdb files (YAML or JSON).
// What a file is comes from its first bytes (zip, gzip and tar magic; an advisory-list header; JSON whose
// first package maps CVE ids: the tracker export), not from its name. Archives inside archives are not read.
// Memory: one document at a time, each at most maxDocumentBytes; the tracker export one package at a time.
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { parse as parseYaml } from 'yaml';
import yauzl from 'yauzl';
import type { OsvRecord } from '../versions/osv.js';
import { alpineRecords, alpineSourceLabel, isAlpineSecdb, parseSecdbYaml } from './alpine-secdb.js';
import { looksLikeAdvisoryList, readAdvisoryList } from './debian-dsa-list.js';
import { readDebianTracker } from './debian-tracker.js';
import { osvRecordProblem, osvSourceLabel } from './osv-record-check.js';
import {
  type ReadVulnSourceOptions, type SourceContext, type SourceCount, type SourceItem, type SourceKind,
  type VulnSourceStats, VulnSourceError,
} from './source-types.js';

const MiB = 1024 * 1024;
/** enough of a file to tell what it is: magic numbers, tar's "ustar" at 257, the tracker's first keys */
const SNIFF_BYTES = 64 * 1024;
const SOURCE_NAME = /\.(json|ya?ml|zip|tar|tar\.gz|tgz|json\.gz)$/i;

/** Top-level keys of an OSV record or a secdb file: a JSON document that starts with one is no tracker export. */
const DOCUMENT_KEYS = new Set([
  'schema_version', 'id', 'modified', 'published', 'withdrawn', 'aliases', 'upstream', 'related', 'summary', 'details',
  'severity', 'affected', 'references', 'credits', 'database_specific',
  'distroversion', 'reponame', 'archs', 'urlprefix', 'apkurl', 'packages',
]);
const FIRST_KEYS = /^\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:\s*\{\s*(?:"((?:[^"\\]|\\.)*)"|\})/;

/** Whether the start of a JSON text is the tracker export: {"<package>": {"CVE-…"|"TEMP-…": …, or {} */
function looksLikeTracker(head: string): boolean {
  const m = FIRST_KEYS.exec(head);
  if (!m || DOCUMENT_KEYS.has(m[1])) return false;
  return m[2] === undefined || /^(CVE|TEMP)-/.test(m[2]);
}

interface Peeked { head: Buffer; stream: Readable }

const toBuffer = (chunk: unknown): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));

/** The first `n` bytes of a stream, and a stream that gives all of it again. */
async function peek(source: AsyncIterable<unknown>, n: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    const b = toBuffer(r.value);
    parts.push(b);
    length += b.length;
  }
  const head = Buffer.concat(parts, length);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!done) {
        const r = await it.next();
        if (r.done) { done = true; return; }
        yield toBuffer(r.value);
      }
    } finally {
      if (!done) await it.return?.();
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

async function readWhole(stream: AsyncIterable<Buffer | string>, limit: number, file: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > limit) throw new VulnSourceError(file, `larger than ${limit} bytes (maxDocumentBytes)`);
    parts.push(b);
  }
  return Buffer.concat(parts, total);
}

const isGzip = (h: Buffer) => h.length >= 2 && h[0] === 0x1f && h[1] === 0x8b;
const isZip = (h: Buffer) => h.length >= 4 && h[0] === 0x50 && h[1] === 0x4b && (h[2] === 3 || h[2] === 5) && (h[3] === 4 || h[3] === 6);
const isTar = (h: Buffer) => h.length >= 262 && h.toString('latin1', 257, 262) === 'ustar';
const textOf = (h: Buffer) => h.toString('utf8').replace(/^\uFEFF/, '');

const basenameOf = (file: string) => path.basename(file.replace(/!.*$/, ''));

/** Reads a source and keeps the counts; iterate `items()` once. */
export class VulnSourceReader {
  private readonly counted: VulnSourceStats = { files: 0, records: 0, sources: [], skipped: [], invalid: [], dropped: {} };
  private readonly counts = new Map<string, SourceCount & { newestTime: number }>();
  private readonly maxDocumentBytes: number;
  private readonly maxTrackerEntryBytes: number;

  constructor(readonly root: string, private readonly opts: ReadVulnSourceOptions = {}) {
    this.maxDocumentBytes = opts.maxDocumentBytes ?? 64 * MiB;
    this.maxTrackerEntryBytes = opts.maxTrackerEntryBytes ?? 64 * MiB;
  }

  /** Every record of the source, each with its source label; returns the stats at the end. */
  async *items(): AsyncGenerator<SourceItem, VulnSourceStats> {
    let info;
    try {
      info = await stat(this.root);
    } catch (err) {
      throw new VulnSourceError(this.root, `cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (info.isDirectory()) yield* this.walk(this.root);
    else yield* this.readFile(this.root, info.mtime);
    return this.stats;
  }

  /** The counts so far (all of them once items() has ended). */
  get stats(): VulnSourceStats {
    this.counted.sources = [...this.counts.values()]
      .map(({ source, records, newestModified }) => (newestModified === undefined ? { source, records } : { source, records, newestModified }))
      .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    return this.counted;
  }

  private drop = (reason: string): void => {
    this.counted.dropped[reason] = (this.counted.dropped[reason] ?? 0) + 1;
  };

  private item(kind: SourceKind, source: string, record: OsvRecord, file: string): SourceItem {
    this.counted.records++;
    let c = this.counts.get(source);
    if (!c) this.counts.set(source, (c = { source, records: 0, newestTime: -Infinity }));
    c.records++;
    // compared as times: sources spell RFC 3339 with and without fractions and offsets
    const t = Date.parse(record.modified);
    if (t > c.newestTime) {
      c.newestTime = t;
      c.newestModified = record.modified;
    }
    return { source, kind, record, file };
  }

  private async *walk(dir: string): AsyncGenerator<SourceItem> {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      this.opts.signal?.throwIfAborted();
      const full = path.join(dir, e.name);
      if (e.name.startsWith('.')) {
        this.counted.skipped.push({ file: full, reason: 'hidden' });
        continue;
      }
      // symbolic links to files are followed, to directories not (no loops)
      const info = e.isSymbolicLink() ? await stat(full).catch(() => undefined) : await lstat(full);
      if (info?.isDirectory() && !e.isSymbolicLink()) {
        yield* this.walk(full);
      } else if (info?.isFile() && (SOURCE_NAME.test(e.name) || e.name === 'list')) {
        yield* this.readFile(full, info.mtime);
      } else {
        this.counted.skipped.push({ file: full, reason: info?.isFile() ? 'not a source file name' : 'not a regular file' });
      }
    }
  }

  private async *readFile(file: string, mtime: Date): AsyncGenerator<SourceItem> {
    const handle = await open(file, 'r');
    let head: Buffer;
    try {
      const buf = Buffer.alloc(512);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    if (isZip(head)) {
      yield* this.readZip(file, mtime);
      return;
    }
    yield* this.readStream(createReadStream(file), { file, time: mtime }, false);
  }

  /** A stream whose kind its first bytes tell; `inArchive`: an entry (no archive in it is read). */
  private async *readStream(input: AsyncIterable<unknown>, ctx: SourceContext, inArchive: boolean, gunzipped = false): AsyncGenerator<SourceItem> {
    try {
      const { head, stream } = await peek(input, SNIFF_BYTES);
      try {
        yield* this.dispatch(head, stream, ctx, inArchive, gunzipped);
      } finally {
        // a consumer that stops early leaves the input unread: close it (and the file under it) now
        stream.destroy();
      }
    } catch (err) {
      throw this.named(err, ctx.file);
    }
  }

  private async *dispatch(head: Buffer, stream: Readable, ctx: SourceContext, inArchive: boolean, gunzipped: boolean): AsyncGenerator<SourceItem> {
    if (isGzip(head)) {
      if (gunzipped) throw new VulnSourceError(ctx.file, 'gzip inside gzip is not read');
      const gunzip = createGunzip();
      stream.on('error', (err) => gunzip.destroy(err));
      yield* this.readStream(stream.pipe(gunzip), ctx, inArchive, true);
      return;
    }
    if (isZip(head) || isTar(head)) {
      if (inArchive) {
        for await (const _ of stream); // drained, not destroyed: a tar goes on to its next entry
        this.counted.skipped.push({ file: ctx.file, reason: 'an archive inside an archive is not read' });
        return;
      }
      if (isZip(head)) throw new VulnSourceError(ctx.file, 'a compressed zip is not read: unpack it first');
      yield* this.readTar(stream, ctx);
      return;
    }
    this.counted.files++;
    const text = textOf(head);
    if (looksLikeAdvisoryList(text)) {
      for await (const record of readAdvisoryList(stream, this.drop)) {
        const kind = record.id.startsWith('DSA-') ? 'debian-dsa' : 'debian-dla';
        yield this.item(kind, kind, record, ctx.file);
      }
      return;
    }
    const first = text.trimStart()[0];
    if (first === '{' && looksLikeTracker(text)) {
      const opts = { maxEntryBytes: this.maxTrackerEntryBytes, signal: this.opts.signal };
      for await (const record of readDebianTracker(stream, ctx, opts, this.drop)) {
        yield this.item('debian-tracker', 'debian-tracker', record, ctx.file);
      }
      return;
    }
    if (first === undefined) throw new VulnSourceError(ctx.file, 'empty');
    const bytes = await readWhole(stream, this.maxDocumentBytes, ctx.file);
    const json = first === '{' || first === '[' || /\.json(\.gz)?$/i.test(ctx.file);
    yield* this.readDocument(bytes.toString('utf8').replace(/^\uFEFF/, ''), json, ctx);
  }

  private named(err: unknown, file: string): unknown {
    if (err instanceof VulnSourceError || (err as Error)?.name === 'AbortError') return err;
    const code = (err as NodeJS.ErrnoException)?.code;
    // zlib's own words ("unexpected end of file") do not say which layer broke
    const what = code?.startsWith('Z_') ? 'truncated or corrupt compressed data: ' : '';
    return new VulnSourceError(file, what + ((err as Error)?.message ?? String(err)), { cause: err });
  }

  private *readDocument(text: string, json: boolean, ctx: SourceContext): Generator<SourceItem> {
    let doc: unknown;
    if (json) {
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new VulnSourceError(ctx.file, `not JSON: ${(err as Error).message}`, { cause: err });
      }
    } else {
      try {
        doc = parseSecdbYaml(text) ?? parseYaml(text, { logLevel: 'error' });
      } catch (err) {
        throw new VulnSourceError(ctx.file, `not JSON, YAML or a Debian advisory list: ${(err as Error).message}`, { cause: err });
      }
    }
    if (isAlpineSecdb(doc)) {
      const source = alpineSourceLabel(doc);
      for (const record of alpineRecords(doc, ctx, this.drop)) yield this.item('alpine-secdb', source, record, ctx.file);
      return;
    }
    for (const [i, value] of (Array.isArray(doc) ? doc : [doc]).entries()) {
      const problem = osvRecordProblem(value);
      if (problem) {
        const where = Array.isArray(doc) ? `[${i}] ` : '';
        const message = `${where}not an OSV record: ${problem}`;
        if (this.opts.onInvalid === 'skip') {
          this.counted.invalid.push({ file: ctx.file, message });
          continue;
        }
        throw new VulnSourceError(ctx.file, message);
      }
      const record = value as OsvRecord;
      yield this.item('osv', osvSourceLabel(record, basenameOf(ctx.file)), record, ctx.file);
    }
  }

  private async *readTar(stream: Readable, ctx: SourceContext): AsyncGenerator<SourceItem> {
    const extract = tar.extract();
    stream.on('error', (err) => extract.destroy(err));
    stream.pipe(extract);
    for await (const entry of extract) {
      this.opts.signal?.throwIfAborted();
      const name = entry.header.name.replace(/^\.\//, '');
      const base = path.posix.basename(name);
      const file = `${ctx.file}!${name}`;
      if (entry.header.type !== 'file' || base.startsWith('.') || !(SOURCE_NAME.test(base) || base === 'list')) {
        if (entry.header.type === 'file') this.counted.skipped.push({ file, reason: 'not a source file name' });
        entry.resume();
        continue;
      }
      yield* this.readStream(entry, { file, time: entry.header.mtime ?? ctx.time }, true);
      entry.resume(); // whatever a reader left unread
    }
  }

  private async *readZip(file: string, mtime: Date): AsyncGenerator<SourceItem> {
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
    } catch (err) {
      throw new VulnSourceError(file, `not a readable zip: ${(err as Error).message}`, { cause: err });
    }
    try {
      for (;;) {
        this.opts.signal?.throwIfAborted();
        const entry = await nextEntry(zip).catch((err: Error) => {
          throw new VulnSourceError(file, `not a readable zip: ${err.message}`, { cause: err });
        });
        if (!entry) break;
        const name = entry.fileName;
        const base = path.posix.basename(name);
        const entryFile = `${file}!${name}`;
        if (name.endsWith('/')) continue;
        if (base.startsWith('.') || !(SOURCE_NAME.test(base) || base === 'list')) {
          this.counted.skipped.push({ file: entryFile, reason: 'not a source file name' });
          continue;
        }
        let stream: Readable;
        try {
          stream = await zip.openReadStreamPromise(entry);
        } catch (err) {
          throw new VulnSourceError(entryFile, `cannot be read: ${(err as Error).message}`, { cause: err });
        }
        yield* this.readStream(stream, { file: entryFile, time: entry.getLastModDate?.() ?? mtime }, true);
      }
    } finally {
      zip.close();
    }
  }
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const onEntry = (e: yauzl.Entry) => { cleanup(); resolve(e); };
    const onEnd = () => { cleanup(); resolve(undefined); };
    const onError = (err: Error) => { cleanup(); reject(err); };
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/** Reads `path` (a file, archive or directory) as vulnerability records; the generator returns the stats. */
export function readVulnSource(root: string, opts?: ReadVulnSourceOptions): AsyncGenerator<SourceItem, VulnSourceStats> {
  return new VulnSourceReader(root, opts).items();
}
