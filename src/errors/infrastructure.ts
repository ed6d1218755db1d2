// Failures of what Berth runs on (the database file, the disk) as catalogue errors that name the cause,
// instead of an anonymous internal error. Recognised by the error codes SQLite and the OS give them.
import { BerthError } from './berth-error.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

export function infrastructureError(err: unknown): BerthError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (DISK_FULL.has(code)) {
    return new BerthError('STORAGE_FULL', { retryAfterSeconds: 60, cause: err, detail: { cause: code === 'SQLITE_FULL' ? 'database disk full' : 'blob storage full' } });
  }
  if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB)/.test(code)) {
    const cause = /^SQLITE_(BUSY|LOCKED)/.test(code) ? 'locked by another process' : /READONLY/.test(code) ? 'read-only' : 'failing';
    return new BerthError('DATABASE_UNAVAILABLE', { retryAfterSeconds: 5, cause: err, message: `the metadata database is ${cause}; try again later`, detail: { cause } });
  }
  return undefined;
}
