// The header blobs of rpm's NDB package database `Packages.db` (SUSE since 15 SP3; rpm lib/backend/ndb/
// rpmpkg.c). All little-endian: a 32-byte file header ("RpmP", version 0, generation, number of slot
// pages), then slot pages of 16-byte slots ("Slot", package index, block offset, block count; offset 0 is
// a free slot), then blobs in 16-byte blocks: head ("BlbS", package index, timestamp, length), the blob,
// zero padding, tail (adler32 of head+blob+padding, length, "BlbE").
import type { RandomAccess } from './rpm-file.js';

const FILE_MAGIC = 0x506d7052; // "RpmP"
const SLOT_MAGIC = 0x746f6c53; // "Slot"
const HEAD_MAGIC = 0x53626c42; // "BlbS"
const TAIL_MAGIC = 0x45626c42; // "BlbE"
const PAGE = 4096;
const SLOT = 16;
const BLOCK = 16;
const HEAD = 16;
const TAIL = 12;
/** rpm grows the slot area a page (256 slots) at a time; 4096 pages are a million packages. */
const MAX_SLOT_PAGES = 4096;

export class NdbError extends Error {}

export function isNdb(head: Buffer): boolean {
  return head.length >= 8 && head.readUInt32LE(0) === FILE_MAGIC && head.readUInt32LE(4) === 0;
}

/** RFC 1950's adler32, as rpmpkg.c checks a blob with it. */
function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < buf.length;) {
    const end = Math.min(buf.length, i + 5552); // the longest run before the sums must be reduced
    for (; i < end; i++) { a += buf[i]; b += a; }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

export interface NdbOptions {
  /** a blob larger than this is skipped, not read */
  maxBlobBytes: number;
}

/** Every package blob, in file order; a slot or blob that fails its checks throws NdbError. */
export async function* ndbBlobs(file: RandomAccess, options: NdbOptions): AsyncGenerator<{ pkgidx: number; blob: Buffer }> {
  const head = await file.read(0, 32);
  if (head.length < 32 || !isNdb(head)) throw new NdbError('not an rpm NDB database');
  const slotPages = head.readUInt32LE(12);
  if (slotPages < 1 || slotPages > MAX_SLOT_PAGES || slotPages * PAGE > file.size) throw new NdbError(`bad slot page count ${slotPages}`);
  const fileBlocks = Math.floor(file.size / BLOCK);
  const firstBlock = (slotPages * PAGE) / BLOCK;
  const slots: Array<{ pkgidx: number; blkoff: number; blkcnt: number }> = [];
  const area = await file.read(0, slotPages * PAGE);
  for (let o = 32; o < area.length; o += SLOT) { // the first two slots' room holds the file header
    if (area.readUInt32LE(o) !== SLOT_MAGIC) throw new NdbError(`slot at ${o} has no magic`);
    const blkoff = area.readUInt32LE(o + 8);
    if (blkoff === 0) continue;
    const pkgidx = area.readUInt32LE(o + 4);
    const blkcnt = area.readUInt32LE(o + 12);
    if (pkgidx === 0 || blkcnt === 0 || blkoff < firstBlock || blkoff + blkcnt > fileBlocks) throw new NdbError(`slot at ${o} points outside the blob area`);
    slots.push({ pkgidx, blkoff, blkcnt });
  }
  slots.sort((x, y) => x.blkoff - y.blkoff);
  for (const { pkgidx, blkoff, blkcnt } of slots) {
    const h = await file.read(blkoff * BLOCK, HEAD);
    if (h.length < HEAD || h.readUInt32LE(0) !== HEAD_MAGIC || h.readUInt32LE(4) !== pkgidx) throw new NdbError(`blob of package ${pkgidx} has a bad head`);
    const length = h.readUInt32LE(12);
    if (blkcnt !== Math.ceil((HEAD + length + TAIL) / BLOCK)) throw new NdbError(`blob of package ${pkgidx} does not fill its blocks`);
    if (length > options.maxBlobBytes) continue;
    const all = await file.read(blkoff * BLOCK, blkcnt * BLOCK);
    const tail = all.subarray(all.length - TAIL);
    if (tail.readUInt32LE(8) !== TAIL_MAGIC || tail.readUInt32LE(4) !== length) throw new NdbError(`blob of package ${pkgidx} has a bad tail`);
    if (adler32(all.subarray(0, all.length - TAIL)) !== tail.readUInt32LE(0)) throw new NdbError(`blob of package ${pkgidx} fails its checksum`);
    yield { pkgidx, blob: all.subarray(HEAD, HEAD + length) };
  }
}
