// The import-rule checker (`npm run check:deps`: .dependency-cruiser.cjs and scripts/check-deps.mjs) run on a
// small tree in a temporary directory: a tree that keeps the rules passes, and each kind of bad import is
// reported (which also shows the checker resolves `.js` specifiers to the `.ts` files), and so is SQL built
// outside db/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/berth.js';

const GOOD: Record<string, string> = {
  'src/lib/hash.ts': "import { createHash } from 'node:crypto';\nexport const sha = (s: string) => createHash('sha256').update(s).digest('hex');\n",
  'src/lib/ids.ts': "import { sha } from './hash.js';\nexport const id = (s: string) => sha(s).slice(0, 8);\n",
  'src/oci/digest.ts': "export const isDigest = (s: string) => s.startsWith('sha256:');\n",
  'src/db/blob-queries.ts': "import type { Db } from './database.js';\nexport const blob = (db: Db) => db.selectFrom('blobs' as never).selectAll();\n",
  'src/db/database.ts': "import type { Kysely } from 'kysely';\nexport type Db = Kysely<Record<string, never>>;\nexport const openSqlite = async () => ({}) as Db;\n",
  'src/storage/driver.ts': 'export interface StorageDriver { get(path: string): Promise<Uint8Array> }\n',
  'src/storage/drivers/memory/memory-driver.ts': "import type { StorageDriver } from '../../driver.js';\nimport { id } from '../../../lib/ids.js';\nexport class MemoryDriver implements StorageDriver { async get(p: string) { return new TextEncoder().encode(id(p)); } }\n",
  'src/registry/blobs.ts': "import type { Db } from '../db/database.js';\nimport type { StorageDriver } from '../storage/driver.js';\nimport { isDigest } from '../oci/digest.js';\nexport class Blobs { constructor(readonly db: Db, readonly store: StorageDriver) {} ok = isDigest; }\n",
  'src/auth/roles.ts': "export const ROLES = ['reader', 'admin'] as const;\n",
  'src/http/contracts/api.ts': "import { z } from 'zod';\nimport { ROLES } from '../../auth/roles.js';\nexport const Member = z.object({ name: z.string(), role: z.enum(ROLES) });\n",
  'src/http/contracts/shared.ts': "import type { z } from 'zod';\nimport type * as C from './api.js';\nexport { ROLES } from '../../auth/roles.js';\nexport type Member = z.output<typeof C.Member>;\n",
  'src/http/server.ts': "import type { Blobs } from '../registry/blobs.js';\nimport { Member } from './contracts/api.js';\nexport const serve = (b: Blobs) => [b, Member];\n",
  'src/main.ts': "import { openSqlite } from './db/database.js';\nimport { MemoryDriver } from './storage/drivers/memory/memory-driver.js';\nimport { Blobs } from './registry/blobs.js';\nimport { serve } from './http/server.js';\nexport const main = async () => serve(new Blobs(await openSqlite(), new MemoryDriver()));\n",
  'src/cli/index.ts': "export const run = async () => (await import('../main.js')).main();\n",
  // The CLI may name concrete drivers and open a database, as main.ts does.
  'src/cli/scratch.ts': "import { openSqlite } from '../db/database.js';\nimport { MemoryDriver } from '../storage/drivers/memory/memory-driver.js';\nexport const scratch = async () => [await openSqlite(), new MemoryDriver()];\n",
  // Tolerated for now (a warning): http/ naming the database handle's type.
  'src/http/wiring.ts': "import type { Db } from '../db/database.js';\nexport type Wiring = { db: Db };\n",
  'web/src/roles.ts': "import { ROLES, type Member } from '../../src/http/contracts/shared.js';\nexport const list: Member['role'][] = [...ROLES];\n",
};

