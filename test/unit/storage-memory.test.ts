import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDriver } from '../../src/storage/drivers/memory/memory-driver.js';
import { runDriverSuite, put } from './storage-driver.suite.js';

runDriverSuite('memory', async () => ({ driver: new MemoryDriver(), cleanup: async () => {} }));

test('memory: separate instances do not share files', async () => {
  const a = new MemoryDriver();
  const b = new MemoryDriver();
  await put(a, 'x', Buffer.from('1'));
  assert.equal(a.name, 'memory');
  assert.equal((await a.stat('x'))?.size, 1);
  assert.equal(await b.stat('x'), null);
});
