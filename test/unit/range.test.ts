import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from '../../src/http/routes/v2/blobs.js';

describe('parseRange', () => {
  test('no header: no range', () => {
    assert.equal(parseRange(undefined, 100), null);
    assert.equal(parseRange('', 100), null);
  });

  test('bytes=0-9 is the first ten bytes (inclusive end)', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=5-5', 100), { start: 5, end: 5 });
    assert.deepEqual(parseRange('bytes=0-99', 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange('  bytes=10-19  ', 100), { start: 10, end: 19 });
  });

  test('open-ended range runs to the last byte', () => {
    assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 99 });
    assert.deepEqual(parseRange('bytes=0-', 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=99-', 100), { start: 99, end: 99 });
  });

  test('suffix range is the last N bytes, the whole blob when N exceeds it', () => {
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1', 100), { start: 99, end: 99 });
    assert.deepEqual(parseRange('bytes=-100', 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=-5000', 100), { start: 0, end: 99 });
  });

  test('a zero-length suffix is unsatisfiable', () => {
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  });

  test('an end beyond the blob is clamped to the last byte', () => {
    assert.deepEqual(parseRange('bytes=90-200', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', 100), { start: 0, end: 99 });
  });

  test('a start at or beyond the size is unsatisfiable', () => {
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=100-200', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=500-600', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  });

  test('end before start is unsatisfiable', () => {
    assert.equal(parseRange('bytes=10-5', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=1-0', 100), 'unsatisfiable');
  });

  test('malformed or unsupported headers are ignored (null)', () => {
    for (const h of ['bytes=', 'bytes=-', 'bytes=a-b', 'bytes=1-a', 'bytes=0-9,20-29', 'items=0-9', 'bytes 0-9', 'bytes=0x1-2',
      'bytes=-1-2', 'bytes=1.5-2', 'Bytes=0-9 junk', '0-9', 'bytes=+1-2']) {
      assert.equal(parseRange(h, 100), null, h);
    }
  });

  test('a suffix range on an empty blob is ignored, not 416', () => {
    // RFC 9110 §14.1.1: a suffix-range with a non-zero suffix-length is satisfiable, even for a
    // zero-length representation; no 206 can describe an empty range, so the range is ignored and the
    // (empty) blob is served whole with 200, as Go's net/http and others do.
    assert.equal(parseRange('bytes=-10', 0), null);
    assert.equal(parseRange('bytes=-1', 0), null);
  });
});
