// PostgreSQL for tests: the server at 127.0.0.1:5432 (trust authentication, user postgres). Each caller
// gets a database of its own, created here and dropped when it is done. No server: the test fails and
// says how to get one (nothing skips).
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

export interface TestDatabase {
  name: string;
  /** postgres://postgres@127.0.0.1:5432/NAME */
  url: string;
  /** Drops the database once the last connection to it has gone. */
  drop(): Promise<void>;
}

let counter = 0;

async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${PG.host}:${PG.port} (${(e as Error).message}); install and start it: apt-get install postgresql && pg_ctlcluster 15 main start (trust authentication for 127.0.0.1)`);
  }
  admin.on('error', () => undefined);
  return admin;
}

let swept = false;

/** Databases of test processes that are gone (killed runs never dropped theirs). */
async function sweep(admin: pg.Client): Promise<void> {
  swept = true;
  const rows = (await admin.query<{ datname: string }>("select datname from pg_database where datname like 'berth%'")).rows;
  for (const { datname } of rows) {
    const m = /_(\d+)_[a-z0-9]+_\d+$/.exec(datname);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // still running
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    await admin.query(`drop database if exists ${datname} with (force)`).catch(() => undefined);
  }
}

export async function createTestDatabase(prefix = 'berth_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${++counter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = await adminClient();
  try {
    if (!swept) await sweep(admin);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: `postgres://${PG.user}@${PG.host}:${PG.port}/${name}`,
    drop: () => dropNamed(name),
  };
}

async function dropNamed(name: string): Promise<void> {
  const a = await adminClient();
  try {
    // A closed pool's server sessions may outlive it for a moment: wait for them, then end stragglers
    // (a killed server process leaves its sessions until the server notices).
    for (let i = 0; i < 100 && (await a.query('select 1 from pg_stat_activity where datname = $1', [name])).rowCount! > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await a.query(`drop database if exists ${name} with (force)`);
  } finally {
    await a.end();
  }
}

/** Drops the database a createTestDatabase URL names (see TestDatabase.drop). */
export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a test database: ${name}`);
  await dropNamed(name);
}
