import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createFileOnce } from '../../src/lib/create-once.js';
import { loadOrCreateMasterKey } from '../../src/auth/master-key.js';
import { removeDir, tempDir } from '../helpers/berth.js';

test('a file created once: whole, 0600, the first writer wins, no temporary file left', async () => {
  const dir = await tempDir('berth-once-');
  try {
    const f = path.join(dir, 'secrets', 'k');
    assert.equal(createFileOnce(f, Buffer.from('first')), true);
    assert.equal(createFileOnce(f, Buffer.from('second')), false);
    assert.equal(readFileSync(f, 'utf8'), 'first');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(path.dirname(f)), ['k']);
  } finally {
    await removeDir(dir);
  }
});

test('processes creating the master key together all end up with the same 32 bytes', async () => {
  const dir = await tempDir('berth-once-');
  try {
    const f = path.join(dir, 'master.key');
    // node -e SCRIPT FILE: the file is argv[1]
    const script = `import('${path.resolve('src/auth/master-key.ts')}').then((m) => process.stdout.write(m.loadOrCreateMasterKey(process.argv[1]).toString('hex')))`;
    const keys = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '-e', script, f], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { err += d; });
      p.once('error', reject);
      p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
    })));
    assert.equal(new Set(keys).size, 1, 'one key for all');
    assert.equal(keys[0], loadOrCreateMasterKey(f).toString('hex'));
    assert.equal(Buffer.from(keys[0], 'hex').length, 32);
  } finally {
    await removeDir(dir);
  }
});
