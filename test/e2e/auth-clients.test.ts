// Real clients through Docker token authentication: skopeo and podman log in, push and pull, and are
// refused where their user has no rights.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { makeImage, writeLayout } from '../helpers/ocilayout.js';
import { containersConfig, isolate, requireTool, run, runOk, Skopeo } from '../helpers/tools.js';
import { FIXTURE, startSlapd, type Slapd } from '../helpers/slapd.js';

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

    // A robot account and a personal access token log in with podman like a password does.
    for (const args of [['org', 'create', 'acme'], ['org', 'role', 'acme', 'ci', 'developer']]) assert.equal((await runCli([...args, '--data', b.dataDir])).code, 0);
    const robot = await runCli(['robot', 'create', 'acme', 'builder', '--scope', 'acme/app-*:pull,push', '--data', b.dataDir]);
    assert.equal(robot.code, 0, robot.stderr);
    const robotSecret = robot.stdout.trim().split('\n').pop()!;
    const robotAuth = path.join(root, 'robot-auth.json');
    assert.equal((await podman(['login', '--tls-verify=false', '--authfile', robotAuth, '-u', 'acme+builder', '--password-stdin', b.host], robotSecret)).code, 0);
    await podman(['tag', id, `${b.host}/acme/app-web:v1`]);
    await podman(['push', '--tls-verify=false', '--authfile', robotAuth, '--signature-policy', cfg.policy, `${b.host}/acme/app-web:v1`]);
    await podman(['tag', id, `${b.host}/acme/other:v1`]);
    const [c, a] = isolate(path.join(root, 'isolated'), 'podman', [...podmanArgs, 'push', '--tls-verify=false', '--authfile', robotAuth, '--signature-policy', cfg.policy, `${b.host}/acme/other:v1`]);
    assert.notEqual((await run(c, a, { env: cfg.env, timeoutMs: 180_000 })).code, 0, 'outside the robot scopes');
    const pat = await runCli(['token', 'create', 'ci', '--name', 'podman', '--scope', 'acme/**:pull', '--data', b.dataDir]);
    const patSecret = pat.stdout.trim().split('\n').pop()!;
    const patAuth = path.join(root, 'pat-auth.json');
    assert.equal((await podman(['login', '--tls-verify=false', '--authfile', patAuth, '-u', 'ci', '--password-stdin', b.host], patSecret)).code, 0);
    await podman(['rmi', '-a', '-f']);
    await podman(['pull', '--tls-verify=false', '--authfile', patAuth, '--signature-policy', cfg.policy, `${b.host}/acme/app-web:v1`]);
    const [c2, a2] = isolate(path.join(root, 'isolated'), 'podman', [...podmanArgs, 'push', '--tls-verify=false', '--authfile', patAuth, '--signature-policy', cfg.policy, `${b.host}/acme/app-web:v1`]);
    assert.notEqual((await run(c2, a2, { env: cfg.env, timeoutMs: 180_000 })).code, 0, 'a pull-only token cannot push');
  });

  test('skopeo logs in with a robot secret and a personal access token', async () => {
    const robot = await runCli(['robot', 'create', 'acme', 'skopeo', '--scope', 'acme/tools:push,pull', '--data', b.dataDir]);
    const secret = robot.stdout.trim().split('\n').pop()!;
    const auth = path.join(work, 'robot-skopeo.json');
    const [c, a] = isolate(path.join(work, 'isolated'), 'skopeo', ['login', '--tls-verify=false', '--authfile', auth, '-u', 'acme+skopeo', '--password-stdin', b.host]);
    assert.equal((await run(c, a, { env: cfg.env, input: secret })).code, 0);
    await skopeo.ok(['copy', '--dest-tls-verify=false', '--dest-authfile', auth, `oci:${layout}:v1`, `docker://${b.host}/acme/tools:v1`]);
    const [c2, a2] = isolate(path.join(work, 'isolated'), 'skopeo', ['login', '--tls-verify=false', '--authfile', auth, '-u', 'acme+skopeo', '--password-stdin', b.host]);
    assert.notEqual((await run(c2, a2, { env: cfg.env, input: 'berth_pat_000000000000_wrongwrongwrongwrongwrongwrong12' })).code, 0, 'a wrong secret fails at login');
  });
});

describe('directory accounts with real clients', () => {
  let slapd: Slapd;
  let b: BerthProcess;
  let work: string;

  before(async () => {
    requireTool('skopeo');
    slapd = await startSlapd();
    b = await startBerth({
      auth: true,
      config: { auth: { ldap: {
        enabled: true, url: slapd.url, startTls: true, caFile: slapd.caFile, bindDn: FIXTURE.service.dn, bindPassword: FIXTURE.service.password,
        userBaseDn: FIXTURE.peopleDn, groups: { mode: 'memberOf' },
      } } },
    });
    work = await tempDir('berth-e2e-ldap-');
  });
  after(async () => {
    await b?.stop();
    await slapd?.stop();
    if (work) await removeDir(work);
  });

  test('skopeo logs in with a directory password (StartTLS to slapd) and pushes to the personal namespace', async () => {
    const cfg = await containersConfig(path.join(work, 'cfg'));
    const skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
    const layout = path.join(work, 'layout');
    await writeLayout(layout, { v1: makeImage({ layers: 1, label: 'ldap' }) });
    const [c, a] = isolate(path.join(work, 'isolated'), 'skopeo', ['login', '--tls-verify=false', '--authfile', cfg.authFile, '-u', 'alice', '--password-stdin', b.host]);
    const login = await run(c, a, { env: cfg.env, input: FIXTURE.users.alice.password });
    assert.equal(login.code, 0, login.stderr);
    await skopeo.ok(['copy', '--dest-tls-verify=false', '--dest-authfile', cfg.authFile, `oci:${layout}:v1`, `docker://${b.host}/alice/app:v1`]);
    const [c2, a2] = isolate(path.join(work, 'isolated'), 'skopeo', ['login', '--tls-verify=false', '--authfile', cfg.authFile, '-u', 'bob', '--password-stdin', b.host]);
    assert.notEqual((await run(c2, a2, { env: cfg.env, input: 'not-bobs-password' })).code, 0);
  });
});
