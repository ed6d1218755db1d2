// The rows of one table of an SQLite database file, read from the file format (sqlite.org/fileformat2.html)
// without an SQL engine: rpm ≥ 4.16 keeps its headers in `rpmdb.sqlite`, table Packages (hnum INTEGER
// PRIMARY KEY, blob BLOB). Why not better-sqlite3: outside db/ Berth opens no database client (the import
// rules), and a file from an image is hostile input, better walked as bounded pages than handed to an engine
// that would run its schema. Read-only and from the main file alone: pages still in a -wal file are not
// seen (rpm checkpoints on close, so a finished transaction is in the main file).
import type { RandomAccess } from './rpm-file.js';

const MAGIC = 'SQLite format 3\0';
const LEAF_TABLE = 0x0d;
const INTERIOR_TABLE = 0x05;
/** Deeper than any real table b-tree (each level multiplies the fan-out by hundreds). */
const MAX_DEPTH = 40;

export class SqliteError extends Error {}

export type SqliteValue = null | number | string | Buffer;

export function isSqlite(head: Buffer): boolean {
  return head.length >= 16 && head.toString('latin1', 0, 16) === MAGIC;
}

/** SQLite's variable-length integer: 1 to 9 bytes, big-endian, 7 bits a byte (all 8 in the ninth). */
function varint(buf: Buffer, at: number): [value: number, next: number] {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (at + i >= buf.length) throw new SqliteError('varint runs off the page');
    const b = buf[at + i];
    if (i === 8) return [v * 256 + b, at + 9];
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) return [v, at + i + 1];
  }
  throw new SqliteError('unreachable');
}

function serialSize(t: number): number {
  if (t >= 12) return Math.floor((t - 12) / 2);
  if (t === 10 || t === 11) throw new SqliteError(`reserved serial type ${t}`);
  return [0, 1, 2, 3, 4, 6, 8, 8, 0, 0][t];
}

/** Decodes a record (the payload of a table row): header of serial types, then the values. */
export function decodeRecord(payload: Buffer, encoding: BufferEncoding): SqliteValue[] {
  const [headerSize, first] = varint(payload, 0);
  if (headerSize > payload.length || headerSize < first) throw new SqliteError('record header outside its payload');
  const types: number[] = [];
  for (let at = first; at < headerSize;) {
    const [t, next] = varint(payload, at);
    types.push(t);
    at = next;
  }
  const values: SqliteValue[] = [];
  let at = headerSize;
  for (const t of types) {
    const size = serialSize(t);
    if (at + size > payload.length) throw new SqliteError('record value outside its payload');
    if (t === 0) values.push(null);
    else if (t === 8 || t === 9) values.push(t - 8);
    else if (t <= 6) values.push(size === 8 ? Number(payload.readBigInt64BE(at)) : payload.readIntBE(at, size));
    else if (t === 7) values.push(payload.readDoubleBE(at));
    else if (t % 2 === 0) values.push(payload.subarray(at, at + size));
    else values.push(payload.toString(encoding, at, at + size));
    at += size;
  }
  return values;
}

export interface SqliteOptions {
  /** a row whose payload is larger than this is skipped, not read */
  maxPayloadBytes: number;
}

