// Java archives (.jar, .war, .ear, Jenkins' .jpi/.hpi): Maven coordinates from pom.properties, and nested
// archives (BOOT-INF/lib/*.jar, WEB-INF/lib/*.jar, lib/*.jar, …) read the same way down to a depth limit.
// An archive with no pom.properties of its own is named from its MANIFEST.MF, which may lie ('inferred').
// A zip's directory is at its end, so a streamed archive is first written to a temporary file (always
// removed) and read there with yauzl; nested archives of a few MB are read from memory, larger ones spooled.
// Bounds against hostile archives: depth, entries, and the bytes decompressed in all (a zip bomb's declared
// sizes are enforced by yauzl's size validation).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { CatalogError, type Cataloger, type FileContent, type FoundPackage } from './types.js';

const ARCHIVE_RE = /\.(jar|war|ear|jpi|hpi)$/i;
/** Nested archives opened below the top one (a real fat jar nests one or two levels). */
const MAX_DEPTH = 16;
/** Entries looked at across one top-level archive and everything nested in it. */
const MAX_ENTRIES = 1_000_000;
/** Bytes decompressed across one top-level archive (nested archives and records). */
const MAX_EXTRACTED = 2 * 1024 * 1024 * 1024;
/** A top-level archive larger than this is not spooled to disk. */
const MAX_ARCHIVE = 4 * 1024 * 1024 * 1024;
/** Nested archives up to this size are read in memory, larger ones spooled. */
const IN_MEMORY = 4 * 1024 * 1024;
const MAX_RECORD = 1024 * 1024;

const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z._+-]*$/;
/** A MANIFEST.MF version must at least look like one. */
const MANIFEST_VERSION_RE = /^[0-9][0-9A-Za-z._+-]*$/;

interface Walk {
  tmpDir?: string;
  tmpCount: number;
  entries: number;
  extracted: number;
  /** a limit that left something unread */
  limited?: string;
  found: FoundPackage[];
  /** path and coordinates already found: a shaded jar may repeat a pom.properties */
  seen: Set<string>;
}

const ZIP_OPTIONS = {
  lazyEntries: true,
  autoClose: false,
  // Names are decoded here: yauzl's decoding also refuses names such as "../x", which a scanner need not.
  decodeStrings: false,
  validateEntrySizes: true,
} as const;

function entryName(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer | string;
  return (typeof raw === 'string' ? raw : raw.toString('utf8')).replace(/\\/g, '/');
}

/** The next entry of the central directory, or undefined at its end. */
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

function openStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** An entry's bytes when it is small enough and readable, else undefined (a broken entry is skipped). */
async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, limit: number, walk: Walk): Promise<Buffer | undefined> {
  if (entry.uncompressedSize > limit || entry.isEncrypted() || !entry.canDecodeFileData()) return undefined;
  if (walk.extracted + entry.uncompressedSize > MAX_EXTRACTED) {
    walk.limited = 'decompressed size';
    return undefined;
  }
  walk.extracted += entry.uncompressedSize;
  try {
    return await readAll(await openStream(zip, entry));
  } catch {
    return undefined;
  }
}

/** java.util.Properties, as far as pom.properties needs: key=value, key: value, comments. */
function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const raw of text.split(/\r\n|\n|\r/)) {
    const line = raw.trim();
    if (line === '' || line[0] === '#' || line[0] === '!') continue;
    const m = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (m && !props.has(m[1])) props.set(m[1], m[2].trim());
  }
  return props;
}

/** The main section of a manifest (up to the first blank line); lines of 72 bytes continue with a space. */
function parseManifest(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === '') break;
    if (line[0] === ' ') {
      if (last !== undefined) headers.set(last, headers.get(last)! + line.slice(1));
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    headers.set(last, line.slice(colon + 1).trim());
  }
  return headers;
}

function fromPom(text: string, archivePath: string): FoundPackage | undefined {
  const props = parseProperties(text);
  const groupId = props.get('groupId');
  const artifactId = props.get('artifactId');
  const version = props.get('version');
  // Maven requires all three; a partial record names nothing reliably.
  if (!groupId || !artifactId || !version || !ID_RE.test(groupId) || !ID_RE.test(artifactId) || !VERSION_RE.test(version)) return undefined;
  return {
    type: 'maven', namespace: groupId, name: artifactId, version, confidence: 'exact',
    metadata: { path: archivePath, source: 'pom.properties' },
  };
}

/**
 * From the main section of MANIFEST.MF: an OSGi Bundle-SymbolicName "group.artifact" (split at its last
 * dot: com.google.guava.failureaccess → com.google.guava:failureaccess), else an Implementation-Title that
 * is a plain identifier (no groupId then). Implementation-Version is preferred to Bundle-Version, whose
 * qualifiers ("2.4.0.final_2014…") Maven versions do not carry.
 */
function fromManifest(text: string, archivePath: string): FoundPackage | undefined {
  const h = parseManifest(text);
  const symbolic = h.get('bundle-symbolicname')?.split(';')[0].trim();
  const title = h.get('implementation-title');
  let namespace: string | undefined;
  let name: string | undefined;
  if (symbolic && ID_RE.test(symbolic)) {
    const dot = symbolic.lastIndexOf('.');
    if (dot > 0 && dot < symbolic.length - 1) {
      namespace = symbolic.slice(0, dot);
      name = symbolic.slice(dot + 1);
    } else {
      name = symbolic;
    }
  } else if (title && ID_RE.test(title)) {
    name = title;
    const vendorId = h.get('implementation-vendor-id');
    if (vendorId && ID_RE.test(vendorId)) namespace = vendorId;
  }
  const version = [h.get('implementation-version'), h.get('bundle-version')].find((v) => v !== undefined && MANIFEST_VERSION_RE.test(v));
  if (!name || !version) return undefined;
  return {
    type: 'maven', ...(namespace ? { namespace } : {}), name, version, confidence: 'inferred',
    metadata: { path: archivePath, source: 'MANIFEST.MF' },
  };
}

