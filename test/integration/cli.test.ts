// The `berth` command line: account, organization and repository commands, gc output, TLS renewal under an
// existing CA. Every failure is one `berth: ...` line on stderr and exit code 1, never a stack trace.
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { pushBlob, pushRandomImage } from '../helpers/oci.js';

type Result = Awaited<ReturnType<typeof runCli>>;

function ok(r: Result): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** A refused command: exit code 1 and one clear line on stderr, no stack trace. */
function fails(r: Result, message: RegExp): void {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, /^berth: /);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

async function login(b: BerthProcess, user: string, password: string): Promise<number> {
  const res = await fetch(`${b.url}/token?service=berth`, { headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
  await res.arrayBuffer();
  return res.status;
}

const rows = (out: string) => out.trim().split('\n').map((l) => l.split('\t'));

describe('berth user', () => {
  let b: BerthProcess;
  const cli = (args: string[], input?: string) => runCli([...args, '--data', b.dataDir], {}, input);
  before(async () => { b = await startBerth({ auth: true }); });
  after(async () => { await b.stop(); });

  test('list has a header and tab-separated columns off a terminal, and --json', async () => {
    ok(await cli(['user', 'add', 'bob', '--password-stdin'], 'quiet-harbor-lantern-42\n'));
    const table = rows(ok(await cli(['user', 'list'])));
    assert.deepEqual(table[0], ['NAME', 'SOURCE', 'ADMIN', 'STATUS', 'TOTP']);
    assert.deepEqual(table.find((r) => r[0] === 'admin'), ['admin', 'local', 'yes', 'active', 'off']);
    assert.deepEqual(table.find((r) => r[0] === 'bob'), ['bob', 'local', 'no', 'active', 'off']);
    const json = JSON.parse(ok(await cli(['user', 'list', '--json']))) as { name: string; admin: boolean; disabled: boolean; source: string }[];
    assert.deepEqual(json.map((u) => [u.name, u.admin, u.disabled, u.source]), [['admin', true, false, 'local'], ['bob', false, false, 'local']]);
    fails(await cli(['user', 'list', '--bogus']), /unknown option '--bogus'/);
  });

  test('admin grants and revokes system administration, never from the last active administrator', async () => {
    fails(await cli(['user', 'admin', 'admin', '--revoke']), /admin is the last active system administrator/);
    ok(await cli(['user', 'admin', 'bob']));
    assert.deepEqual(rows(ok(await cli(['user', 'list']))).find((r) => r[0] === 'bob')?.[2], 'yes');
    ok(await cli(['user', 'admin', 'admin', '--revoke']));
    fails(await cli(['user', 'admin', 'bob', '--revoke']), /bob is the last active system administrator/);
    ok(await cli(['user', 'admin', 'admin']));
    ok(await cli(['user', 'admin', 'bob', '--revoke']));
    const table = rows(ok(await cli(['user', 'list'])));
    assert.equal(table.find((r) => r[0] === 'bob')?.[2], 'no');
    assert.equal(table.find((r) => r[0] === 'admin')?.[2], 'yes');
    fails(await cli(['user', 'admin', 'ghost']), /no user ghost/);
  });

  test('passwd sets a password from stdin (how the admin account is recovered); the old one stops working', async () => {
    assert.equal(await login(b, 'admin', ADMIN_PASSWORD), 200);
    const fresh = 'copper-meadow-sunrise-77';
    assert.match(ok(await cli(['user', 'passwd', 'admin', '--password-stdin'], `${fresh}\n`)), /password of admin changed/);
    assert.equal(await login(b, 'admin', fresh), 200);
    assert.equal(await login(b, 'admin', ADMIN_PASSWORD), 401);
    fails(await cli(['user', 'passwd', 'ghost', '--password-stdin'], `${fresh}\n`), /no local user ghost/);
    fails(await cli(['user', 'passwd', 'admin', '--password-stdin'], 'short\n'), /password/);
    fails(await cli(['user', 'passwd', 'admin']), /--password-stdin/);
    assert.equal(await login(b, 'admin', fresh), 200, 'a refused change leaves the password as it was');
  });

  test('delete removes the account', async () => {
    assert.equal(await login(b, 'bob', 'quiet-harbor-lantern-42'), 200);
    assert.match(ok(await cli(['user', 'delete', 'bob'])), /deleted user bob/);
    assert.equal(rows(ok(await cli(['user', 'list']))).find((r) => r[0] === 'bob'), undefined);
    assert.equal(await login(b, 'bob', 'quiet-harbor-lantern-42'), 401);
    fails(await cli(['user', 'delete', 'bob']), /no account bob/);
    fails(await cli(['user', 'delete']), /missing required argument 'name'/);
  });
});

describe('berth org, team, repo and gc', () => {
  let b: BerthProcess;
  const cli = (args: string[]) => runCli([...args, '--data', b.dataDir]);
  before(async () => { b = await startBerth(); });
  after(async () => { await b.stop(); });

  test('org list and org delete; an organization holding repositories is kept', async () => {
    ok(await cli(['org', 'create', 'acme']));
    ok(await cli(['org', 'create', 'open', '--public']));
    const table = rows(ok(await cli(['org', 'list'])));
    assert.deepEqual(table[0], ['NAME', 'VISIBILITY', 'CREATED']);
    assert.deepEqual(table.slice(1).map((r) => r.slice(0, 2)), [['acme', 'private'], ['open', 'public']]);
    await pushRandomImage(b.url, 'open/app', 'v1');
    fails(await cli(['org', 'delete', 'open']), /still holds repositories/);
    assert.match(ok(await cli(['org', 'delete', 'acme'])), /deleted organization acme/);
    assert.deepEqual(rows(ok(await cli(['org', 'list']))).slice(1).map((r) => r[0]), ['open']);
    fails(await cli(['org', 'delete', 'acme']), /no organization acme/);
  });

  test('team list and team delete', async () => {
    ok(await cli(['org', 'create', 'teamco']));
    ok(await cli(['team', 'create', 'teamco', 'build']));
    ok(await cli(['team', 'create', 'teamco', 'ops']));
    const table = rows(ok(await cli(['team', 'list', 'teamco'])));
    assert.deepEqual(table, [['NAME', 'MEMBERS', 'DIRECTORY-GROUP'], ['build', '0', '-'], ['ops', '0', '-']]);
    assert.match(ok(await cli(['team', 'delete', 'teamco', 'build'])), /deleted team teamco\/build/);
    assert.deepEqual(rows(ok(await cli(['team', 'list', 'teamco']))).slice(1).map((r) => r[0]), ['ops']);
    fails(await cli(['team', 'delete', 'teamco', 'build']), /no team build/);
    fails(await cli(['team', 'list', 'ghost']), /no organization ghost/);
  });

  test('repo list shows repositories with their tag counts, also as JSON', async () => {
    await pushRandomImage(b.url, 'list/app', 'v1');
    await pushRandomImage(b.url, 'list/app', 'v2');
    await pushRandomImage(b.url, 'list/other', 'latest');
    await pushBlob(b.url, 'list/blobs-only', randomBytes(100)); // no manifest: not listed
    const table = rows(ok(await cli(['repo', 'list'])));
    assert.deepEqual(table[0], ['NAME', 'TAGS', 'MANIFESTS']);
    assert.deepEqual(table.filter((r) => r[0].startsWith('list/')), [['list/app', '2', '2'], ['list/other', '1', '1']]);
    const json = JSON.parse(ok(await cli(['repo', 'list', '--json']))) as { name: string; tags: number; manifests: number }[];
    assert.deepEqual(json.filter((r) => r.name.startsWith('list/')).map((r) => [r.name, r.tags, r.manifests]), [['list/app', 2, 2], ['list/other', 1, 1]]);
    fails(await cli(['repo', 'list', '--bogus']), /unknown option '--bogus'/);
  });

  test('gc --dry-run: JSON alone with --json, a summary line otherwise, progress that says "would", nothing removed', async () => {
    const orphan = await pushBlob(b.url, 'gcli/app', randomBytes(4096));
    const status = async () => (await fetch(`${b.url}/v2/gcli/app/blobs/${orphan.digest}`, { method: 'HEAD' })).status;

    const json = await cli(['gc', '--dry-run', '--json', '--grace', '0']);
    const report = JSON.parse(ok(json)) as { dryRun: boolean; blobsRemoved: number; bytesRemoved: number };
    assert.equal(report.dryRun, true);
    assert.ok(report.blobsRemoved >= 1 && report.bytesRemoved >= 4096, JSON.stringify(report));
    assert.match(json.stderr, /^gc: would remove unreferenced blobs: \d+ blobs/m);
    assert.doesNotMatch(json.stderr, /removed/, 'a dry run never says it removed something');

    const human = await cli(['gc', '--dry-run', '--grace', '0']);
    const lines = ok(human).trim().split('\n');
    assert.equal(lines.length, 1, `one summary line:\n${human.stdout}`);
    assert.match(lines[0], /^dry run: would remove [1-9]\d* blobs \([\d.]+ MiB\), \d+ repository links, \d+ expired uploads/);
    assert.doesNotMatch(human.stderr + human.stdout, /removed/);
    assert.equal(await status(), 200, 'the dry runs removed nothing');

    const real = await cli(['gc', '--grace', '0']);
    assert.match(ok(real), /^removed [1-9]\d* blobs/);
    assert.match(real.stderr, /^gc: removed unreferenced blobs: [1-9]\d* blobs/m);
    assert.equal(await status(), 404);
    fails(await cli(['gc', '--grace', 'soon']), /--grace must be a non-negative number/);
  });
});

describe('berth tls self-signed', () => {
  let work: string;
  before(async () => { work = await tempDir('berth-cli-tls-'); });
  after(async () => { await removeDir(work); });

  test('--ca-cert/--ca-key renews the server certificate under the existing CA', async () => {
    const first = path.join(work, 'first');
    ok(await runCli(['tls', 'self-signed', '--out', first]));
    const caPem = await readFile(path.join(first, 'ca.crt'), 'utf8');
    const ca = new X509Certificate(caPem);

    const renewed = path.join(work, 'renewed');
    const out = ok(await runCli(['tls', 'self-signed', '--out', renewed, '--hosts', 'registry.example,10.0.0.5', '--days', '30',
      '--ca-cert', path.join(first, 'ca.crt'), '--ca-key', path.join(first, 'ca.key')]));
    assert.match(out, new RegExp(`clients trust ${path.join(first, 'ca.crt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const cert = new X509Certificate(await readFile(path.join(renewed, 'server.crt')));
    assert.ok(cert.verify(ca.publicKey), 'signed by the existing CA');
    assert.ok(cert.checkIssued(ca));
    assert.match(cert.subjectAltName ?? '', /DNS:registry\.example/);
    assert.match(cert.subjectAltName ?? '', /IP Address:10\.0\.0\.5/);
    assert.equal((await stat(path.join(renewed, 'server.key'))).mode & 0o777, 0o600);
    await assert.rejects(stat(path.join(renewed, 'ca.key')), 'the CA key is not copied');
    assert.equal(await readFile(path.join(first, 'ca.crt'), 'utf8'), caPem, 'the CA is unchanged');

    // Without --ca-cert a new CA signs it, which the old CA does not verify: the check above can fail.
    const other = path.join(work, 'other');
    ok(await runCli(['tls', 'self-signed', '--out', other]));
    const fresh = new X509Certificate(await readFile(path.join(other, 'server.crt')));
    assert.equal(fresh.verify(ca.publicKey), false);
  });

  test('refuses a certificate that is no CA, a key of another certificate, and half of the pair', async () => {
    const first = path.join(work, 'first');
    const bad = path.join(work, 'bad');
    fails(await runCli(['tls', 'self-signed', '--out', bad, '--ca-cert', path.join(first, 'server.crt'), '--ca-key', path.join(first, 'server.key')]), /is not a CA certificate/);
    fails(await runCli(['tls', 'self-signed', '--out', bad, '--ca-cert', path.join(first, 'ca.crt'), '--ca-key', path.join(first, 'server.key')]), /the CA key does not belong to the CA certificate/);
    fails(await runCli(['tls', 'self-signed', '--out', bad, '--ca-cert', path.join(first, 'ca.crt')]), /--ca-cert and --ca-key go together/);
    fails(await runCli(['tls', 'self-signed', '--out', bad, '--ca-cert', path.join(work, 'missing.crt'), '--ca-key', path.join(first, 'ca.key')]), /cannot read .*missing\.crt: ENOENT/);
    await assert.rejects(stat(bad), 'nothing written when the CA is refused');
  });
});

describe('berth start-up', () => {
  test('an unknown command is one berth: line and exit code 1', async () => {
    fails(await runCli(['frobnicate']), /unknown command 'frobnicate'/);
  });
});
