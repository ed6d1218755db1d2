import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgres } from '../../src/db/dialects/postgres.js';
import { infrastructureError } from '../../src/errors/infrastructure.js';
import { freePort } from '../helpers/berth.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { runMetadataStoreSuite } from './metadata-store.suite.js';

runMetadataStoreSuite('postgres', async () => {
  const db = await createTestDatabase('berth_meta');
  return { open: () => openPostgres({ url: db.url, poolSize: 4 }), cleanup: () => db.drop() };
});

test('postgres: a server that cannot be reached fails the open with DATABASE_UNAVAILABLE, quickly', async () => {
  const port = await freePort(); // nothing listens there
  const err = await openPostgres({ url: `postgres://postgres@127.0.0.1:${port}/berth`, connectTimeoutMs: 2000 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err, 'the open failed');
  const mapped = infrastructureError(err);
  assert.equal(mapped?.code, 'DATABASE_UNAVAILABLE');
  assert.match(mapped!.message, /unreachable/);
});

test('postgres: a URL that is not postgres:// or names no database is refused before connecting', async () => {
  await assert.rejects(openPostgres({ url: 'mysql://127.0.0.1/berth' }), /postgres:\/\/ URL/);
  await assert.rejects(openPostgres({ url: 'postgres://127.0.0.1' }), /name the database/);
});

test('postgres: a statement running past the statement timeout is cancelled and answered as the database being too slow', async () => {
  const db = await createTestDatabase('berth_meta');
  const s = await openPostgres({ url: db.url, statementTimeoutMs: 200 });
  try {
    const err = await s.db.selectNoFrom((eb) => eb.fn('pg_sleep', [eb.val(2)]).as('x')).execute().then(() => undefined, (e: unknown) => e);
    assert.equal(infrastructureError(err)?.code, 'DATABASE_UNAVAILABLE');
    assert.equal((await s.db.selectFrom('repositories').select('id').execute()).length, 0, 'the pool still works');
  } finally {
    await s.close();
    await db.drop();
  }
});
