// A secret file that several processes starting together may each try to create: it appears whole or
// not at all (written under a temporary name, made durable, then linked into place, which fails if
// another process won), so no process ever reads it half-written.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Creates `file` with `data` (mode 0600) unless it exists; true when this call created it. */
export function createFileOnce(file: string, data: Buffer | string): boolean {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
  const d = openSync(dir, 'r');
  try { fsyncSync(d); } finally { closeSync(d); }
  return true;
}
