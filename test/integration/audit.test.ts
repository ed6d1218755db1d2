// The audit log: what is recorded (and how), the query and export API, and tamper evidence — rows edited,
// deleted, reordered and truncated directly in the database are found, at the right record.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openTestDb } from '../helpers/db.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, runCli, startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, sha256, tryPushImage } from '../helpers/oci.js';
import { waitFor } from '../helpers/receiver.js';
import { recordHash } from '../../src/audit/journal.js';

const ALICE = 'wonderland-rabbit-41';

function pushImage(b: BerthProcess, name: string, tag: string, auth: string) {
  return tryPushImage(b.url, name, tag, { authorization: auth, 'user-agent': 'audit-test/1.0' });
}

describe('audit log', () => {
  let b: BerthProcess;
  let admin: ApiClient;
  let pushed: { digest: string; requestId: string | null };
  const cli = (args: string[]) => runCli([...args, '--data', b.dataDir]);

  before(async () => {
    b = await startBerth({ auth: true });
    admin = new ApiClient(b.url);
    assert.equal((await admin.login('admin', ADMIN_PASSWORD)).status, 200);
    assert.equal((await admin.post('/users', { name: 'alice', password: ALICE })).status, 201);
    assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);
    assert.equal((await admin.put('/organizations/acme/members/alice', { role: 'maintainer' })).status, 204);
    assert.equal((await admin.post('/users', { name: 'bob', password: 'builder-can-fix-it-7' })).status, 201);
    // The actions to find again below.
    const p = await pushImage(b, 'acme/app', 'v1', basicAuth('alice', ALICE));
    assert.equal(p.status, 201);
    pushed = p;
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { headers: { authorization: basicAuth('alice', ALICE), accept: MT.ociManifest } })).status, 200);
    assert.equal((await pushImage(b, 'acme/app', 'v2', basicAuth('bob', 'builder-can-fix-it-7'))).status, 403);
    assert.equal((await fetch(`${b.url}/token?service=berth`, { headers: { authorization: basicAuth('alice', 'not-the-password') } })).status, 401);
    assert.equal((await fetch(`${b.url}/v2/acme/app/manifests/v1`, { method: 'DELETE', headers: { authorization: basicAuth('alice', ALICE) } })).status, 202);
  });
  after(async () => { await b.stop(); });

  test('logins, pushes, pulls, denials, deletes and admin changes are recorded with actor, source, address, agent and request id', async () => {
    const all = (await admin.get('/audit?n=200')).body.items as any[];
    const find = (action: string, pred: (r: any) => boolean = () => true) => all.find((r) => r.action === action && pred(r));
    const push = find('manifest.push', (r) => r.resource === `repository:acme/app@${pushed.digest}`);
    assert.ok(push, 'manifest.push recorded');
    assert.equal(push.actor, 'alice');
    assert.equal(push.actorSource, 'local');
    assert.equal(push.address, '127.0.0.1');
    assert.equal(push.userAgent, 'audit-test/1.0');
    assert.equal(push.requestId, pushed.requestId);
    assert.equal(push.outcome, 'success');
    assert.ok(find('tag.update', (r) => r.resource === 'repository:acme/app:v1'));
    assert.ok(find('manifest.pull', (r) => r.resource === 'repository:acme/app:v1' && r.actor === 'alice'));
    assert.ok(find('access.denied', (r) => r.actor === 'bob' && r.resource === 'repository:acme/app' && r.outcome === 'denied'));
    const failure = find('auth.login', (r) => r.outcome === 'failure' && r.actor === 'alice');
    assert.ok(failure);
    assert.equal(failure.detail.reason, 'invalid credentials');
    assert.ok(find('auth.login', (r) => r.outcome === 'success' && r.actor === 'alice'));
    assert.ok(find('tag.delete', (r) => r.resource === 'repository:acme/app:v1' && r.detail.digest === pushed.digest));
    assert.ok(find('user.create', (r) => r.resource === 'user:alice' && r.actor === 'admin' && r.actorSource === 'local'));
    assert.ok(find('org.role', (r) => r.resource === 'organization:acme' && r.detail.subject === 'user:alice' && r.detail.role === 'maintainer'));
    // The CLI is on record as the operating-system user, with source cli.
    assert.equal((await cli(['org', 'create', 'beta'])).code, 0);
    const viaCli = (await admin.get('/audit?action=org.create&n=5')).body.items.find((r: any) => r.resource === 'organization:beta');
    assert.equal(viaCli.actorSource, 'cli');
    // Sequence numbers are contiguous and each record names the hash of the one before.
    const asc = [...(await admin.get('/audit?n=1000')).body.items].reverse();
    for (let i = 1; i < asc.length; i++) {
      assert.equal(asc[i].seq, asc[i - 1].seq + 1);
      assert.equal(asc[i].prevHash, asc[i - 1].hash);
    }
  });

  test('blob downloads are summarized per caller and repository, not one record per layer', async () => {
    const digest = sha256(Buffer.from('x'));
    const layer = Buffer.from('x');
    await pushBlob(b.url, 'acme/app', layer, { authorization: basicAuth('alice', ALICE) });
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${b.url}/v2/acme/app/blobs/${digest}`, { headers: { authorization: basicAuth('alice', ALICE) } })).status, 200);
    const deadline = Date.now() + 15_000;
    let summary: any;
    while (!summary && Date.now() < deadline) {
      summary = (await admin.get('/audit?action=blob.pull&n=10')).body.items.find((r: any) => r.actor === 'alice');
      if (!summary) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(summary, 'a blob.pull summary arrives within its window');
    assert.equal(summary.detail.blobs, 5);
    assert.equal(summary.detail.bytes, 5);
  });

  test('filters and cursor pagination', async () => {
    const alice = (await admin.get('/audit?actor=alice&n=100')).body.items as any[];
    assert.ok(alice.length >= 4 && alice.every((r) => r.actor === 'alice'));
    const users = (await admin.get('/audit?action=user.&n=100')).body.items as any[];
    assert.ok(users.length >= 2 && users.every((r) => r.action.startsWith('user.')));
    const repo = (await admin.get('/audit?repository=acme/app&n=100')).body.items as any[];
    assert.ok(repo.length >= 4 && repo.every((r) => r.resource === 'repository:acme/app' || r.resource.startsWith('repository:acme/app:') || r.resource.startsWith('repository:acme/app@')));
    assert.ok((await admin.get('/audit?outcome=denied')).body.items.every((r: any) => r.outcome === 'denied'));
    const future = (await admin.get(`/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.items;
    assert.deepEqual(future, []);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await admin.get(`/audit?n=3${cursor ? `&before=${cursor}` : ''}`);
      seen.push(...page.body.items.map((r: any) => r.seq));
      cursor = page.body.next;
    } while (cursor);
    const total = (await admin.get('/audit?n=1000')).body.items.length;
    assert.equal(seen.length, total);
    assert.deepEqual(seen, [...seen].sort((x, y) => y - x), 'newest first, no repeats');
    assert.equal((await admin.get('/audit?since=yesterday')).status, 400);
    const alicesView = new ApiClient(b.url, basicAuth('alice', ALICE));
    assert.equal((await alicesView.get('/audit')).status, 403, 'the audit log is for administrators');
  });

  test('export streams every record as JSON Lines and as CSV', async () => {
    const total = (await admin.get('/audit?n=1000')).body.items.length;
    const jsonl = await fetch(`${b.url}/api/v1/audit/export?format=jsonl`, { headers: { authorization: basicAuth('admin', ADMIN_PASSWORD) } });
    assert.equal(jsonl.status, 200);
    assert.match(jsonl.headers.get('content-type')!, /ndjson/);
    const lines = (await jsonl.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= total);
    assert.ok(lines.every((l, i) => i === 0 || l.seq > lines[i - 1].seq), 'oldest first');
    const csv = await (await fetch(`${b.url}/api/v1/audit/export?format=csv&actor=alice`, { headers: { authorization: basicAuth('admin', ADMIN_PASSWORD) } })).text();
    const rows = csv.trim().split('\r\n');
    assert.equal(rows[0], 'seq,time,actor,actor_source,address,user_agent,action,resource,outcome,request_id,detail,prev_hash,hash');
    assert.ok(rows.length > 3 && rows.slice(1).every((r) => r.split(',')[2] === 'alice'));
    const out = path.join(b.dataDir, 'export.csv');
    const r = await cli(['audit', 'export', '--format', 'csv', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /exported \d+ records/);
    assert.ok((await readFile(out, 'utf8')).startsWith('seq,time,'));
  });

  test('verification: intact, then each kind of tampering is found at the right record', async () => {
    assert.equal((await admin.get('/audit/verify')).body.ok, true);
    const cp = await cli(['audit', 'checkpoint']);
    assert.equal(cp.code, 0, cp.stderr);
    assert.match(cp.stdout, /signed checkpoint at record (\d+)/);
    const checkpointAt = Number(/record (\d+)/.exec(cp.stdout)![1]);
    const ok = await cli(['audit', 'verify']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /audit log intact: \d+ records up to \d+, 1 signed checkpoints/);
    await b.stop();
    const db = openTestDb(b.dataDir);
    const verify = async () => {
      const r = await cli(['audit', 'verify']);
      return { code: r.code, out: r.stdout };
    };
    type Row = { seq: number; hash: string; [k: string]: unknown };
    const row = async (seq: number) => (await db.get<Row>('select * from audit_log where seq = ?', seq))!;
    const insert = { run: (r: Row) => db.run('insert into audit_log (seq, at, actor, actor_source, address, user_agent, action, resource, outcome, request_id, detail, prev_hash, hash) values (@seq, @at, @actor, @actor_source, @address, @user_agent, @action, @resource, @outcome, @request_id, @detail, @prev_hash, @hash)', r) };
    const overwrite = { run: (r: Row) => db.run('update audit_log set at = @at, actor = @actor, actor_source = @actor_source, address = @address, user_agent = @user_agent, action = @action, resource = @resource, outcome = @outcome, request_id = @request_id, detail = @detail, prev_hash = @prev_hash, hash = @hash where seq = @seq', r) };
    try {
      // Edited: an actor rewritten.
      const five = await row(5);
      await db.run("update audit_log set actor = 'mallory' where seq = 5");
      let v = await verify();
      assert.equal(v.code, 1);
      assert.match(v.out, /record 5 was altered.*first bad record: 5/);
      await overwrite.run(five);
      assert.equal((await verify()).code, 0);

      // Deleted: a record removed from the middle.
      const seven = await row(7);
      await db.run('delete from audit_log where seq = 7');
      v = await verify();
      assert.equal(v.code, 1);
      assert.match(v.out, /record 7 is missing.*first bad record: 7/);
      await insert.run(seven);
      assert.equal((await verify()).code, 0);

      // Reordered: the contents of 8 and 9 swapped, sequence numbers kept.
      const eight = await row(8);
      const nine = await row(9);
      await overwrite.run({ ...nine, seq: 8 });
      await overwrite.run({ ...eight, seq: 9 });
      v = await verify();
      assert.equal(v.code, 1);
      assert.match(v.out, /record 8 does not link.*first bad record: 8/);
      await overwrite.run(eight);
      await overwrite.run(nine);
      assert.equal((await verify()).code, 0);

      // Truncated: the newest records, covered by the signed checkpoint, removed.
      const tail = await db.all<Row>('select * from audit_log where seq > ? order by seq', checkpointAt - 3);
      await db.run('delete from audit_log where seq > ?', checkpointAt - 3);
      v = await verify();
      assert.equal(v.code, 1);
      assert.match(v.out, new RegExp(`records after ${checkpointAt - 3} are missing: a signed checkpoint covers up to ${checkpointAt}.*first bad record: ${checkpointAt - 2}`));
      for (const r of tail) await insert.run(r);
      assert.equal((await verify()).code, 0);

      // Rewritten: record 5 edited and every hash after it recomputed. Only the signed checkpoint can tell.
      const originals = await db.all<Row>('select * from audit_log where seq >= 5 order by seq');
      let prev = (await row(4)).hash;
      for (const r of originals) {
        const changed: Row = r.seq === 5 ? { ...r, actor: 'mallory' } : { ...r };
        const rec = { seq: r.seq, at: Number(changed.at), actor: String(changed.actor), actorSource: String(changed.actor_source), address: String(changed.address), userAgent: String(changed.user_agent), action: String(changed.action), resource: String(changed.resource), outcome: changed.outcome as 'success', requestId: String(changed.request_id), detail: changed.detail === null ? null : JSON.parse(String(changed.detail)), prevHash: prev };
        const hash = recordHash(rec);
        await overwrite.run({ ...changed, prev_hash: prev, hash });
        prev = hash;
      }
      v = await verify();
      assert.equal(v.code, 1);
      assert.match(v.out, new RegExp(`record ${checkpointAt} does not match the signed checkpoint`));
      for (const r of originals) await overwrite.run(r);
      assert.equal((await verify()).code, 0);
    } finally {
      await db.close();
    }
  });

  test('a forged checkpoint (signed with another key) is refused', async () => {
    const db = openTestDb(b.dataDir);
    try {
      await db.run("update audit_checkpoints set signature = ? where seq = (select max(seq) from audit_checkpoints)", randomBytes(64).toString('base64'));
    } finally { await db.close(); }
    const v = await cli(['audit', 'verify']);
    assert.equal(v.code, 1);
    assert.match(v.stdout, /bad signature/);
  });
});

