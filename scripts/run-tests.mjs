// Runs the test files on one metadata dialect: `node scripts/run-tests.mjs sqlite|postgres [files…]`.
// sqlite: every test/*/*.test.ts. postgres: the same files with BERTH_TEST_DATABASE=postgres (every test
// server gets a PostgreSQL database of its own), except
// - unit tests, which start no server and run once (those that test a store do it on both dialects
//   themselves: the metadata store suite), unless a file says `berth-test: both-dialects`;
// - files that say `berth-test: sqlite-only` with the reason (they test SQLite itself: its file locks,
//   its read-only file, its WAL), or `berth-test: dialects-inside` (they run on both themselves).
// Files that say `berth-test: postgres-only` (what exists only on PostgreSQL: several processes on one
// database) run in the postgres pass alone.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [dialect = 'sqlite', ...named] = process.argv.slice(2);
if (dialect !== 'sqlite' && dialect !== 'postgres') {
  console.error(`usage: node scripts/run-tests.mjs sqlite|postgres [files…] (not ${dialect})`);
  process.exit(2);
}
const all = named.length > 0 ? named : readdirSync('test').flatMap((dir) => {
  try {
    return readdirSync(path.join('test', dir)).filter((f) => f.endsWith('.test.ts')).map((f) => path.join('test', dir, f));
  } catch {
    return [];
  }
}).sort();
const files = dialect === 'sqlite' ? all.filter((f) => !/berth-test: postgres-only/.test(readFileSync(f, 'utf8'))) : all.filter((f) => {
  const text = readFileSync(f, 'utf8');
  if (/berth-test: (sqlite-only|dialects-inside)/.test(text)) return false;
  return !f.startsWith(path.join('test', 'unit')) || /berth-test: both-dialects/.test(text);
});
console.log(`# ${dialect}: ${files.length} test files`);
// With no files, node --test would look for test files itself.
if (files.length === 0) process.exit(0);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files], {
  stdio: 'inherit', env: { ...process.env, BERTH_TEST_DATABASE: dialect },
});
process.exit(r.status ?? 1);
