// The RPM header structure (rpm docs/manual/format.md): as stored in every rpmdb backend, a header is
//   il (u32 BE, number of index entries) | dl (u32 BE, bytes of data) | il × {tag, type, offset, count} (u32 BE
//   each) | data store (dl bytes)
// (in a package file the same follows an 8-byte magic). Only the few tags a scan needs are read, each value
// checked against the data store's bounds: a header from an image is untrusted input.
import type { FoundPackage } from './types.js';

export const RPMTAG = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, LICENSE: 1014, ARCH: 1022, SOURCERPM: 1044,
} as const;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;

/** rpm's own sanity limits on a header (header.c: hdrchkTags, hdrchkData), tighter than the format allows. */
const MAX_ENTRIES = 0xffff;
const MAX_DATA = 256 * 1024 * 1024;
/** Longer than any name, version, arch or licence string rpm writes; a bigger value is not decoded. */
const MAX_STRING = 64 * 1024;

/** The header magic of a package file's header section (version 1), absent from rpmdb blobs. */
const MAGIC = 0x8eade801;

export class RpmHeaderError extends Error {}

export interface RpmHeader {
  name?: string;
  version?: string;
  release?: string;
  epoch?: number;
  arch?: string;
  sourceRpm?: string;
  license?: string;
}

const STRING_TAGS: Record<number, keyof RpmHeader> = {
  [RPMTAG.NAME]: 'name', [RPMTAG.VERSION]: 'version', [RPMTAG.RELEASE]: 'release', [RPMTAG.ARCH]: 'arch',
  [RPMTAG.SOURCERPM]: 'sourceRpm', [RPMTAG.LICENSE]: 'license',
};

/** Reads the scan's tags from one header blob; throws RpmHeaderError when the structure does not hold. */
export function parseRpmHeader(blob: Buffer): RpmHeader {
  let start = 0;
  if (blob.length >= 16 && blob.readUInt32BE(0) === MAGIC) start = 8;
  if (blob.length - start < 8) throw new RpmHeaderError(`header blob of ${blob.length} bytes is too short`);
  const il = blob.readUInt32BE(start);
  const dl = blob.readUInt32BE(start + 4);
  if (il < 1 || il > MAX_ENTRIES || dl > MAX_DATA) throw new RpmHeaderError(`implausible header: ${il} entries, ${dl} data bytes`);
  const indexStart = start + 8;
  const dataStart = indexStart + il * 16;
  const dataEnd = dataStart + dl;
  if (dataEnd > blob.length) throw new RpmHeaderError(`header is truncated: needs ${dataEnd} bytes, has ${blob.length}`);
  const h: RpmHeader = {};
  const tried = new Set<string>();
  for (let e = indexStart; e < dataStart; e += 16) {
    const tag = blob.readUInt32BE(e);
    const type = blob.readUInt32BE(e + 4);
    const offset = blob.readInt32BE(e + 8);
    const count = blob.readUInt32BE(e + 12);
    if (tag === RPMTAG.EPOCH) {
      if (h.epoch !== undefined) continue;
      if (type !== TYPE_INT32 || count < 1 || offset < 0 || offset % 4 !== 0 || offset + 4 > dl) continue;
      h.epoch = blob.readUInt32BE(dataStart + offset);
      continue;
    }
    const key = STRING_TAGS[tag];
    // Each tag is tried once (a repeated tag is not rpm's doing), so a hostile header costs little.
    if (key === undefined || tried.has(key)) continue;
    tried.add(key);
    if (type !== TYPE_STRING && type !== TYPE_STRING_ARRAY && type !== TYPE_I18NSTRING) continue;
    if (count < 1 || offset < 0 || offset >= dl) continue;
    const from = dataStart + offset;
    const len = blob.subarray(from, Math.min(dataEnd, from + MAX_STRING + 1)).indexOf(0);
    if (len === -1) continue; // unterminated within the data store, or longer than any real value
    (h as Record<string, string>)[key] = blob.toString('utf8', from, from + len);
  }
  return h;
}

/** "hello-0.0.1-rls.src.rpm" → { name: "hello", version: "0.0.1-rls" } (rpm names may contain dashes; versions and releases may not). */
export function parseSourceRpm(sourceRpm: string): { name: string; version: string } | undefined {
  const suffix = ['.src.rpm', '.nosrc.rpm'].find((s) => sourceRpm.endsWith(s));
  if (!suffix) return undefined;
  const nvr = sourceRpm.slice(0, -suffix.length);
  const r = nvr.lastIndexOf('-');
  const v = r > 0 ? nvr.lastIndexOf('-', r - 1) : -1;
  if (v <= 0 || r === nvr.length - 1 || v === r - 1) return undefined;
  return { name: nvr.slice(0, v), version: nvr.slice(v + 1) };
}

const TOKEN = /^[^\s\x00-\x1f\x7f]{1,512}$/;

/**
 * The package a header describes, or undefined for what is not a package: headers without name or version,
 * and the gpg-pubkey entries `rpm --import` writes for trusted signing keys.
 */
export function rpmPackage(h: RpmHeader): FoundPackage | undefined {
  const { name, version, release } = h;
  if (!name || !version || !TOKEN.test(name) || !TOKEN.test(version)) return undefined;
  if (name === 'gpg-pubkey') return undefined;
  const vr = release && TOKEN.test(release) ? `${version}-${release}` : version;
  const pkg: FoundPackage = { type: 'rpm', name, version: h.epoch !== undefined ? `${h.epoch}:${vr}` : vr, confidence: 'exact' };
  if (h.arch && TOKEN.test(h.arch)) pkg.arch = h.arch;
  const source = h.sourceRpm ? parseSourceRpm(h.sourceRpm) : undefined;
  if (source && TOKEN.test(source.name)) {
    pkg.source = { name: source.name };
    if (source.version !== vr) pkg.source.version = source.version;
  }
  if (h.license) pkg.licenses = [h.license];
  return pkg;
}
