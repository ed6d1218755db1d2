// A small tmpfs for fault tests: a real filesystem that fills up, and that can be made read-only and
// writable again. Needs root (mount(8)); unmount() in a `finally`.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statfsSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from './berth.js';

export interface Tmpfs {
  /** the mount point */
  dir: string;
  /** bytes free for writing */
  free(): number;
  /** Writes a filler file (`name`, under the mount point) until at most `leave` bytes stay free (0: until the disk is full). */
  fill(leave?: number, name?: string): void;
  /** Removes the filler file(s). */
  unfill(name?: string): Promise<void>;
  readOnly(): void;
  writable(): void;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeMiB: number): Promise<Tmpfs> {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root (sudo node --import tsx --test …)');
  const root = await tempDir('berth-tmpfs-');
  const dir = path.join(root, 'mnt');
  await mkdir(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs failed (needs root and mount(8) from util-linux: apt-get install mount): ${(e as { stderr?: Buffer }).stderr ?? e}`);
  }
  const free = () => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    fill(leave = 0, name = 'filler') {
      const fd = openSync(path.join(dir, name), 'a');
      try {
        const big = Buffer.alloc(1024 * 1024, 1);
        const page = Buffer.alloc(4096, 1);
        for (;;) {
          const left = free() - leave;
          if (left <= 0) break;
          try {
            writeSync(fd, left > big.length ? big : page);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw e;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    async unfill(name = 'filler') {
      await rm(path.join(dir, name), { force: true });
    },
    readOnly() { execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' }); },
    writable() { execFileSync('mount', ['-o', 'remount,rw', dir], { stdio: 'pipe' }); },
    async unmount() {
      try { execFileSync('mount', ['-o', 'remount,rw', dir], { stdio: 'pipe' }); } catch { /* not mounted read-only */ }
      execFileSync('umount', [dir], { stdio: 'pipe' });
      await rm(root, { recursive: true, force: true });
    },
  };
}