describe('audit retention', () => {
  test('archive then purge: verification holds across the purge, the archive verifies on its own, a changed archive does not', async () => {
    const b = await startBerth({ auth: true });
    try {
      const admin = new ApiClient(b.url);
      await admin.login('admin', ADMIN_PASSWORD);
      for (let i = 0; i < 5; i++) assert.equal((await admin.post('/organizations', { name: `org${i}` })).status, 201);
      await b.stop();
      const cli = (args: string[]) => runCli([...args, '--data', b.dataDir]);
      const a = await cli(['audit', 'archive', '--older-than', '0']);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stdout, /archived (\d+) records up to (\d+)/);
      const v = await cli(['audit', 'verify']);
      assert.equal(v.code, 0, v.stdout);
      assert.match(v.stdout, /records up to \d+ archived/);
      const dir = path.join(b.dataDir, 'audit-archive');
      const [file] = await readdir(dir);
      const archive = path.join(dir, file);
      const va = await cli(['audit', 'verify', '--archive', archive]);
      assert.equal(va.code, 0, va.stdout + va.stderr);
      const text = await readFile(archive, 'utf8');
      await writeFile(archive, text.replace('"action":"org.create"', '"action":"org.delete"'));
      const bad = await cli(['audit', 'verify', '--archive', archive]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /altered/);
      // Records made after the purge chain onto the archived ones.
      const b2 = await startBerth({ auth: true, dataDir: b.dataDir });
      try {
        const admin2 = new ApiClient(b2.url);
        await admin2.login('admin', ADMIN_PASSWORD);
        assert.equal((await admin2.post('/organizations', { name: 'later' })).status, 201);
        assert.equal((await admin2.get('/audit/verify')).body.ok, true);
      } finally {
        await b2.stop();
      }
    } finally {
      await b.stop();
    }
  });
});

