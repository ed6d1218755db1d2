import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { runMetadataStoreSuite } from './metadata-store.suite.js';

runMetadataStoreSuite('sqlite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-meta-'));
  const file = path.join(dir, 'berth.db');
  return { open: () => openSqlite({ path: file }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
