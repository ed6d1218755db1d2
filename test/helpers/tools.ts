// Helpers for end-to-end tests that drive external tools (skopeo, podman, CNCF Distribution).
// A missing tool is a test FAILURE with an install hint, never a skip.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import assert from 'node:assert/strict';

const INSTALL_HINT: Record<string, string> = {
  skopeo: 'apt-get install -y skopeo',
  podman: 'apt-get install -y podman',
  'docker-registry': 'apt-get install -y docker-registry   (CNCF Distribution 2.x)',
  tar: 'apt-get install -y tar',
  haproxy: 'apt-get install -y haproxy',
};

/** The tool's path (also in /usr/sbin and /sbin, where daemons live, not on every PATH), or undefined. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Asserts that `cmd` is installed; the failure message says how to install it. */
export function requireTool(cmd: string): string {
  const found = which(cmd);
  assert.ok(found, `required tool "${cmd}" is not installed; install it with: ${INSTALL_HINT[cmd] ?? `apt-get install -y ${cmd}`}`);
  return found;
}

export interface RunResult { code: number; stdout: string; stderr: string; cmd: string }

/** Runs a command, never throws; resolves with exit code and output. */
export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timeoutMs = Number(process.env.BERTH_E2E_TOOL_TIMEOUT_MS ?? 0) || opts.timeoutMs || 180_000;
    const timer = setTimeout(() => { stderr += `\n[test] timeout after ${timeoutMs} ms, killing`; p.kill('SIGKILL'); }, timeoutMs);
    p.on('error', (e) => { stderr += String(e); });
    p.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr, cmd: [cmd, ...args].join(' ') }); });
    // A tool that exits before reading its input closes the pipe: EPIPE here is not the test's failure.
    p.stdin.on('error', () => undefined);
    p.stdin.end(opts.input ?? '');
  });
}

/** Runs and asserts exit code 0 (message shows the command and its output). */
export async function runOk(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `command failed (exit ${r.code}): ${r.cmd}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-6000)}`);
  return r;
}

/** Writes an accept-anything signature policy and an isolated registries.conf under dir; returns paths. */
export async function containersConfig(dir: string): Promise<{ policy: string; registriesConf: string; authFile: string; env: Record<string, string> }> {
  await mkdir(dir, { recursive: true });
  const policy = path.join(dir, 'policy.json');
  const registriesConf = path.join(dir, 'registries.conf');
  const authFile = path.join(dir, 'auth.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  await mkdir(path.join(dir, 'xdg-config'), { recursive: true });
  const env = {
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    REGISTRY_AUTH_FILE: authFile,
    XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
    TMPDIR: path.join(dir, 'tmp'),
  };
  return { policy, registriesConf, authFile, env };
}

let unshareWorks: boolean | undefined;
/**
 * containers/image keeps a blob-info cache in /var/lib/containers/cache when running as root, and podman's
 * network backend uses /run/containers/networks, with no command-line override. To keep tests off global
 * state, commands run in a private mount namespace where per-test directories are bind-mounted over both
 * (when that is possible: root + unshare; at most empty mount points are created on the host).
 */
export function isolate(stateDir: string, cmd: string, args: string[]): [string, string[]] {
  if (unshareWorks === undefined) {
    const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mkdir -p /var/lib/containers /run/containers && mount --bind /tmp /var/lib/containers && mount --bind /tmp /run/containers'], { encoding: 'utf8' });
    unshareWorks = probe.status === 0;
  }
  if (!unshareWorks) return [cmd, args];
  const script = [
    'mkdir -p "$0/var-lib-containers" "$0/run-containers" /var/lib/containers /run/containers',
    'mount --bind "$0/var-lib-containers" /var/lib/containers',
    'mount --bind "$0/run-containers" /run/containers',
    'exec "$@"',
  ].join(' && ');
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, stateDir, cmd, ...args]];
}

/** Thin skopeo wrapper with an isolated policy/registries configuration. */
export class Skopeo {
  constructor(private readonly cfg: { policy: string; env: Record<string, string> }, private readonly tmp: string) {}
  args(a: string[]): string[] { return ['--policy', this.cfg.policy, '--tmpdir', this.tmp, ...a]; }
  private cmd(a: string[]) { return isolate(path.join(this.tmp, '..', 'isolated'), 'skopeo', this.args(a)); }
  run(a: string[], timeoutMs = 180_000) { const [c, x] = this.cmd(a); return run(c, x, { env: this.cfg.env, timeoutMs }); }
  ok(a: string[], timeoutMs = 180_000) { const [c, x] = this.cmd(a); return runOk(c, x, { env: this.cfg.env, timeoutMs }); }
}

/** Returns log lines added after `mark` (an index into logs). */
export function logsSince(logs: string[], mark: number): string[] { return logs.slice(mark); }