describe('client addresses behind a proxy', () => {
  test('X-Forwarded-For counts only from the proxies in http.trustProxy', async () => {
    for (const [trust, want] of [[false, '127.0.0.1'], ['127.0.0.1', '203.0.113.9']] as const) {
      const b = await startBerth({ auth: true, config: { http: { trustProxy: trust } } });
      try {
        const r = await fetch(`${b.url}/api/v1/organizations`, { method: 'POST', headers: { authorization: basicAuth('admin', ADMIN_PASSWORD), 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' }, body: '{"name":"viaproxy"}' });
        assert.equal(r.status, 201);
        const rec = (await new ApiClient(b.url, basicAuth('admin', ADMIN_PASSWORD)).get('/audit?action=org.create')).body.items[0];
        assert.equal(rec.address, want, `trustProxy ${trust}`);
      } finally {
        await b.stop();
      }
    }
  });
});

describe('lockouts on record', () => {
  test('a login refused because the account is locked is recorded as denied', async () => {
    const b = await startBerth({ auth: true, config: { auth: { throttle: { accountFailures: 2, lockout: 60 } } } });
    try {
      const q = `${b.url}/token?service=berth`;
      for (let i = 0; i < 2; i++) assert.equal((await fetch(q, { headers: { authorization: basicAuth('admin', 'wrong-password-guess') } })).status, 401);
      assert.equal((await fetch(q, { headers: { authorization: basicAuth('admin', ADMIN_PASSWORD) } })).status, 429);
      const db = openTestDb(b.dataDir, { readonly: true });
      try {
        // The refusal changes nothing: its record reaches the chain through the spool, just after the answer.
        const rows = await waitFor('the refusal on record', async () => {
          const r = await db.all<{ outcome: string; detail: string }>("select outcome, detail from audit_log where action = 'auth.login' and actor = 'admin' order by seq");
          return r.length >= 3 ? r : undefined;
        });
        assert.deepEqual(rows.map((r) => r.outcome), ['failure', 'failure', 'denied']);
        assert.equal(JSON.parse(rows[2].detail).reason, 'locked out');
      } finally {
        await db.close();
      }
    } finally {
      await b.stop();
    }
  });
});
