// Repository search (?q= of the management API): the trigram index finds what a plain substring test
// finds, in name order and in pages, keeps up with repositories created, renamed and deleted, and is what
// SQLite's plan reads (not every repository name).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { listRepositories } from '../../src/db/repositories.js';

test('search by substring: same answers as a scan, paged, after inserts, renames and deletes; the plan uses the index', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-search-'));
  const meta = await openSqlite({ path: path.join(dir, 'berth.db') });
  try {
    const names = Array.from({ length: 3000 }, (_, i) => `team${i % 7}/app_${String(i).padStart(5, '0')}`);
    await meta.transaction(async (tx) => {
      for (const name of names) {
        const id = Number((await tx.insertInto('repositories').values({ name, created_at: 1 }).returning('id').executeTakeFirstOrThrow()).id);
        await tx.insertInto('manifests').values({ repository_id: id, digest: `sha256:${'0'.repeat(59)}${String(id).padStart(5, '0')}`, media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: null, subject_digest: null, size: 2, content: Buffer.from('{}'), annotations: null, created_at: 1 }).execute();
      }
    });
    const scan = (q: string) => names.filter((n) => n.includes(q)).sort();
    const all = async (q: string, n = 50) => {
      const out: string[] = [];
      for (let last: string | undefined; ;) {
        const page = await listRepositories(meta.db, n, last, q);
        out.push(...page.names);
        if (!page.more) return out;
        last = page.names[page.names.length - 1];
      }
    };
    for (const q of ['app_0012', 'team3/app_01', '_0001', 'p_', 'm6', 'APP_0001', 'nothing-here', '0042']) {
      assert.deepEqual(await all(q), scan(q), `q=${q}`);
    }
    // Kept by the triggers: a new name, a renamed one, a deleted one.
    await meta.transaction(async (tx) => {
      const id = Number((await tx.insertInto('repositories').values({ name: 'zeta/newcomer', created_at: 1 }).returning('id').executeTakeFirstOrThrow()).id);
      await tx.insertInto('manifests').values({ repository_id: id, digest: `sha256:${'1'.repeat(64)}`, media_type: 'x', artifact_type: null, subject_digest: null, size: 2, content: Buffer.from('{}'), annotations: null, created_at: 1 }).execute();
      await tx.updateTable('repositories').set({ name: 'team1/renamed_one' }).where('name', '=', 'team1/app_00001').execute();
      await tx.deleteFrom('manifests').where('repository_id', 'in', (eb) => eb.selectFrom('repositories').select('id').where('name', '=', 'team2/app_00002')).execute();
      await tx.deleteFrom('repositories').where('name', '=', 'team2/app_00002').execute();
    });
    assert.deepEqual(await all('newcomer'), ['zeta/newcomer']);
    assert.deepEqual(await all('renamed'), ['team1/renamed_one']);
    assert.deepEqual(await all('app_00001'), scan('app_00001').filter((n) => n !== 'team1/app_00001'));
    assert.deepEqual(await all('app_00002'), scan('app_00002').filter((n) => n !== 'team2/app_00002'));
    // The trigram index answers which names contain the query, not a walk over every name.
    const plan = await sql<{ detail: string }>`explain query plan select r.name from repositories r where r.id in (select rowid from repository_search where name like ${'%app_0012%'}) and instr(r.name, ${'app_0012'}) > 0 order by r.name`.execute(meta.db);
    assert.ok(plan.rows.some((r) => /VIRTUAL TABLE INDEX/.test(r.detail)), plan.rows.map((r) => r.detail).join('; '));
  } finally {
    await meta.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
