// Berth on PostgreSQL (database.dialect: postgres) against the server at 127.0.0.1:5432: a registry whose
// metadata lives there and nowhere else, several processes on one database acting as one registry, CLI
// commands beside them, and a database that goes away and comes back.
// berth-test: dialects-inside (every server here is on PostgreSQL, whatever the run's dialect)
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ADMIN_PASSWORD, freePort, removeDir, runCli, startBerth, tempDir } from '../helpers/berth.js';
import { MT, pushRandomImage, tryPushImage } from '../helpers/oci.js';
import { PG, createTestDatabase } from '../helpers/postgres.js';

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

async function tokenFor(url: string, scope: string, user = 'admin', pw = ADMIN_PASSWORD): Promise<string> {
  const r = await fetch(`${url}/token?service=berth&scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic(user, pw) } });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { token: string }).token;
}

describe('PostgreSQL', () => {
  test('a server keeps its metadata there and only there, across a restart; CLI commands work against it', async () => {
    const dir = await tempDir('berth-pg-');
    let b = await startBerth({ dataDir: dir, database: 'postgres' });
    try {
      const img = await pushRandomImage(b.url, 'pg/app', 'v1');
      assert.ok(b.logs.some((l) => l.includes('"database":"postgres"')), 'the server says which database it uses');
      await b.stop();
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('berth.db')), [], 'no SQLite file in the data dir');
      const add = await runCli(['user', 'add', 'pgdev', '--data', dir, '--config', b.configFile, '--password-stdin'], {}, 'pg-dev-password-123\n');
      assert.equal(add.code, 0, add.stderr);
      b = await startBerth({ dataDir: dir, database: 'postgres' });
      const m = await fetch(`${b.url}/v2/pg/app/manifests/v1`, { headers: { accept: MT.ociManifest } });
      assert.equal(m.status, 200);
      assert.equal(m.headers.get('docker-content-digest'), img.digest);
      const list = await runCli(['user', 'list', '--data', dir, '--config', b.configFile]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /pgdev/);
      const gc = await runCli(['gc', '--grace', '0', '--json', '--data', dir, '--config', b.configFile]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.equal(typeof (JSON.parse(gc.stdout) as { blobsRemoved: number }).blobsRemoved, 'number');
      assert.equal((await fetch(`${b.url}/v2/pg/app/manifests/v1`, { headers: { accept: MT.ociManifest } })).status, 200, 'gc beside the server kept what is referenced');
      assert.ok(!existsSync(path.join(dir, 'berth.db')));
    } finally {
      await b.stop();
      await removeDir(dir);
    }
  });

  test('two processes on one database are one registry: pushes, tags, tokens and revocations of one hold on the other', async () => {
    const shared = await tempDir('berth-pg-shared-');
    const db = await createTestDatabase('berth_pg_two');
    const config = {
      database: { dialect: 'postgres', postgres: { url: db.url } },
      auth: { masterKeyFile: path.join(shared, 'master.key') },
      audit: { signingKeyFile: path.join(shared, 'audit-signing.key') },
    };
    const a = await startBerth({ auth: true, config });
    const b = await startBerth({ auth: true, config });
    try {
      const org = await fetch(`${a.url}/api/v1/organizations`, { method: 'POST', headers: { authorization: basic('admin', ADMIN_PASSWORD), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'team' }) });
      assert.equal(org.status, 201, await org.text());
      // As shipped, anonymous pushes are refused; A's token pushes, and B takes it.
      assert.equal(await pushRandomImage(b.url, 'team/app', 'v0').then(() => 'pushed', () => 'refused'), 'refused');
      const fromA = await tokenFor(a.url, 'repository:team/app:pull,push');
      const headers = { authorization: `Bearer ${fromA}` };
      const pushed = await pushWithToken(a.url, 'team/app', 'v1', headers);
      const onB = await fetch(`${b.url}/v2/team/app/manifests/v1`, { headers: { ...headers, accept: MT.ociManifest } });
      assert.equal(onB.status, 200, 'B accepts the token A issued and serves what A took');
      assert.equal(onB.headers.get('docker-content-digest'), pushed);
      const tags = await (await fetch(`${b.url}/v2/team/app/tags/list`, { headers })).json() as { tags: string[] };
      assert.deepEqual(tags.tags, ['v1']);
      // A tag moved through B is what A serves next.
      const moved = await pushWithToken(b.url, 'team/app', 'v1', headers);
      const again = await fetch(`${a.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { ...headers, accept: MT.ociManifest } });
      assert.equal(again.headers.get('docker-content-digest'), moved);
      assert.notEqual(moved, pushed);
      // An access token made beside A works on B, and once revoked there, no longer does, at once.
      const created = await runCli(['token', 'create', 'admin', '--name', 'shared', '--scope', 'team/*:pull', '--data', a.dataDir, '--config', a.configFile]);
      assert.equal(created.code, 0, created.stderr);
      const secret = created.stdout.trim().split('\n').pop()!;
      const id = /created token ([0-9a-f]{12})/.exec(created.stdout)![1];
      const viaB = () => fetch(`${b.url}/v2/team/app/tags/list`, { headers: { authorization: basic('admin', secret) } });
      assert.equal((await viaB()).status, 200);
      assert.equal((await runCli(['token', 'revoke', id, '--data', a.dataDir, '--config', a.configFile])).code, 0);
      assert.equal((await viaB()).status, 401, 'revoked through the shared database: refused by B on the next request');
      // A role taken away through A ends what a bearer token B honours, on its next request.
      const adminHeaders = { authorization: basic('admin', ADMIN_PASSWORD), 'content-type': 'application/json' };
      const user = await fetch(`${a.url}/api/v1/users`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ name: 'carol', password: 'sunny-meadow-4711-zz' }) });
      assert.equal(user.status, 201, await user.text());
      const role = (r: string) => fetch(`${a.url}/api/v1/organizations/team/members/carol`, { method: 'PUT', headers: adminHeaders, body: JSON.stringify({ role: r }) });
      assert.equal((await role('developer')).status, 204);
      const carol = { authorization: `Bearer ${await tokenFor(b.url, 'repository:team/app:pull,push', 'carol', 'sunny-meadow-4711-zz')}` };
      const pull = () => fetch(`${b.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { ...carol, accept: MT.ociManifest } });
      assert.equal((await pull()).status, 200);
      assert.equal((await fetch(`${a.url}/api/v1/organizations/team/members/carol`, { method: 'DELETE', headers: { authorization: adminHeaders.authorization } })).status, 204);
      assert.equal((await pull()).status, 401, 'the role removed through A: B refuses the token issued before');
      // One audit chain for both, intact.
      const verify = await runCli(['audit', 'verify', '--data', a.dataDir, '--config', a.configFile]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    } finally {
      await a.stop();
      await b.stop();
      await removeDir(a.dataDir);
      await removeDir(b.dataDir);
      await removeDir(shared);
      await db.drop();
    }
  });

  test('the database goes away: writes and readiness answer 503 DATABASE_UNAVAILABLE, health answers, and all is well once it is back', async () => {
    const proxy = await TcpProxy.start(PG.port);
    const db = await createTestDatabase('berth_pg_gone');
    const url = db.url.replace(`:${PG.port}/`, `:${proxy.port}/`);
    const b = await startBerth({ config: { database: { dialect: 'postgres', postgres: { url, connectTimeout: 2 } } } });
    try {
      await pushRandomImage(b.url, 'pg/gone', 'v1');
      await proxy.cut();
      const [health, push, ready] = await Promise.all([
        fetch(`${b.url}/healthz`),
        pushRandomImage(b.url, 'pg/gone', 'v2').then(() => 'pushed', (e: Error) => e.message),
        fetch(`${b.url}/readyz`),
      ]);
      assert.equal(health.status, 200);
      assert.match(push, /503/);
      assert.match(push, /DATABASE_UNAVAILABLE|metadata database/);
      assert.equal(ready.status, 503);
      const tags = await fetch(`${b.url}/v2/pg/gone/tags/list`);
      assert.equal(tags.status, 503);
      const body = await tags.json() as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0].code, 'UNAVAILABLE');
      assert.match(body.errors[0].message, /metadata database is unreachable/);
      await proxy.resume();
      await pushRandomImage(b.url, 'pg/gone', 'v3');
      let readyAgain = 0;
      for (let i = 0; i < 100 && readyAgain !== 200; i++) {
        readyAgain = (await fetch(`${b.url}/readyz`)).status;
        if (readyAgain !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(readyAgain, 200);
      const list = await (await fetch(`${b.url}/v2/pg/gone/tags/list`)).json() as { tags: string[] };
      assert.deepEqual(list.tags, ['v1', 'v3']);
    } catch (e) {
      throw new Error(`${(e as Error).message}; exit ${b.proc.exitCode} ${b.proc.signalCode}; last log lines:\n${b.logs.slice(-8).join('\n')}`, { cause: e });
    } finally {
      await b.stop();
      await proxy.close();
      await removeDir(b.dataDir);
      await db.drop();
    }
  });
});

/** Pushes a tiny image with the given headers; returns the manifest digest. */
async function pushWithToken(url: string, name: string, tag: string, headers: Record<string, string>): Promise<string> {
  const r = await tryPushImage(url, name, tag, headers);
  assert.equal(r.status, 201);
  return r.digest;
}

/** A TCP proxy to a local port that can be cut (every connection reset, new ones refused) and resumed. */
class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number, private readonly target: number) {}

  static async start(target: number): Promise<TcpProxy> {
    const p = new TcpProxy(await freePort(), target);
    await p.resume();
    return p;
  }

  async resume(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.port, '127.0.0.1', () => resolve()); });
    this.server = server;
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.sockets) c.resetAndDestroy();
    if (s) await new Promise((r) => s.close(r));
  }

  close(): Promise<void> { return this.cut(); }
}
