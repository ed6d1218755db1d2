// The event bus: consumers of the outbox with durable cursors and leases, on a real database of the run's
// dialect (two MetadataStores on one database are two processes' views of it; one test runs a consumer in
// a real second process and kills it). Also: events exist only once their change committed, and membership and role
// changes are events that reach only the webhook endpoints subscribing to them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { MetadataStore } from '../../src/db/database.js';
import { LeaseStore } from '../../src/db/leases.js';
import { BlobDeleted, LoginFailed, ManifestPushed, TagDeleted } from '../../src/events/catalogue.js';
import { ConsumerRunner } from '../../src/events/consumer-runner.js';
import type { ConsumedEvent, EventConsumer, EventSelector } from '../../src/events/consumer.js';
import { EVENT_FAMILIES } from '../../src/events/event.js';
import { Outbox, pruneOutbox, type Appended } from '../../src/events/outbox.js';
import { webhookFanout } from '../../src/events/webhook-fanout.js';
import type { RequestContext } from '../../src/lib/request-context.js';
import { createBerth } from '../../src/main.js';
import { ApiClient, basicAuth } from '../helpers/api.js';
import { ADMIN_PASSWORD, ROOT, removeDir, startBerth, tempDir, testDatabase, testDatabaseEnv } from '../helpers/berth.js';
import { newTestDatabase, openStoreAt } from '../helpers/db.js';
import { MT, pushBlob, pushManifest, sha256 } from '../helpers/oci.js';
import { Receiver, eventsOf, waitFor } from '../helpers/receiver.js';

const CTX: RequestContext = { actor: 'tester', actorSource: 'cli', address: 'local', userAgent: 'event-consumers-test', requestId: 'req-1' };
const dirs: string[] = [];
const databases: { drop(): Promise<void> }[] = [];
const stores: MetadataStore[] = [];
const children: ChildProcess[] = [];
const runners: ConsumerRunner[] = [];

/** A runner that is stopped after the tests whatever happens (a failed test must not leave its loop running). */
function runnerOf(...args: ConstructorParameters<typeof ConsumerRunner>): ConsumerRunner {
  const r = new ConsumerRunner(...args);
  runners.push(r);
  return r;
}

after(async () => {
  for (const r of runners) await r.stop().catch(() => undefined);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of stores) await s.close().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
  for (const d of databases) await d.drop();
});

async function dbFile(): Promise<string> {
  const db = await newTestDatabase('berth-events-');
  databases.push(db);
  return db.location;
}

async function open(location: string): Promise<MetadataStore> {
  const s = await openStoreAt(location);
  stores.push(s);
  return s;
}

const digest = () => `sha256:${randomBytes(32).toString('hex')}`;

/** Appends `n` events of mixed types, `per` to a transaction; returns them in outbox order. */
async function appendSome(meta: MetadataStore, outbox: Outbox, n: number, per = 5): Promise<(Appended & { type: string })[]> {
  const out: (Appended & { type: string })[] = [];
  for (let i = 0; i < n; i += per) {
    const events = Array.from({ length: Math.min(per, n - i) }, (_, j) => {
      const k = i + j;
      return k % 3 === 0 ? ManifestPushed({ repository: 'acme/app', digest: digest(), tag: `t${k}` })
        : k % 3 === 1 ? TagDeleted({ repository: 'acme/app', tag: `t${k}` })
          : LoginFailed({ user: `u${k}`, source: 'local', reason: 'bad password' });
    });
    const appended = await meta.transaction((tx) => outbox.appendAll(tx, CTX, events));
    out.push(...appended.map((a, j) => ({ ...a, type: events[j]!.type })));
  }
  return out;
}

/**
 * A transactional consumer that remembers what it was handed and also writes a row per event in the
 * handler's transaction (a `seen:SEQ` row in cursors: its primary key refuses a second commit of one event).
 */
