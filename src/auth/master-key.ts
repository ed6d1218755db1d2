// The master key seals secrets kept in the database. It lives in its own file (0600), so a database
// backup or a leaked replica holds no usable signing key.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createFileOnce } from '../lib/create-once.js';

export function loadOrCreateMasterKey(file: string): Buffer {
  try {
    const key = readFileSync(file);
    if (key.length !== 32) throw new Error(`master key ${file} must hold exactly 32 bytes`);
    if ((statSync(file).mode & 0o077) !== 0) throw new Error(`master key ${file} must not be readable by group or others (chmod 600)`);
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = randomBytes(32);
  // Another process may create it first: then theirs is used.
  return createFileOnce(file, key) ? key : loadOrCreateMasterKey(file);
}