/** Each row of the named table (values in column order; an INTEGER PRIMARY KEY column reads as null). */
export async function* sqliteRows(file: RandomAccess, table: string, options: SqliteOptions): AsyncGenerator<SqliteValue[]> {
  const head = await file.read(0, 100);
  if (head.length < 100 || !isSqlite(head)) throw new SqliteError('not an SQLite database');
  const rawSize = head.readUInt16BE(16);
  const pageSize = rawSize === 1 ? 65536 : rawSize;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new SqliteError(`bad page size ${pageSize}`);
  const usable = pageSize - head[20];
  if (usable < 480) throw new SqliteError(`usable page size ${usable} is below SQLite's minimum`);
  const encoding: BufferEncoding = head.readUInt32BE(56) === 2 ? 'utf16le' : 'utf8'; // 3 (UTF-16be) is not written by rpm
  if (head.readUInt32BE(56) === 3) throw new SqliteError('UTF-16be databases are not read');
  const pageCount = Math.floor(file.size / pageSize);

  const page = async (n: number): Promise<Buffer> => {
    if (n < 1 || n > pageCount) throw new SqliteError(`page ${n} is outside the file`);
    const p = await file.read((n - 1) * pageSize, pageSize);
    if (p.length !== pageSize) throw new SqliteError(`page ${n} is short`);
    return p;
  };

  // A cell's payload: the part on the b-tree page, then the overflow chain (each page: next u32, content).
  const payload = async (p: Buffer, at: number, total: number): Promise<Buffer | undefined> => {
    const maxLocal = usable - 35;
    let local = total;
    if (total > maxLocal) {
      const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
      const k = minLocal + ((total - minLocal) % (usable - 4));
      local = k <= maxLocal ? k : minLocal;
    }
    if (at + local + (local < total ? 4 : 0) > usable) throw new SqliteError('cell runs off its page');
    if (total > options.maxPayloadBytes) return undefined;
    if (total - local > pageCount * (usable - 4)) throw new SqliteError('payload is larger than the file');
    const out = Buffer.allocUnsafe(total);
    p.copy(out, 0, at, at + local);
    let got = local;
    let next = local < total ? p.readUInt32BE(at + local) : 0;
    for (let hops = 0; got < total; hops++) {
      if (hops > pageCount || next === 0) throw new SqliteError('overflow chain is broken');
      const o = await page(next);
      const n = Math.min(usable - 4, total - got);
      o.copy(out, got, 4, 4 + n);
      got += n;
      next = o.readUInt32BE(0);
    }
    return out;
  };

  const visited = new Set<number>();
  async function* walk(root: number): AsyncGenerator<Buffer> {
    const stack: Array<{ pgno: number; depth: number }> = [{ pgno: root, depth: 0 }];
    while (stack.length > 0) {
      const { pgno, depth } = stack.pop()!;
      if (depth > MAX_DEPTH) throw new SqliteError('b-tree is implausibly deep');
      if (visited.has(pgno)) throw new SqliteError(`page ${pgno} is reached twice`);
      visited.add(pgno);
      const p = await page(pgno);
      const h = pgno === 1 ? 100 : 0;
      const type = p[h];
      if (type !== LEAF_TABLE && type !== INTERIOR_TABLE) throw new SqliteError(`page ${pgno} is not a table b-tree page (type ${type})`);
      const cells = p.readUInt16BE(h + 3);
      const pointers = h + (type === LEAF_TABLE ? 8 : 12);
      if (pointers + 2 * cells > usable) throw new SqliteError(`page ${pgno} claims ${cells} cells`);
      if (type === INTERIOR_TABLE) {
        // Children pushed in reverse so rows come out in rowid order.
        stack.push({ pgno: p.readUInt32BE(h + 8), depth: depth + 1 });
        for (let i = cells - 1; i >= 0; i--) {
          const at = p.readUInt16BE(pointers + 2 * i);
          if (at + 4 > usable) throw new SqliteError('cell pointer outside its page');
          stack.push({ pgno: p.readUInt32BE(at), depth: depth + 1 });
        }
        continue;
      }
      for (let i = 0; i < cells; i++) {
        const at = p.readUInt16BE(pointers + 2 * i);
        if (at >= usable) throw new SqliteError('cell pointer outside its page');
        const [total, afterSize] = varint(p, at);
        const [, afterRowid] = varint(p, afterSize);
        const body = await payload(p, afterRowid, total);
        if (body) yield body;
      }
    }
  }

  // The schema table (sqlite_schema: type, name, tbl_name, rootpage, sql) is the b-tree rooted at page 1.
  let root: number | undefined;
  for await (const body of walk(1)) {
    const [type, name, , rootpage] = decodeRecord(body, encoding);
    if (type === 'table' && typeof name === 'string' && name === table && typeof rootpage === 'number') root = rootpage;
  }
  if (root === undefined) throw new SqliteError(`no table ${table}`);
  for await (const body of walk(root)) yield decodeRecord(body, encoding);
}