async function tempFile(walk: Walk): Promise<string> {
  walk.tmpDir ??= await mkdtemp(path.join(os.tmpdir(), 'berth-jar-'));
  return path.join(walk.tmpDir, `${walk.tmpCount++}.zip`);
}

/** Opens a nested archive entry (in memory or spooled), walks it, and closes it; unreadable ones are skipped. */
async function walkNested(zip: yauzl.ZipFile, entry: yauzl.Entry, archivePath: string, depth: number, walk: Walk): Promise<void> {
  if (depth > MAX_DEPTH) {
    walk.limited = `nesting deeper than ${MAX_DEPTH}`;
    return;
  }
  if (entry.isEncrypted() || !entry.canDecodeFileData()) return;
  if (walk.extracted + entry.uncompressedSize > MAX_EXTRACTED) {
    walk.limited = 'decompressed size';
    return;
  }
  walk.extracted += entry.uncompressedSize;
  let inner: yauzl.ZipFile;
  let spooled: string | undefined;
  try {
    if (entry.uncompressedSize <= IN_MEMORY) {
      const data = await readAll(await openStream(zip, entry));
      inner = await yauzl.fromBufferPromise(data, ZIP_OPTIONS);
    } else {
      spooled = await tempFile(walk);
      await pipeline(await openStream(zip, entry), createWriteStream(spooled));
      inner = await yauzl.openPromise(spooled, ZIP_OPTIONS);
    }
  } catch {
    // Not a zip after all (or a broken one): a resource named *.jar is not a package.
    if (spooled) await rm(spooled, { force: true });
    return;
  }
  try {
    await walkArchive(inner, archivePath, depth, walk);
  } catch {
    // A nested archive that breaks halfway keeps what was found in it before.
  } finally {
    inner.close();
    if (spooled) await rm(spooled, { force: true });
  }
}

async function walkArchive(zip: yauzl.ZipFile, archivePath: string, depth: number, walk: Walk): Promise<void> {
  // A late error (closing the file) must not be an unhandled 'error' event.
  zip.on('error', () => undefined);
  let poms = 0;
  let manifest: FoundPackage | undefined;
  for (;;) {
    const entry = await nextEntry(zip);
    if (!entry) break;
    if (++walk.entries > MAX_ENTRIES) {
      walk.limited = `more than ${MAX_ENTRIES} entries`;
      break;
    }
    const name = entryName(entry);
    if (name.endsWith('/')) continue;
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base === 'pom.properties') {
      const data = await readEntry(zip, entry, MAX_RECORD, walk);
      const pkg = data && fromPom(data.toString('utf8'), archivePath);
      // A shaded jar holds one pom.properties per artifact it contains: all of them are in it.
      if (pkg) {
        poms++;
        const key = `${archivePath}\n${pkg.namespace}:${pkg.name}:${pkg.version}`;
        if (!walk.seen.has(key)) {
          walk.seen.add(key);
          walk.found.push(pkg);
        }
      }
    } else if (name.toUpperCase() === 'META-INF/MANIFEST.MF') {
      const data = await readEntry(zip, entry, MAX_RECORD, walk);
      manifest = data && fromManifest(data.toString('utf8'), archivePath);
    } else if (ARCHIVE_RE.test(base)) {
      await walkNested(zip, entry, `${archivePath}!${name}`, depth + 1, walk);
    }
  }
  if (poms === 0 && manifest) walk.found.push(manifest);
}

async function parseArchive(archivePath: string, content: FileContent): Promise<FoundPackage[]> {
  const walk: Walk = { tmpCount: 0, entries: 0, extracted: 0, found: [], seen: new Set() };
  try {
    let file: string | undefined;
    if (content.kind === 'stream') {
      if (content.size > MAX_ARCHIVE) throw new CatalogError(`archive is larger than ${MAX_ARCHIVE} bytes`);
      try {
        file = await tempFile(walk);
        await pipeline(content.stream, createWriteStream(file));
      } catch (err) {
        throw new CatalogError(`archive could not be written to a temporary file: ${(err as Error).message}`);
      }
    }
    let zip: yauzl.ZipFile;
    try {
      zip = content.kind === 'buffer' ? await yauzl.fromBufferPromise(content.data, ZIP_OPTIONS) : await yauzl.openPromise(file!, ZIP_OPTIONS);
    } catch (err) {
      throw new CatalogError(`not a readable zip archive: ${(err as Error).message}`);
    }
    try {
      await walkArchive(zip, archivePath, 0, walk);
    } catch (err) {
      if (walk.found.length === 0) throw new CatalogError(`broken zip archive: ${(err as Error).message}`);
    } finally {
      zip.close();
    }
  } finally {
    if (walk.tmpDir) await rm(walk.tmpDir, { recursive: true, force: true });
  }
  // Nothing found and something left unread: say so rather than report a clean archive.
  if (walk.found.length === 0 && walk.limited) throw new CatalogError(`archive not read completely: ${walk.limited}`);
  return walk.found;
}

export const javaCataloger: Cataloger = {
  name: 'java',
  wants(path) {
    return ARCHIVE_RE.test(path) ? 'stream' : false;
  },
  parse(path: string, content: FileContent) {
    return parseArchive(path, content);
  },
};