/** One bad import per rule (file → the rule that must name it). */
const BAD: Record<string, { rule: string; text: string }> = {
  'src/oci/bad-core.ts': { rule: 'core-imports-nothing-of-ours', text: "import { id } from '../lib/ids.js';\nexport const x = id;\n" },
  'src/http/bad-db.ts': { rule: 'http-through-services', text: "import type { T } from '../db/schema.js';\nexport type X = T;\n" },
  'src/http/bad-db-value.ts': { rule: 'http-db-types-only', text: "import { openSqlite } from '../db/database.js';\nexport const o = openSqlite;\n" },
  'src/http/bad-storage.ts': { rule: 'http-through-services', text: "import type { MemoryDriver } from '../storage/drivers/memory/memory-driver.js';\nexport type X = MemoryDriver;\n" },
  'src/http/contracts/bad-io.ts': { rule: 'contracts-pure', text: "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n" },
  'src/registry/bad-sql.ts': { rule: 'sql-only-in-db', text: "import { sql } from 'kysely';\nexport const x = sql;\n" },
  'src/registry/bad-builder.ts': { rule: 'sql-built-outside-db', text: "import type { Db } from '../db/database.js';\nexport const q = (db: Db) => db.selectFrom('blobs' as never).selectAll();\n" },
  'src/audit/bad-sql-tag.ts': { rule: 'sql-built-outside-db', text: "declare const sql: (s: TemplateStringsArray) => unknown;\nexport const q = sql`select 1`;\n" },
  'src/registry/bad-schema.ts': { rule: 'db-internals-stay-in-db', text: "import type { T } from '../db/schema.js';\nexport type X = T;\n" },
  'src/jobs/bad-driver.ts': { rule: 'concrete-implementations-in-main', text: "export const m = () => import('../storage/drivers/memory/memory-driver.js');\n" },
  'src/jobs/bad-open.ts': { rule: 'open-database-in-main', text: "import { openSqlite } from '../db/database.js';\nexport const o = openSqlite;\n" },
  'src/storage/drivers/memory/bad-reach.ts': { rule: 'drivers-import-only-the-interface', text: "import type { Blobs } from '../../../registry/blobs.js';\nexport type X = Blobs;\n" },
  'src/registry/bad-cycle-a.ts': { rule: 'no-circular', text: "import { b } from './bad-cycle-b.js';\nexport const a = () => b;\n" },
  'src/registry/bad-cycle-b.ts': { rule: 'no-circular', text: "import { a } from './bad-cycle-a.js';\nexport const b = () => a;\n" },
  'web/src/bad-server.ts': { rule: 'web-only-shared-contracts', text: "import { Blobs } from '../../src/registry/blobs.js';\nexport const x = Blobs;\n" },
  'src/auth/bad-unresolved.ts': { rule: 'not-to-unresolvable', text: "import { nothing } from './no-such-file.js';\nexport const x = nothing;\n" },
};

describe('import rules (npm run check:deps)', () => {
  let dir: string;
  const write = async (files: Record<string, string>) => {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), text);
    }
  };
  const check = () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/check-deps.mjs')], { cwd: dir, encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-deps-'));
    await copyFile(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
    await copyFile(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'deps-fixture', type: 'module', dependencies: { kysely: '*', zod: '*' } }));
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await write(GOOD);
    await write({ 'src/db/schema.ts': 'export interface T { id: number }\n' });
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('a tree that keeps the rules passes', () => {
    const r = check();
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /warn http-names-db-types: src\/http\/wiring\.ts → src\/db\/database\.ts/);
    assert.match(r.out, /0 errors, 1 warnings/);
  });

  test('each bad import is reported under its rule, and the check fails', async () => {
    await write(Object.fromEntries(Object.entries(BAD).map(([name, b]) => [name, b.text])));
    try {
      const r = check();
      assert.equal(r.status, 1, r.out);
      for (const [name, { rule }] of Object.entries(BAD)) {
        assert.ok(r.out.split('\n').some((line) => line.includes(`error ${rule}:`) && line.includes(name)), `${rule} for ${name}:\n${r.out}`);
      }
      // The good files stay unreported.
      for (const name of Object.keys(GOOD)) {
        assert.ok(!r.out.split('\n').some((line) => /error [a-z-]+: /.test(line) && (line.includes(`${name} →`) || line.includes(`${name}:`))), `${name} reported:\n${r.out}`);
      }
    } finally {
      for (const name of Object.keys(BAD)) await unlink(path.join(dir, name));
    }
  });

  test('a cycle between folders fails, even through a type-only import', async () => {
    await write({
      'src/audit/journal.ts': "import type { Event } from '../events/event.js';\nexport const record = (e: Event) => e;\n",
      'src/events/event.ts': "export interface Event { type: string }\n",
      'src/events/webhooks.ts': "import { record } from '../audit/journal.js';\nexport const send = record;\n",
    });
    const r = check();
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /error no-folder-cycle: audit, events depend on each other/);
    assert.match(r.out, /src\/audit\/journal\.ts → src\/events\/event\.ts \(type-only\)/);
    assert.match(r.out, /src\/events\/webhooks\.ts → src\/audit\/journal\.ts/);
    assert.doesNotMatch(r.out, /error (?!no-folder-cycle)[a-z-]+: /);
  });
});
