// A manifest lookup by tag costs the same in a repository of 100,000 tags as in one of ten: SQLite's plan
// must reach the tag through its primary key, never walk the repository's manifests.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import type { MetadataStore } from '../../src/db/database.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { manifestLookup } from '../../src/db/manifests.js';

let dir: string;
let meta: MetadataStore;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-plan-'));
  meta = await openSqlite({ path: path.join(dir, 'meta.db') });
});
after(async () => {
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});

async function plan(ref: Parameters<typeof manifestLookup>[2]): Promise<string[]> {
  const q = manifestLookup(meta.db, 'acme/app', ref).select(['m.digest', 'm.content']).compile();
  const literal = q.sql.replace(/\?/g, () => "'x'");
  return (await sql.raw<{ detail: string }>(`EXPLAIN QUERY PLAN ${literal}`).execute(meta.db)).rows.map((r) => r.detail);
}

test('by tag: the tag through its primary key (repository, name), the manifest by its id', async () => {
  const steps = await plan({ tag: 'v1' });
  assert.ok(steps.some((s) => /SEARCH t USING (COVERING )?INDEX sqlite_autoindex_tags_1 \(repository_id=\? AND name=\?\)/.test(s)), steps.join(' | '));
  assert.ok(steps.some((s) => /SEARCH m USING INTEGER PRIMARY KEY/.test(s)), steps.join(' | '));
  assert.ok(!steps.some((s) => /SEARCH m USING .*\(repository_id=\?\)$/.test(s) || /SCAN/.test(s)), `no walk over the repository's manifests: ${steps.join(' | ')}`);
});

test('by digest: one index search per table', async () => {
  const steps = await plan({ digest: { algorithm: 'sha256', hex: 'a'.repeat(64), digest: `sha256:${'a'.repeat(64)}` } as never });
  assert.ok(!steps.some((s) => /SCAN/.test(s)), steps.join(' | '));
});
