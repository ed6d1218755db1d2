// Python distributions: the core-metadata file of an installed distribution (*.dist-info/METADATA,
// *.egg-info/PKG-INFO, a *.egg-info file, an egg's EGG-INFO/PKG-INFO under site-packages or dist-packages).
// The headers are read the way Python's email parser (and so importlib.metadata) reads them: up to the first
// blank line or the first line that is not a header, names case-insensitive, the first occurrence wins.
import { contentPrefix } from './content.js';
import type { Cataloger, FileContent, FoundPackage } from './types.js';

/** The headers come first; a description of many megabytes after them is never needed. */
const MAX_HEADER_BYTES = 1024 * 1024;
/** PEP 508 distribution names. */
const NAME_RE = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** PEP 503: runs of -, _ and . become one -, lower case. */
function normalizePypiName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function metadataKind(path: string): boolean {
  const parts = path.split('/');
  const n = parts.length;
  const base = parts[n - 1];
  const parent = n >= 2 ? parts[n - 2] : '';
  if (base === 'METADATA') return parent.endsWith('.dist-info');
  if (base === 'PKG-INFO') {
    if (parent.endsWith('.egg-info')) return true;
    // An egg (directory) keeps it in EGG-INFO/; only installed ones count, not every source tree's PKG-INFO.
    return parts.slice(0, -1).some((p) => p === 'site-packages' || p === 'dist-packages');
  }
  // The walker offers only regular files: this is the single-file form distutils writes.
  return base.endsWith('.egg-info') && base.length > '.egg-info'.length;
}

/** Header name (lower case) → first value, as email.parser's compat32 policy reads them. */
function readHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  // The header that continuation lines extend: undefined after a repeated one (only the first counts).
  let extending: string | undefined;
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === '') break;
    if (line[0] === ' ' || line[0] === '\t') {
      if (extending !== undefined) headers.set(extending, `${headers.get(extending)}\n${line}`);
      continue;
    }
    const m = /^([\x21-\x39\x3b-\x7e]+):[ \t]*(.*)$/.exec(line);
    // A line that is not a header ends the headers (Python records a defect and reads on as the body).
    if (!m) break;
    const name = m[1].toLowerCase();
    extending = headers.has(name) ? undefined : name;
    if (extending !== undefined) headers.set(name, m[2]);
  }
  return headers;
}

function parseMetadata(data: Buffer): FoundPackage[] {
  if (data.includes(0)) return []; // binary, not a metadata file
  const headers = readHeaders(data.toString('utf8').replace(/^\uFEFF/, ''));
  const name = headers.get('name')?.split('\n')[0].trim();
  const version = headers.get('version')?.split('\n')[0].trim();
  if (!name || !version || !NAME_RE.test(name) || version.length > 128 || /\s/.test(version)) return [];
  const metadata: Record<string, string> = { name };
  const licenses: string[] = [];
  // Metadata 2.4's SPDX expression first; the free-text License header only when it is a short name
  // (many packages put the whole licence text there).
  const expression = headers.get('license-expression')?.trim();
  const free = headers.get('license')?.trim();
  if (expression && expression.length <= 256 && !expression.includes('\n')) licenses.push(expression);
  else if (free && free.length <= 128 && !free.includes('\n') && free.toUpperCase() !== 'UNKNOWN') licenses.push(free);
  return [{
    type: 'pypi',
    name: normalizePypiName(name),
    version,
    ...(licenses.length > 0 ? { licenses } : {}),
    confidence: 'exact',
    metadata,
  }];
}

export const pythonCataloger: Cataloger = {
  name: 'python',
  maxBytes: 16 * 1024 * 1024,
  wants(path) {
    return metadataKind(path) ? 'buffer' : false;
  },
  async parse(_path: string, content: FileContent) {
    // Only the headers, up to the first blank line.
    const data = await contentPrefix(content, /\r?\n\r?\n/, MAX_HEADER_BYTES);
    return parseMetadata(data);
  },
};
