// A real Debian root filesystem for scanner tests: `mmdebstrap --variant=minbase bookworm` from bookworm
// main only (no security updates, so it holds packages with known fixes in bookworm-security). Built once
// per machine into the temporary directory and reused (a build takes about 15 s and needs the Debian mirror).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { requireTool } from './tools.js';

const CACHE = path.join(os.tmpdir(), 'berth-test-cache');
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = 'deb http://deb.debian.org/debian bookworm main';

/** The rootfs as a tar file (path), built on first use. */
export function debianRootfsTar(): string {
  const tar = path.join(CACHE, `${DEBIAN_SUITE}-minbase.tar`);
  if (existsSync(tar)) return tar;
  requireTool('mmdebstrap');
  mkdirSync(CACHE, { recursive: true });
  const partial = `${tar}.${process.pid}.partial`;
  const r = spawnSync('mmdebstrap', ['--variant=minbase', '--format=tar', '--quiet', DEBIAN_SUITE, partial, DEBIAN_MIRROR], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, `mmdebstrap failed (needs the Debian mirror; apt-get install -y mmdebstrap):\n${r.stderr}`);
  renameSync(partial, tar);
  return tar;
}

/** The installed packages of the rootfs as dpkg itself reports them: "name version" lines, sorted. */
export async function dpkgInstalled(tar: string): Promise<string[]> {
  requireTool('dpkg-query');
  const admin = await mkdtemp(path.join(os.tmpdir(), 'berth-dpkg-admin-'));
  try {
    const status = spawnSync('tar', ['-xOf', tar, './var/lib/dpkg/status'], { maxBuffer: 1 << 28 });
    assert.equal(status.status, 0, status.stderr?.toString());
    await writeFile(path.join(admin, 'status'), status.stdout);
    await mkdir(path.join(admin, 'info'));
    await mkdir(path.join(admin, 'updates'));
    const q = spawnSync('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${db:Status-Abbrev} ${Package} ${Version}\\n'], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    return q.stdout.split('\n').filter((l) => /^[ih]i /.test(l)).map((l) => l.slice(4)).sort();
  } finally {
    rmSync(admin, { recursive: true, force: true });
  }
}

export async function readTarMember(tar: string, member: string): Promise<Buffer> {
  const r = spawnSync('tar', ['-xOf', tar, member], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

