// Failures of what Berth runs on (the database file, the disk) as catalogue errors that name the cause,
// instead of an anonymous internal error. Recognised by the error codes SQLite and the OS give them.
import { BerthError } from './berth-error.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
/** What the OS says when the filesystem under the blob store cannot take writes. */
const STORAGE_FAILING: Record<string, string> = { EROFS: 'blob storage read-only', EIO: 'blob storage failing' };

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** The disk (or quota) under the blob store or the database is full: ENOSPC, EDQUOT, SQLITE_FULL. */
export function isDiskFull(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && DISK_FULL.has(code);
}

export function infrastructureError(err: unknown): BerthError | undefined {
  const code = codeOf(err);
  if (code === undefined) return undefined;
  if (DISK_FULL.has(code)) {
    return new BerthError('STORAGE_FULL', { retryAfterSeconds: 60, cause: err, detail: { cause: code === 'SQLITE_FULL' ? 'database disk full' : 'blob storage full' } });
  }
  if (STORAGE_FAILING[code]) {
    return new BerthError('STORAGE_UNAVAILABLE', { retryAfterSeconds: 30, cause: err, message: `the registry's storage is ${code === 'EROFS' ? 'read-only' : 'failing'}; try again later`, detail: { cause: STORAGE_FAILING[code] } });
  }
  if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB)/.test(code)) {
    const cause = /^SQLITE_(BUSY|LOCKED)/.test(code) ? 'locked by another process' : /READONLY/.test(code) ? 'read-only' : 'failing';
    return new BerthError('DATABASE_UNAVAILABLE', { retryAfterSeconds: 5, cause: err, message: `the metadata database is ${cause}; try again later`, detail: { cause } });
  }
  return undefined;
}
