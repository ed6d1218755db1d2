// A real Debian root filesystem for scanner tests: `mmdebstrap --variant=minbase bookworm` from bookworm
// main only (no security updates, so it holds packages with known fixes in bookworm-security). Built once
// per machine into the temporary directory and reused (a build takes about 15 s and needs the Debian mirror).
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { requireTool } from './tools.js';
import type { Descriptor } from './oci.js';
import { writeGzipLayer, writeImageLayout } from './ocilayout.js';

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


export interface SecurityFix { source: string; cve: string; fixedVersion: string; installed: string }

/**
 * What Debian itself says the rootfs lacks: the updates bookworm-security has for its packages (apt,
 * against the rootfs's own dpkg status, in a private state directory), and the CVEs the changelogs of those
 * updates (changelog.Debian.gz in the downloaded .debs) name above the installed version. Also the same
 * facts in the security tracker's JSON shape, for `berth vulndb import`.
 */
export async function debianSecurityFixes(tar: string, work: string): Promise<{ fixes: SecurityFix[]; tracker: Record<string, Record<string, unknown>> }> {
  requireTool('apt-get');
  requireTool('dpkg-deb');
  const dir = path.join(work, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs']) await mkdir(path.join(dir, d), { recursive: true });
  await writeFile(path.join(dir, 'sources.list'), 'deb http://deb.debian.org/debian-security bookworm-security main\n');
  await writeFile(path.join(dir, 'status'), await readTarMember(tar, './var/lib/dpkg/status'));
  const o = ['-o', `Dir::Etc::SourceList=${dir}/sources.list`, '-o', 'Dir::Etc::SourceParts=/nonexistent', '-o', `Dir::State::Lists=${dir}/lists`,
    '-o', `Dir::Cache=${dir}/cache`, '-o', `Dir::State::status=${dir}/status`, '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root'];
  const update = spawnSync('apt-get', [...o, '-qq', 'update'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(update.status, 0, `apt-get update of bookworm-security (needs the Debian mirror): ${update.stderr}`);
  const sim = spawnSync('apt-get', [...o, '-s', 'upgrade'], { encoding: 'utf8' });
  assert.equal(sim.status, 0, sim.stderr);
  // "Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/…)"
  const upgrades = [...sim.stdout.matchAll(/^Inst (\S+) \[([^\]]+)\] \((\S+) /gm)].map((m) => ({ binary: m[1]!, installed: m[2]!, candidate: m[3]! }));
  const status = (await readTarMember(tar, './var/lib/dpkg/status')).toString('utf8');
  const sourceOf = new Map<string, string>();
  for (const stanza of status.split(/\n\n+/)) {
    const name = /^Package: (\S+)/m.exec(stanza)?.[1];
    if (name) sourceOf.set(name, /^Source: (\S+)/m.exec(stanza)?.[1] ?? name);
  }
  const bySource = new Map<string, typeof upgrades>();
  for (const u of upgrades) {
    const src = sourceOf.get(u.binary) ?? u.binary;
    bySource.set(src, [...(bySource.get(src) ?? []), u]);
  }
  const fixes: SecurityFix[] = [];
  for (const [source, ups] of bySource) {
    let changelog: string | undefined;
    for (const u of ups) {
      const dl = spawnSync('apt-get', [...o, 'download', `${u.binary}=${u.candidate}`], { cwd: path.join(dir, 'debs'), encoding: 'utf8', timeout: 300_000 });
      assert.equal(dl.status, 0, dl.stderr);
      const deb = path.join(dir, 'debs', readdirSync(path.join(dir, 'debs')).find((f) => f.startsWith(`${u.binary}_`))!);
      const fsys = spawnSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30 });
      const member = spawnSync('tar', ['-xO', `./usr/share/doc/${u.binary}/changelog.Debian.gz`], { input: fsys.stdout, maxBuffer: 1 << 28 });
      if (member.status === 0 && member.stdout.length > 0) { changelog = gunzipSync(member.stdout).toString('utf8'); break; }
    }
    if (!changelog) continue;
    const installed = ups[0]!.installed;
    // Entries above the installed version; each CVE is fixed by the oldest such entry naming it.
    const entries = changelog.split(/^(?=\S+ \([^)]+\) [^;]+; urgency=)/m);
    for (const e of entries) {
      const version = /^\S+ \(([^)]+)\)/.exec(e)?.[1];
      if (!version || !dpkgNewer(version, installed)) continue;
      for (const cve of new Set(e.match(/CVE-\d{4}-\d{4,}/g) ?? [])) {
        const known = fixes.find((f) => f.source === source && f.cve === cve);
        if (!known) fixes.push({ source, cve, fixedVersion: version, installed });
        else if (dpkgNewer(known.fixedVersion, version)) known.fixedVersion = version;
      }
    }
  }
  const tracker: Record<string, Record<string, unknown>> = {};
  for (const f of fixes) {
    tracker[f.source] ??= {};
    tracker[f.source]![f.cve] = {
      description: `${f.cve} (from the changelog of ${f.source} ${f.fixedVersion})`, scope: 'local',
      releases: { bookworm: { status: 'resolved', fixed_version: f.fixedVersion, urgency: 'medium', repositories: { bookworm: f.installed } } },
    };
  }
  return { fixes, tracker };
}

function dpkgNewer(a: string, b: string): boolean {
  return spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0;
}

/**
 * The rootfs as a one-layer OCI image layout at `dir` (gzip level 1, ref "bookworm"), plus any `extra` layers
 * (already written to the layout's blobs, e.g. by writeGzipLayer) on top. Returns the manifest's descriptor.
 */
export async function debianLayout(dir: string, extra: { desc: Descriptor; diffId: string }[] = []): Promise<{ manifest: Descriptor; rootfsLayer: Descriptor; rootfsDiffId: string }> {
  const base = await writeGzipLayer(dir, createReadStream(debianRootfsTar()));
  const manifest = await writeImageLayout(dir, [base, ...extra], 'bookworm');
  return { manifest, rootfsLayer: base.desc, rootfsDiffId: base.diffId };
}
