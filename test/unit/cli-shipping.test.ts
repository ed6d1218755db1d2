// The flags Berth runs with are the same on every way it is started: the `berth` command's shebang (src and
// the built dist), `npm start`, and the test and benchmark servers (NODE_FLAGS), so that what is measured is
// what ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, NODE_FLAGS, ROOT } from '../helpers/berth.js';

const shebang = (file: string) => readFileSync(file, 'utf8').split('\n')[0];

test('the shebang of the berth command, npm start and the test servers carry the same Node.js flags', () => {
  for (const file of [path.join(ROOT, 'src/cli/index.ts'), CLI]) {
    const line = shebang(file);
    assert.match(line, /^#!\/usr\/bin\/env -S node( |$)/, `${file}: ${line}`);
    assert.deepEqual(line.split(/\s+/).slice(3), NODE_FLAGS, `${file}: ${line}`);
  }
  const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  assert.equal(start, `node ${NODE_FLAGS.join(' ')} dist/cli/index.js serve`);
});

test('the shebang runs: env -S hands node its flags and the command', () => {
  const [env, split, ...node] = shebang(CLI).slice(2).split(/\s+/); // /usr/bin/env -S node FLAGS…
  const help = spawnSync(env, [split, node.join(' '), CLI, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: berth/);
  const argv = spawnSync(env, [split, node.join(' '), '-p', 'JSON.stringify(process.execArgv)'], { encoding: 'utf8' });
  assert.deepEqual((JSON.parse(argv.stdout) as string[]).slice(0, NODE_FLAGS.length), NODE_FLAGS);
});
