import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem/filesystem-driver.js';
import { NotFoundError } from '../../src/storage/driver.js';
import { runDriverSuite, put, UNSAFE_PATHS, listAll } from './storage-driver.suite.js';

async function tempRoot(): Promise<{ base: string; root: string }> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'berth-fs-'));
  return { base, root: path.join(base, 'root') };
}

runDriverSuite('filesystem', async () => {
  const { base, root } = await tempRoot();
  return { driver: new FilesystemDriver(root), cleanup: () => rm(base, { recursive: true, force: true }) };
});

describe('filesystem driver specifics', () => {
  test('a file moved into place is fully written on disk, and the source is gone', async () => {
    const { base, root } = await tempRoot();
    try {
      const d = new FilesystemDriver(root);
      assert.equal(d.name, 'filesystem');
      const chunks = Array.from({ length: 12 }, () => randomBytes(700_000)); // > the driver's write chunk
      const whole = Buffer.concat(chunks);
      await put(d, 'uploads/u/data', chunks);
      await d.move('uploads/u/data', 'blobs/sha256/aa/bb/data');
      const onDisk = await readFile(path.join(root, 'blobs/sha256/aa/bb/data'));
      assert.equal(onDisk.length, whole.length);
      assert.equal(createHash('sha256').update(onDisk).digest('hex'), createHash('sha256').update(whole).digest('hex'));
      assert.equal(existsSync(path.join(root, 'uploads/u/data')), false);
      assert.equal((await stat(path.join(root, 'blobs/sha256/aa/bb/data'))).size, whole.length);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('committed writes are visible to an independent reader of the file', async () => {
    const { base, root } = await tempRoot();
    try {
      const d = new FilesystemDriver(root);
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const w = await d.write('f');
      w.end(data);
      await new Promise<void>((resolve, reject) => { w.once('finish', resolve); w.once('error', reject); });
      await w.commit();
      assert.deepEqual(await readFile(path.join(root, 'f')), data);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('the driver refuses to resolve outside its root', async () => {
    const { base, root } = await tempRoot();
    try {
      const d = new FilesystemDriver(root);
      // a sibling that shares the root's name as a string prefix, and the parent folder
      await writeFile(path.join(base, 'secret'), 'outside');
      const sibling = `${root}-sibling`;
      await put(d, 'inside', Buffer.from('in'));
      const escapes = [...UNSAFE_PATHS, '../secret', '../root-sibling/x', 'a/../../secret', root, `..${path.sep}secret`];
      for (const p of escapes) {
        await assert.rejects(d.readBuffer(p), (e: unknown) => e instanceof Error && !(e instanceof NotFoundError), `readBuffer ${p}`);
        await assert.rejects(d.stat(p), Error, `stat ${p}`);
        await assert.rejects(async () => { const w = await d.write(p); w.end('x'); }, Error, `write ${p}`);
        await assert.rejects(d.delete(p), Error, `delete ${p}`);
        await assert.rejects(d.move('inside', p), Error, `move to ${p}`);
        await assert.rejects(listAll(d, p), Error, `list ${p}`);
      }
      assert.equal(await readFile(path.join(base, 'secret'), 'utf8'), 'outside', 'outside file untouched');
      assert.equal(existsSync(sibling), false, 'nothing created beside the root');
      assert.deepEqual((await readdir(base)).sort(), ['root', 'secret']);
      assert.equal((await d.readBuffer('inside')).toString(), 'in');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('a relative root is resolved once, at construction', async () => {
    const { base } = await tempRoot();
    const cwd = process.cwd();
    try {
      process.chdir(base);
      const d = new FilesystemDriver('rel-root');
      process.chdir(cwd);
      await put(d, 'x', Buffer.from('1'));
      assert.equal(await readFile(path.join(base, 'rel-root', 'x'), 'utf8'), '1');
    } finally {
      process.chdir(cwd);
      await rm(base, { recursive: true, force: true });
    }
  });

  test('delete of a folder removes the folder itself from disk', async () => {
    const { base, root } = await tempRoot();
    try {
      const d = new FilesystemDriver(root);
      await put(d, 'repo/x/1', Buffer.from('1'));
      await put(d, 'repo/x/y/2', Buffer.from('2'));
      await d.delete('repo/x');
      assert.equal(existsSync(path.join(root, 'repo/x')), false);
      assert.equal(existsSync(path.join(root, 'repo')), true);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
