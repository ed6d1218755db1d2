// Failures of what Berth runs on (the database file, the disk) as catalogue errors that name the cause,
// instead of an anonymous internal error. Recognised by the error codes SQLite, PostgreSQL (SQLSTATE)
// and the OS give them.
import { BerthError } from './berth-error.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);
/** PostgreSQL's SQLSTATEs (and the dialect's own code for a server it cannot reach) that mean "not now". */
const POSTGRES_UNAVAILABLE: Record<string, string> = {
  BERTH_DB_UNREACHABLE: 'unreachable', '53300': 'out of connections', '57P01': 'shutting down', '57P02': 'restarting',
  '57P03': 'starting', '25006': 'read-only', '57014': 'too slow (statement timeout)', '55P03': 'locked by another process',
};
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
    return new BerthError('STORAGE_FULL', { retryAfterSeconds: 60, cause: err, detail: { cause: code === 'SQLITE_FULL' || code === '53100' ? 'database disk full' : 'blob storage full' } });
  }
  if (STORAGE_FAILING[code]) {
    return new BerthError('STORAGE_UNAVAILABLE', { retryAfterSeconds: 30, cause: err, message: `the registry's storage is ${code === 'EROFS' ? 'read-only' : 'failing'}; try again later`, detail: { cause: STORAGE_FAILING[code] } });
  }
  // Text PostgreSQL cannot hold (a NUL character, sent in a query parameter or a JSON body) names nothing stored.
  if (code === '22021' || code === '22P05') {
    return new BerthError('REQUEST_MALFORMED', { cause: err, message: 'the request holds text with a NUL character (U+0000) or another character that cannot be stored' });
  }
  const pgCause = POSTGRES_UNAVAILABLE[code] ?? (/^08/.test(code) ? 'unreachable' : undefined);
  if (pgCause) {
    return new BerthError('DATABASE_UNAVAILABLE', { retryAfterSeconds: 5, cause: err, message: `the metadata database is ${pgCause}; try again later`, detail: { cause: pgCause } });
  }
  if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB)/.test(code)) {
    const cause = /^SQLITE_(BUSY|LOCKED)/.test(code) ? 'locked by another process' : /READONLY/.test(code) ? 'read-only' : 'failing';
    return new BerthError('DATABASE_UNAVAILABLE', { retryAfterSeconds: 5, cause: err, message: `the metadata database is ${cause}; try again later`, detail: { cause } });
  }
  return undefined;
}
