// The values of a BerkeleyDB hash database: rpm's classic `Packages` (rpm < 4.16, RHEL/CentOS ≤ 8, older
// SUSE), keyed by header number, one header blob per value. Read the way rpm's own read-only backend
// (lib/backend/bdb_ro.c) reads it: the metadata page gives the page size and the bucket → page map
// (spares), each bucket is a chain of hash pages holding key/value items, and a value too big for a page
// lives on a chain of overflow pages. Integers are in the byte order of the machine that wrote the file.
import type { RandomAccess } from './rpm-file.js';

const HASH_MAGIC = 0x00061561;
const PAGE_HEADER = 26; // lsn 8, pgno 4, prev 4, next 4, entries 2, hf_offset 2, level 1, type 1
const P_HASH_UNSORTED = 2;
const P_OVERFLOW = 7;
const P_HASH = 13;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;

export class BdbError extends Error {}

export interface BdbOptions {
  /** a value larger than this is skipped, not read */
  maxValueBytes: number;
}

/** Whether the file starts like a BerkeleyDB hash database (either byte order). */
export function isBdbHash(head: Buffer): boolean {
  return head.length >= 16 && (head.readUInt32LE(12) === HASH_MAGIC || head.readUInt32BE(12) === HASH_MAGIC);
}

/** Every value of the hash database, bucket by bucket; throws BdbError where the structure does not hold. */
export async function* bdbHashValues(file: RandomAccess, options: BdbOptions): AsyncGenerator<{ key: Buffer; value: Buffer }> {
  const meta = await file.read(0, 512);
  if (meta.length < 512 || !isBdbHash(meta)) throw new BdbError('not a BerkeleyDB hash database');
  const le = meta.readUInt32LE(12) === HASH_MAGIC;
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const version = u32(meta, 16);
  if (version < 8 || version > 10) throw new BdbError(`unsupported hash version ${version}`);
  const pageSize = u32(meta, 20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new BdbError(`bad page size ${pageSize}`);
  if (meta[24] !== 0) throw new BdbError('encrypted database');
  const lastPage = Math.min(u32(meta, 32), Math.floor(file.size / pageSize) - 1);
  const maxBucket = u32(meta, 72);
  if (maxBucket > lastPage) throw new BdbError(`bucket count ${maxBucket + 1} exceeds the ${lastPage + 1} pages`);
  const spares: number[] = [];
  for (let i = 0; i < 32; i++) spares.push(u32(meta, 96 + 4 * i));

  const page = async (pgno: number, type?: number): Promise<Buffer> => {
    if (pgno < 1 || pgno > lastPage) throw new BdbError(`page ${pgno} is outside the file`);
    const p = await file.read(pgno * pageSize, pageSize);
    if (p.length !== pageSize || u32(p, 8) !== pgno) throw new BdbError(`page ${pgno} does not carry its own number`);
    if (type !== undefined && p[25] !== type) throw new BdbError(`page ${pgno} has type ${p[25]}, not ${type}`);
    return p;
  };

  // A value's overflow chain; the total is bounded by the length its item declares.
  const overflow = async (first: number, length: number): Promise<Buffer> => {
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    let pgno = first;
    for (let hops = 0; got < length; hops++) {
      if (hops > lastPage) throw new BdbError('overflow chain loops');
      const p = await page(pgno, P_OVERFLOW);
      const n = u16(p, 22); // on overflow pages hf_offset is the number of bytes held
      if (n + PAGE_HEADER > pageSize || n > length - got) throw new BdbError(`overflow page ${pgno} holds ${n} bytes`);
      p.copy(out, got, PAGE_HEADER, PAGE_HEADER + n);
      got += n;
      pgno = u32(p, 16);
      if (got < length && pgno === 0) throw new BdbError('overflow chain ends early');
    }
    return out;
  };

  const item = async (p: Buffer, off: number, len: number): Promise<Buffer | undefined> => {
    if (len < 1 || off + len > pageSize) throw new BdbError('hash item outside its page');
    if (p[off] === H_KEYDATA) return p.subarray(off + 1, off + len);
    if (p[off] === H_OFFPAGE) {
      if (len !== 12) throw new BdbError('bad off-page item');
      const length = u32(p, off + 8);
      if (length === 0 || length > options.maxValueBytes) return undefined;
      if (length > lastPage * (pageSize - PAGE_HEADER)) throw new BdbError('value is larger than the file');
      return overflow(u32(p, off + 4), length);
    }
    return undefined; // duplicates (H_DUPLICATE, H_OFFDUP) are not used by rpm
  };

  const visited = new Set<number>();
  for (let bucket = 0; bucket <= maxBucket; bucket++) {
    // BerkeleyDB's BS_TO_PAGE: bucket + spares[ceil(log2(bucket + 1))]
    let pgno = bucket + spares[bucket === 0 ? 0 : 32 - Math.clz32(bucket)];
    while (pgno !== 0) {
      if (visited.has(pgno)) throw new BdbError(`page ${pgno} is reached twice`);
      visited.add(pgno);
      const p = await page(pgno);
      if (p[25] !== P_HASH && p[25] !== P_HASH_UNSORTED) throw new BdbError(`bucket page ${pgno} has type ${p[25]}`);
      const entries = Math.min(u16(p, 20), Math.floor((pageSize - PAGE_HEADER) / 2));
      const offsets: number[] = [];
      for (let i = 0; i < entries; i++) offsets.push(u16(p, PAGE_HEADER + 2 * i));
      // Items fill the page from its end down: an item runs from its offset to the previous item's.
      for (let i = 0; i + 1 < entries; i += 2) {
        const keyEnd = i === 0 ? pageSize : offsets[i - 1];
        const key = await item(p, offsets[i], keyEnd - offsets[i]);
        const value = await item(p, offsets[i + 1], offsets[i] - offsets[i + 1]);
        if (key && value) yield { key, value };
      }
      pgno = u32(p, 16);
    }
  }
}