function recorder(name: string, wants: EventSelector = {}, batchSize = 7): { consumer: EventConsumer; seen: ConsumedEvent[] } {
  const seen: ConsumedEvent[] = [];
  return {
    seen,
    consumer: {
      name, mode: 'transaction', wants, batchSize,
      async handle(tx, events) {
        await tx.insertInto('cursors').values(events.map((e) => ({ name: `seen:${name}:${e.seq}`, value: e.seq }))).execute();
        seen.push(...events);
      },
    },
  };
}

const cursorOf = async (meta: MetadataStore, consumer: string) =>
  Number((await meta.db.selectFrom('cursors').select('value').where('name', '=', `consumer:${consumer}`).executeTakeFirst())?.value ?? -1);
const headOf = async (meta: MetadataStore) => Number((await meta.db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst())?.id ?? 0);
const seenRows = async (meta: MetadataStore, consumer: string) =>
  (await meta.db.selectFrom('cursors').select('value').where('name', 'like', `seen:${consumer}:%`).orderBy('value').execute()).map((r) => Number(r.value));

describe('event consumers', () => {
  test('a second consumer next to the webhook fan-out sees every event once, in order; pruning waits for the slowest cursor', async () => {
    const meta = await open(await dbFile());
    const outbox = new Outbox({ dialect: testDatabase() });
    const appended = await appendSome(meta, outbox, 30);
    const mirror = recorder('mirror');
    const deletes = recorder('deletes', { families: ['delete'] });
    const runners = [
      runnerOf(meta, webhookFanout(), { outbox, pollMs: 10 }),
      runnerOf(meta, mirror.consumer, { outbox, pollMs: 10 }),
      runnerOf(meta, deletes.consumer, { outbox, pollMs: 10 }),
    ];
    for (const r of runners) r.start();
    const head = appended[appended.length - 1]!.seq;
    await waitFor('every cursor at the head', async () => (await cursorOf(meta, 'mirror')) === head && (await cursorOf(meta, 'deletes')) === head && (await cursorOf(meta, 'webhook-fanout')) === head);

    assert.deepEqual(mirror.seen.map((e) => e.seq), appended.map((a) => a.seq), 'every event once, in outbox order');
    assert.deepEqual(mirror.seen.map((e) => e.event.id), appended.map((a) => a.id));
    assert.deepEqual(await seenRows(meta, 'mirror'), appended.map((a) => a.seq), 'the handler\'s writes committed with the cursor');
    assert.equal(mirror.seen[0]!.event.actor.name, 'tester');
    assert.equal(mirror.seen[0]!.repository, 'acme/app');
    const tagDeletes = appended.filter((a) => a.type === 'tag.deleted');
    assert.ok(tagDeletes.length > 0);
    assert.deepEqual(deletes.seen.map((e) => e.seq), tagDeletes.map((a) => a.seq), 'a consumer of one family gets only that family; its cursor passes the rest');

    // The mirror stops behind; the others go on. Pruning (every event old enough) keeps what the mirror has not seen.
    await runners[1]!.stop();
    const later = await appendSome(meta, outbox, 10);
    const newHead = later[later.length - 1]!.seq;
    await waitFor('fan-out and deletes at the new head', async () => (await cursorOf(meta, 'deletes')) === newHead && (await cursorOf(meta, 'webhook-fanout')) === newHead);
    await pruneOutbox(meta, 0, Date.now() + 60_000);
    const left = (await meta.db.selectFrom('events').select('id').orderBy('id').execute()).map((r) => Number(r.id));
    assert.deepEqual(left, later.map((a) => a.seq), 'only the events the mirror passed were pruned');

    // The mirror, started again, continues at its cursor with exactly the events it had not seen.
    const again = recorder('mirror');
    const r2 = runnerOf(meta, again.consumer, { outbox, pollMs: 10 });
    r2.start();
    await waitFor('the mirror at the new head', async () => (await cursorOf(meta, 'mirror')) === newHead);
    assert.deepEqual(again.seen.map((e) => e.seq), later.map((a) => a.seq));
    await r2.stop();
    for (const r of [runners[0]!, runners[2]!]) await r.stop();
    assert.deepEqual(await new LeaseStore(meta).list(), [], 'stopped runners gave their leases up');
  });

  test('a consumer\'s cursor survives a restart (a new store on the same file)', async () => {
    const file = await dbFile();
    const first = await open(file);
    const outbox = new Outbox({ dialect: testDatabase() });
    const before = await appendSome(first, outbox, 12, 4);
    const a = recorder('durable', {}, 5);
    const ra = runnerOf(first, a.consumer, { pollMs: 10 });
    ra.start();
    await waitFor('the first run at the head', async () => (await cursorOf(first, 'durable')) === before[before.length - 1]!.seq);
    await ra.stop();
    await first.close();

    const second = await open(file);
    const added = await appendSome(second, new Outbox({ dialect: testDatabase() }), 8, 3);
    const b = recorder('durable', {}, 5);
    const rb = runnerOf(second, b.consumer, { pollMs: 10 });
    rb.start();
    await waitFor('the second run at the head', async () => (await cursorOf(second, 'durable')) === added[added.length - 1]!.seq);
    await rb.stop();
    assert.deepEqual(b.seen.map((e) => e.seq), added.map((x) => x.seq), 'after the restart only the new events');
    assert.deepEqual(await seenRows(second, 'durable'), [...before, ...added].map((x) => x.seq), 'each event handled (and committed) once over both runs');
  });

  test('two processes on one file: the lease holder handles every batch, the other none; a clean stop hands over at once', async () => {
    const file = await dbFile();
    const a = await open(file);
    const b = await open(file);
    const ra = recorder('shared', {}, 4);
    const rb = recorder('shared', {}, 4);
    const outA = new Outbox({ dialect: testDatabase() }), outB = new Outbox({ dialect: testDatabase() });
    const runnerA = runnerOf(a, ra.consumer, { holder: 'process-a', outbox: outA, pollMs: 5 });
    const runnerB = runnerOf(b, rb.consumer, { holder: 'process-b', outbox: outB, pollMs: 5 });
    runnerA.start();
    runnerB.start();
    // Both "processes" write events while both runners poll.
    const appended: Appended[] = [];
    for (let i = 0; i < 6; i++) appended.push(...(await appendSome(i % 2 ? b : a, i % 2 ? outB : outA, 10, 5)));
    appended.sort((x, y) => x.seq - y.seq);
    const head = appended[appended.length - 1]!.seq;
    await waitFor('the shared cursor at the head', async () => (await cursorOf(a, 'shared')) === head);

    const holder = (await new LeaseStore(a).get('consumer:shared'))!.holder;
    const [mine, theirs, idle] = holder === 'process-a' ? [ra, rb, runnerB] : [rb, ra, runnerA];
    assert.deepEqual(mine.seen.map((e) => e.seq), appended.map((x) => x.seq), 'the holder handled every event once, in order');
    assert.equal(theirs.seen.length, 0, 'the other process handled nothing');
    assert.equal((await idle.step()).held, false, 'a step without the lease does nothing');

    // The holder stops cleanly (its lease is released): the other one continues at once, at the cursor.
    await (holder === 'process-a' ? runnerA : runnerB).stop();
    const more = await appendSome(a, outA, 5);
    await waitFor('the other process at the new head', async () => (await cursorOf(b, 'shared')) === more[more.length - 1]!.seq);
    assert.deepEqual(theirs.seen.map((e) => e.seq), more.map((x) => x.seq));
    assert.equal((await new LeaseStore(b).get('consumer:shared'))!.holder, holder === 'process-a' ? 'process-b' : 'process-a');
    await idle.stop();
    assert.deepEqual(await seenRows(a, 'shared'), [...appended, ...more].map((x) => x.seq), 'no event committed twice');
  });

  test('a killed holder\'s lease expires and the other process continues from the committed cursor', async () => {
    const file = await dbFile();
    const meta = await open(file);
    const outbox = new Outbox({ dialect: testDatabase() });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/consumer-process.ts'), file, 'handover', '1500'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let childHolder = '';
    const childSeen: number[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [word, a] = line.split(' ');
      if (word === 'holder') childHolder = a!;
      if (word === 'handled') childSeen.push(Number(a));
    });
    await waitFor('the child process running', () => childHolder, 30_000);
    const first = await appendSome(meta, outbox, 10);
    await waitFor('the child at the head', async () => (await cursorOf(meta, 'handover')) === first[first.length - 1]!.seq, 30_000);
    assert.equal((await new LeaseStore(meta).get('consumer:handover'))!.holder, childHolder);

    // This process's runner waits while the child holds the lease.
    const mine = recorder('handover', {}, 5);
    const runner = runnerOf(meta, mine.consumer, { holder: 'parent', leaseMs: 1500, pollMs: 20 });
    runner.start();
    const second = await appendSome(meta, outbox, 5);
    await waitFor('the child at the new head', async () => (await cursorOf(meta, 'handover')) === second[second.length - 1]!.seq, 30_000);
    assert.equal(mine.seen.length, 0, 'nothing for the waiting runner while the holder lives');

    child.kill('SIGKILL');
    await exited;
    const committed = await cursorOf(meta, 'handover');
    const third = await appendSome(meta, outbox, 7);
    await waitFor('the parent at the head after the lease expired', async () => (await cursorOf(meta, 'handover')) === third[third.length - 1]!.seq, 30_000);
    assert.equal((await new LeaseStore(meta).get('consumer:handover'))!.holder, 'parent');
    assert.deepEqual(mine.seen.map((e) => e.seq), third.map((x) => x.seq).filter((s) => s > committed), 'the parent continued where the child\'s commits ended');
    assert.deepEqual([...new Set(childSeen)].filter((s) => s <= committed), [...first, ...second].map((x) => x.seq), 'the child had handled everything before');
    await runner.stop();
  });

  test('events exist only once the change committed: a rolled-back transaction leaves none', async () => {
    const meta = await open(await dbFile());
    const outbox = new Outbox({ dialect: testDatabase() });
    let rolledBack: Appended | null = null;
    await assert.rejects(meta.transaction(async (tx) => {
      rolledBack = await outbox.append(tx, CTX, BlobDeleted({ repository: 'acme/app', digest: digest() }));
      throw new Error('the change was refused');
    }), /refused/);
    assert.ok(rolledBack, 'the event had been appended inside the transaction');
    // Two transactions that share one group commit: the failing one rolls back to its savepoint only.
    let kept: Appended | null = null, dropped: Appended | null = null;
    const [ok, failed] = await Promise.allSettled([
      meta.transaction(async (tx) => { kept = await outbox.append(tx, CTX, TagDeleted({ repository: 'acme/app', tag: 'a' })); }),
      meta.transaction(async (tx) => { dropped = await outbox.append(tx, CTX, TagDeleted({ repository: 'acme/app', tag: 'b' })); throw new Error('no'); }),
    ]);
    assert.equal(ok.status, 'fulfilled');
    assert.equal(failed.status, 'rejected');
    assert.ok(dropped);
    const ids = (await meta.db.selectFrom('events').select('event_id').execute()).map((r) => r.event_id);
    assert.deepEqual(ids, [kept!.id], 'only the committed change has its event');

    const r = recorder('after-rollback');
    const runner = runnerOf(meta, r.consumer);
    while ((await runner.step()).passed > 0) { /* drain */ }
    await runner.release();
    assert.deepEqual(r.seen.map((e) => e.event.id), [kept!.id]);
  });

  test('membership and role changes are events (family access), delivered only to endpoints that subscribe to them', async () => {
    const data = await tempDir('berth-access-');
    dirs.push(data);
    const berth = await createBerth(loadConfig({ env: await testDatabaseEnv(data), flags: { data } }));
    try {
      const { accounts, organizations } = berth;
      const webhooks = berth.services.webhooks;
      for (const u of ['alice', 'bob']) await accounts.create(u, 'wonderland-rabbit-41', {}, CTX);
      await organizations.create('acme', { owner: 'alice' }, CTX);
      await organizations.create('globex', { owner: 'alice' }, CTX);
      const url = 'https://hooks.example.com/berth';
      const others = EVENT_FAMILIES.filter((f) => f !== 'access');
      const globalAccess = (await webhooks.create(null, { name: 'access', url, format: 'cloudevents', events: ['access'] }, CTX)).endpoint;
      const globalOthers = (await webhooks.create(null, { name: 'all-but-access', url, format: 'distribution-v1', events: [...others] }, CTX)).endpoint;
      const acme = (await webhooks.create('acme', { name: 'acme-access', url, format: 'cloudevents', events: ['access'] }, CTX)).endpoint;
      const globex = (await webhooks.create('globex', { name: 'globex-access', url, format: 'cloudevents', events: ['access'] }, CTX)).endpoint;
      const pattern = (await webhooks.create(null, { name: 'pattern', url, format: 'cloudevents', events: ['access'], repositoryPattern: 'acme/**' }, CTX)).endpoint;

      const bob = { kind: 'user' as const, name: 'bob' };
      const build = { kind: 'team' as const, name: 'build' };
      await organizations.setOrgRole('acme', bob, 'developer', CTX);
      await organizations.setOrgRole('acme', bob, 'developer', CTX); // no change: no event
      await organizations.setOrgRole('acme', bob, 'maintainer', CTX);
      await organizations.setOrgRole('acme', bob, null, CTX);
      await organizations.createTeam('acme', 'build', CTX);
      await organizations.addTeamMember('acme', 'build', 'bob', CTX);
      await organizations.addTeamMember('acme', 'build', 'bob', CTX); // already a member: no event
      await organizations.setRepositoryRole('acme/app', build, 'developer', CTX);
      await organizations.setRepositoryRole('acme/app', build, 'maintainer', CTX);
      await organizations.setRepositoryRole('acme/app', build, null, CTX);
      await organizations.removeTeamMember('acme', 'build', 'bob', CTX);
      await organizations.removeTeam('acme', 'build', CTX);

      const r = recorder('access-audit', { families: ['access'] }, 100);
      const runner = runnerOf(berth.meta, r.consumer);
      while ((await runner.step()).passed > 0) { /* drain */ }
      await runner.release();
      const got = r.seen.map((e) => ({ type: e.event.type, data: e.event.data }));
      const acmeBob = { organization: 'acme', subject: { kind: 'user', name: 'bob' } };
      const repoBuild = { repository: 'acme/app', subject: { kind: 'team', name: 'build' } };
      assert.deepEqual(got, [
        { type: 'organization.member.added', data: { organization: 'acme', subject: { kind: 'user', name: 'alice' }, role: 'admin' } },
        { type: 'organization.member.added', data: { organization: 'globex', subject: { kind: 'user', name: 'alice' }, role: 'admin' } },
        { type: 'organization.member.added', data: { ...acmeBob, role: 'developer' } },
        { type: 'organization.member.role_changed', data: { ...acmeBob, role: 'maintainer', previous: 'developer' } },
        { type: 'organization.member.removed', data: { ...acmeBob, previous: 'maintainer' } },
        { type: 'team.created', data: { organization: 'acme', team: 'build' } },
        { type: 'team.member.added', data: { organization: 'acme', team: 'build', user: 'bob', source: 'manual' } },
        { type: 'repository.role.granted', data: { ...repoBuild, role: 'developer', previous: null } },
        { type: 'repository.role.granted', data: { ...repoBuild, role: 'maintainer', previous: 'developer' } },
        { type: 'repository.role.revoked', data: { ...repoBuild, previous: 'maintainer' } },
        { type: 'team.member.removed', data: { organization: 'acme', team: 'build', user: 'bob', source: 'manual' } },
        { type: 'team.deleted', data: { organization: 'acme', team: 'build' } },
      ]);
      assert.ok(r.seen.every((e) => e.event.actor.name === 'tester' && e.event.request.id === 'req-1'), 'the actor and request of the change');
      assert.equal(r.seen.find((e) => e.event.type === 'repository.role.granted')!.repository, 'acme/app');

      // The fan-out: endpoints created after the two organizations get the ten changes that followed.
      const fanout = runnerOf(berth.meta, webhookFanout());
      while ((await fanout.step()).passed > 0) { /* drain */ }
      await fanout.release();
      const deliveries = async (id: number) => (await berth.meta.db.selectFrom('webhook_deliveries as d').innerJoin('events as e', 'e.id', 'd.event_seq')
        .select('e.type').where('d.endpoint_id', '=', id).orderBy('d.event_seq').execute()).map((x) => x.type);
      const later = got.slice(2).map((g) => g.type);
      assert.deepEqual(await deliveries(globalAccess.id), later, 'a global access endpoint hears every change');
      assert.deepEqual(await deliveries(acme.id), later, 'the organization\'s endpoint hears about its members and repositories');
      assert.deepEqual(await deliveries(globex.id), [], 'another organization\'s endpoint hears nothing of acme');
      assert.deepEqual(await deliveries(pattern.id), ['repository.role.granted', 'repository.role.granted', 'repository.role.revoked'], 'a repository pattern keeps repository roles only');
      assert.deepEqual(await deliveries(globalOthers.id), [], 'an endpoint of every other family receives none of them');
    } finally {
      await berth.close();
    }
  });

  test('over HTTP: an endpoint may subscribe to access; a member added reaches it, an endpoint without it gets only its push', async () => {
    const rcv = await new Receiver().start();
    const b = await startBerth({ auth: true, config: { webhooks: { allowLoopback: true, backoffBase: 0.05, backoffMax: 0.5 } } });
    dirs.push(b.dataDir);
    try {
      const auth = basicAuth('admin', ADMIN_PASSWORD);
      const admin = new ApiClient(b.url, auth);
      assert.equal((await admin.post('/users', { name: 'bob', password: 'builder-can-fix-it-7' })).status, 201);
      assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);
      assert.equal((await admin.post('/webhooks', { name: 'access', url: rcv.url('/access'), format: 'cloudevents', events: ['access'] })).status, 201);
      assert.equal((await admin.post('/webhooks', { name: 'push', url: rcv.url('/push'), format: 'distribution-v1', events: ['push'] })).status, 201);
      assert.equal((await admin.post('/webhooks', { name: 'bad', url: rcv.url('/bad'), events: ['roles'] })).status, 400, 'unknown families are still refused');

      assert.equal((await admin.put('/organizations/acme/members/bob', { role: 'developer' })).status, 204);
      const added = await waitFor('the member event', () => rcv.accepted('/access').flatMap(eventsOf).find((e) => e.kind === 'io.berth.organization.member.added'));
      assert.deepEqual(added.raw.data.data, { organization: 'acme', subject: { kind: 'user', name: 'bob' }, role: 'developer' });
      assert.equal(added.raw.data.actor.name, 'admin');

      // A push afterwards: the push endpoint gets it, and nothing before it (deliveries go out in event order).
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
      await pushBlob(b.url, 'acme/app', config, { authorization: auth });
      const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [] };
      assert.equal((await pushManifest(b.url, 'acme/app', 'marker', m, MT.ociManifest, { authorization: auth })).res.status, 201);
      await waitFor('the marker push', () => rcv.accepted('/push').flatMap(eventsOf).find((e) => e.tag === 'marker'));
      assert.deepEqual(rcv.accepted('/push').flatMap(eventsOf).map((e) => e.kind), ['push'], 'the push endpoint got the push only');
    } finally {
      await b.stop();
      await rcv.close();
    }
  });
});
