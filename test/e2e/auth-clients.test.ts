// Real clients through Docker token authentication: skopeo and podman log in, push and pull, and are
// refused where their user has no rights.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { makeImage, writeLayout } from '../helpers/ocilayout.js';
import { containersConfig, isolate, requireTool, run, runOk, Skopeo } from '../helpers/tools.js';

const CI_PW = 'pipeline-secret-0815-xyz';

describe('clients with credentials', () => {
  let b: BerthProcess;
  let work: string;
  let cfg: Awaited<ReturnType<typeof containersConfig>>;
  let skopeo: Skopeo;
  let layout: string;

  before(async () => {
    requireTool('skopeo');
    requireTool('podman');
    b = await startBerth({ auth: true });
    const add = await runCli(['user', 'add', 'ci', '--data', b.dataDir, '--password-stdin'], {}, CI_PW);
    assert.equal(add.code, 0, add.stderr);
    work = await tempDir('berth-e2e-auth-');
    cfg = await containersConfig(path.join(work, 'cfg'));
    skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
    layout = path.join(work, 'layout');
    await writeLayout(layout, { v1: makeImage({ layers: 2, label: 'auth' }) });
  });
  after(async () => {
    await b?.stop();
    if (work) await removeDir(work);
  });

  test('skopeo login, push and inspect in the user namespace; refused elsewhere and without login', async () => {
    const [c, a] = isolate(path.join(work, 'isolated'), 'skopeo', ['login', '--tls-verify=false', '--authfile', cfg.authFile, '-u', 'ci', '--password-stdin', b.host]);
    const login = await run(c, a, { env: cfg.env, input: CI_PW });
    assert.equal(login.code, 0, login.stderr);
    await skopeo.ok(['copy', '--dest-tls-verify=false', '--dest-authfile', cfg.authFile, `oci:${layout}:v1`, `docker://${b.host}/ci/app:v1`]);
    const inspect = await skopeo.ok(['inspect', '--tls-verify=false', '--authfile', cfg.authFile, `docker://${b.host}/ci/app:v1`]);
    assert.equal(JSON.parse(inspect.stdout).Name, `${b.host}/ci/app`);
    const denied = await skopeo.run(['copy', '--dest-tls-verify=false', '--dest-authfile', cfg.authFile, `oci:${layout}:v1`, `docker://${b.host}/other/app:v1`]);
    assert.notEqual(denied.code, 0, 'pushing outside the user namespace is refused');
    assert.match(denied.stderr, /denied|unauthorized|authentication required/i);
    const anonymous = await skopeo.run(['inspect', '--tls-verify=false', '--no-creds', `docker://${b.host}/ci/app:v1`]);
    assert.notEqual(anonymous.code, 0, 'anonymous pulls of a private repository are refused');
  });

  test('podman login, pull, push and pull back', async () => {
    const root = path.join(work, 'podman');
    const podmanArgs = ['--root', path.join(root, 'root'), '--runroot', path.join(root, 'run'), '--storage-driver', 'vfs', '--tmpdir', cfg.env.TMPDIR, '--events-backend=file', '--cgroup-manager=cgroupfs', '--network-config-dir', path.join(root, 'net')];
    const podman = (args: string[], input?: string) => {
      const [c, a] = isolate(path.join(root, 'isolated'), 'podman', [...podmanArgs, ...args]);
      return input === undefined ? runOk(c, a, { env: cfg.env, timeoutMs: 180_000 }) : run(c, a, { env: cfg.env, timeoutMs: 180_000, input });
    };
    const login = await podman(['login', '--tls-verify=false', '--authfile', cfg.authFile, '-u', 'ci', '--password-stdin', b.host], CI_PW);
    assert.equal(login.code, 0, login.stderr);
    // The image skopeo pushed above, pulled with the login.
    await podman(['pull', '--tls-verify=false', '--authfile', cfg.authFile, '--signature-policy', cfg.policy, `${b.host}/ci/app:v1`]);
    const id = (await podman(['images', '-q', '--no-trunc'])).stdout.trim().split('\n')[0];
    await podman(['tag', id, `${b.host}/ci/podman:v1`]);
    await podman(['push', '--tls-verify=false', '--authfile', cfg.authFile, '--signature-policy', cfg.policy, `${b.host}/ci/podman:v1`]);
    await podman(['rmi', '-a', '-f']);
    await podman(['pull', '--tls-verify=false', '--authfile', cfg.authFile, '--signature-policy', cfg.policy, `${b.host}/ci/podman:v1`]);
    const after = (await podman(['images', '-q', '--no-trunc'])).stdout.trim();
    assert.ok(after.includes(id.replace(/^sha256:/, '')), 'the pulled image is the pushed one');
  });
});
