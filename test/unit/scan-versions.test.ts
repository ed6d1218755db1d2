// Version comparators against real vectors: google/osv-scalibr semantic/testdata (Apache-2.0), copied to
// ../shared/data/versions (see SOURCES.md there). Each line "A op B" must hold as compare(A, B) and reversed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VersionComparator } from '../../src/scan/versions/comparator.js';
import { apkComparator } from '../../src/scan/versions/apk.js';
import { dpkgComparator } from '../../src/scan/versions/dpkg.js';
import { rpmComparator } from '../../src/scan/versions/rpm.js';
import { semverComparator } from '../../src/scan/versions/semver.js';
import { pep440Comparator } from '../../src/scan/versions/pep440.js';
import { mavenComparator } from '../../src/scan/versions/maven.js';
import { comparatorFor } from '../../src/scan/versions/ecosystems.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = path.join(repoRoot, '..', 'shared', 'data', 'versions');

const OPS = { '<': -1, '=': 0, '>': 1 } as const;

interface Vector { line: number; text: string; a: string; b: string; want: -1 | 0 | 1 }

function readVectors(file: string): Vector[] {
  const out: Vector[] = [];
  readFileSync(path.join(DATA, file), 'utf8').split('\n').forEach((raw, i) => {
    const text = raw.trim();
    if (text === '' || text.startsWith('#') || text.startsWith('//')) return;
    const [a, op, b, ...rest] = text.split(/\s+/);
    assert.ok(op in OPS && b !== undefined && rest.length === 0, `${file}:${i + 1}: not "A op B": ${text}`);
    out.push({ line: i + 1, text, a, b, want: OPS[op as keyof typeof OPS] });
  });
  return out;
}

/** Runs every vector; reports all failures at once (the first few in full). */
function checkFile(comparator: VersionComparator, file: string): number {
  const vectors = readVectors(file);
  assert.ok(vectors.length > 0, `${file} has no vectors`);
  const failures: string[] = [];
  for (const v of vectors) {
    const forward = comparator.compare(v.a, v.b);
    const backward = comparator.compare(v.b, v.a);
    if (forward !== v.want || backward !== -v.want) {
      failures.push(`${file}:${v.line}: ${v.text} (compare gave ${forward}, reversed ${backward})`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} of ${vectors.length} failed:\n${failures.slice(0, 20).join('\n')}`);
  return vectors.length;
}

const FILES: [string, VersionComparator][] = [
  ['alpine', apkComparator],
  ['debian', dpkgComparator],
  ['redhat', rpmComparator],
  ['semver', semverComparator],
  ['pypi', pep440Comparator],
  ['maven', mavenComparator],
];

describe('version vectors from ../shared/data/versions', () => {
  test('the vector folder is there', () => {
    assert.ok(existsSync(DATA), `version vectors expected in ${DATA} (shared/data/versions beside the repository)`);
  });

  for (const [prefix, comparator] of FILES) {
    test(`${prefix}: every vector line holds both ways`, (t) => {
      assert.ok(existsSync(DATA), `version vectors expected in ${DATA}`);
      const files = readdirSync(DATA).filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.txt')).sort();
      assert.ok(files.length > 0, `no ${prefix}-*.txt in ${DATA}`);
      for (const file of files) t.diagnostic(`${file}: ${checkFile(comparator, file)} lines passed`);
    });
  }
});
