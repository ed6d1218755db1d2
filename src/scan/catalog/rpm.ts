// RPM packages: rpm's package database, in whichever of its three formats the image's rpm wrote:
// rpmdb.sqlite (rpm ≥ 4.16: Fedora ≥ 33, RHEL 9), Packages as BerkeleyDB hash (RHEL/CentOS ≤ 8, Amazon
// Linux 2) or Packages.db as NDB (SUSE), under var/lib/rpm or usr/lib/sysimage/rpm. The format is told by
// the file's own magic, not its name. Each database holds one header blob per installed package.
import { bdbHashValues, BdbError, isBdbHash } from './rpm-bdb.js';
import { fileAccess, withRandomAccess, type RandomAccess } from './rpm-file.js';
import { parseRpmHeader, rpmPackage, RpmHeaderError } from './rpm-header.js';
import { isNdb, ndbBlobs, NdbError } from './rpm-ndb.js';
import { isSqlite, sqliteRows, SqliteError } from './rpm-sqlite.js';
import { CatalogError, type Cataloger, type FoundPackage } from './types.js';

const DIRS = ['var/lib/rpm/', 'usr/lib/sysimage/rpm/'];
const FILES = new Set(['rpmdb.sqlite', 'Packages', 'Packages.db']);

/** Large enough for a full RHEL or SUSE system's database (a few hundred MB), small enough to spool. */
export const MAX_RPMDB_BYTES = 2 * 1024 * 1024 * 1024;
/** rpm itself refuses headers above 256 MiB; real ones stay under a few MiB even for kernels and texlive. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

async function* headerBlobs(file: RandomAccess): AsyncGenerator<Buffer> {
  const head = await file.read(0, 512);
  if (isSqlite(head)) {
    for await (const row of sqliteRows(file, 'Packages', { maxPayloadBytes: MAX_HEADER_BYTES })) {
      const blob = row[1];
      if (Buffer.isBuffer(blob)) yield blob;
    }
  } else if (isBdbHash(head)) {
    for await (const { key, value } of bdbHashValues(file, { maxValueBytes: MAX_HEADER_BYTES })) {
      // Key 0 is not a package: older rpm kept its next header number there.
      if (key.length === 4 && key.readUInt32LE(0) === 0) continue;
      yield value;
    }
  } else if (isNdb(head)) {
    for await (const { blob } of ndbBlobs(file, { maxBlobBytes: MAX_HEADER_BYTES })) yield blob;
  } else {
    throw new CatalogError('not an rpm database (neither SQLite, BerkeleyDB hash nor NDB)');
  }
}

/** The packages of an rpm database open for random access. A malformed database is a CatalogError. */
export async function readRpmDatabase(file: RandomAccess): Promise<FoundPackage[]> {
  const found: FoundPackage[] = [];
  if (file.size === 0) return found; // rpm treats an empty database file as a new, empty database
  try {
    for await (const blob of headerBlobs(file)) {
      let pkg: FoundPackage | undefined;
      try {
        pkg = rpmPackage(parseRpmHeader(blob));
      } catch (err) {
        // One unreadable header; the others still count. (A RangeError is a read past a buffer's end that a
        // bounds check missed: still malformed input, not a reason to fail the scan.)
        if (err instanceof RpmHeaderError || err instanceof RangeError) continue;
        throw err;
      }
      if (pkg) found.push(pkg);
    }
  } catch (err) {
    if (err instanceof SqliteError || err instanceof BdbError || err instanceof NdbError || err instanceof RangeError) {
      throw new CatalogError(`unreadable rpm database: ${err.message}`);
    }
    throw err;
  }
  return found;
}

/** The packages of an rpm database file on disk (tests, tools). */
export async function readRpmDatabaseFile(path: string): Promise<FoundPackage[]> {
  const file = await fileAccess(path);
  try {
    return await readRpmDatabase(file);
  } finally {
    await file.close();
  }
}

export const rpmCataloger: Cataloger = {
  name: 'rpm',
  wants(path) {
    for (const dir of DIRS) if (path.startsWith(dir) && FILES.has(path.slice(dir.length))) return 'stream';
    return false;
  },
  parse: (_path, content) => withRandomAccess(content, MAX_RPMDB_BYTES, readRpmDatabase),
};
