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
import { packagistComparator } from '../../src/scan/versions/packagist.js';
import { rubygemsComparator } from '../../src/scan/versions/rubygems.js';
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
  ['packagist', packagistComparator],
  ['rubygems', rubygemsComparator],
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

/** Asserts a strictly ascending chain, checking every pair both ways. */
function ascending(c: VersionComparator, chain: string[]): void {
  for (let i = 0; i < chain.length; i++) {
    for (let j = 0; j < chain.length; j++) {
      const want = i < j ? -1 : i > j ? 1 : 0;
      assert.equal(c.compare(chain[i], chain[j]), want, `${chain[i]} vs ${chain[j]}`);
    }
  }
}

describe('the rules the specifications state', () => {
  test('dpkg: epoch first, ~ before anything, letters before other characters (Policy 5.6.12)', () => {
    ascending(dpkgComparator, ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0-1', '1.0-1+b1', '1.0a', '1.0+', '1.0.1', '1.1', '9.9', '1:0.1', '2:0']);
    assert.equal(dpkgComparator.compare('1.0', '1.0-0'), 0, 'no revision is revision 0');
    assert.equal(dpkgComparator.compare('0:1.0', '1.0'), 0);
    assert.equal(dpkgComparator.compare('1.2.3-1~deb12u1', '1.2.3-1'), -1);
    assert.equal(dpkgComparator.valid('1:2.3-4ubuntu0.1'), true);
    assert.equal(dpkgComparator.valid('2.3'), true);
    for (const v of ['', 'a1.0', '1.0-', '-1', 'x:1.0', '1:', '1.0 1', '1:2:3-a_b']) assert.equal(dpkgComparator.valid(v), false, v);
  });

  test('rpm: rpmvercmp segments, ~ and ^, epoch:version-release', () => {
    ascending(rpmComparator, ['1.0~rc1', '1.0', '1.0^git1', '1.0^git2', '1.0a', '1.0.1', '1.1', '1:0.1']);
    assert.equal(rpmComparator.compare('1.0-1.el9', '1.0-1.el9_2'), -1);
    assert.equal(rpmComparator.compare('2.02-150.el8', '1:2.02-90.el8'), -1, 'epoch wins');
    assert.equal(rpmComparator.compare('1.01', '1.1'), 0, 'leading zeros ignored');
    assert.equal(rpmComparator.compare('1.0', '1.0-1'), -1, 'a release sorts after none');
    assert.equal(rpmComparator.valid('1:3.10.0-229.el7'), true);
    assert.equal(rpmComparator.valid(''), false);
  });

  test('apk: suffixes, letters, revisions', () => {
    ascending(apkComparator, ['1.2_alpha1', '1.2_beta', '1.2_pre2', '1.2_rc1', '1.2', '1.2-r1', '1.2_cvs1', '1.2_svn1', '1.2_git1', '1.2_hg1', '1.2_p1', '1.2a', '1.2b', '1.2.1']);
    assert.equal(apkComparator.compare('1.36.1-r0', '1.36.1-r10'), -1);
    assert.equal(apkComparator.compare('1.0~abc-r1', '1.0~abc-r1'), 0);
    assert.equal(apkComparator.valid('1.2.3_rc1-r0'), true);
    assert.equal(apkComparator.valid('1.2.3a_p2~f00d-r4'), true);
    for (const v of ['', '1.2.3A', '1.2_blah', '1.0-ruff', '6.6.2p1', '0..1', '.1']) assert.equal(apkComparator.valid(v), false, v);
  });

  test('semver: §11 precedence, build metadata ignored, leading v accepted', () => {
    ascending(semverComparator, ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0']);
    assert.equal(semverComparator.compare('v1.2.3+incompatible', '1.2.3'), 0);
    assert.equal(semverComparator.compare('1.27.0-0', '1.27.0-rc.3'), -1, 'numeric identifiers before alphanumeric');
    // Go pseudo-versions order as pre-releases
    ascending(semverComparator, ['v0.0.0-20190101000000-aaaaaaaaaaaa', 'v0.0.0-20200101000000-000000000000', 'v0.1.0', 'v1.2.4-0.20191109021931-daa7c04131f5', 'v1.2.4']);
    assert.equal(semverComparator.valid('1.2.3-rc.1+build.5'), true);
    assert.equal(semverComparator.valid('v1.2.3'), true);
    for (const v of ['1.2', '01.2.3', '1.2.3-01', '1.2.3-', '1.2.3+', 'go1.19.8']) assert.equal(semverComparator.valid(v), false, v);
  });

  test('PEP 440: epochs, pre, post, dev, local, normalization', () => {
    ascending(pep440Comparator, ['1.0.dev0', '1.0a1.dev1', '1.0a1', '1.0b2', '1.0rc1', '1.0', '1.0+local.1', '1.0.post1.dev1', '1.0.post1', '1.1', '1!0.1']);
    for (const [a, b] of [['1.0', '1.0.0'], ['1.0alpha1', '1.0a1'], ['1.0-c1', '1.0rc1'], ['1.0-1', '1.0.post1'], ['1.0rev', '1.0.post0'], ['V1.0', '1.0'], ['1.0.DEV', '1.0.dev0'], ['1.0+Ubuntu.1', '1.0+ubuntu-1']]) {
      assert.equal(pep440Comparator.compare(a, b), 0, `${a} = ${b}`);
    }
    assert.equal(pep440Comparator.compare('1.0+abc', '1.0+1'), -1, 'numeric local segments above strings');
    assert.equal(pep440Comparator.compare('french toast', '0.1'), -1, 'a legacy version is before every PEP 440 one');
    assert.equal(pep440Comparator.valid('2!1.0.post2.dev3+abc.4'), true);
    for (const v of ['', 'french toast', '1.0+', '1.0+a..b', '1..0', '1.0-']) assert.equal(pep440Comparator.valid(v), false, v);
  });

  test('Maven: qualifier order and separators', () => {
    ascending(mavenComparator, ['1-alpha-1', '1-beta-1', '1-milestone-1', '1-rc-1', '1-SNAPSHOT', '1', '1-sp', '1-abc', '1-1', '1.1']);
    for (const [a, b] of [['1', '1.0.0'], ['1.ga', '1'], ['1-final', '1'], ['1cr', '1rc'], ['1a1', '1-alpha-1'], ['1.0.0-RELEASE', '1'], ['1-0', '1']]) {
      assert.equal(mavenComparator.compare(a, b), 0, `${a} = ${b}`);
    }
    assert.equal(mavenComparator.compare('2.13.2.1', '2.13.2'), 1, 'a fourth number is newer');
    assert.equal(mavenComparator.compare('1.10.0', '1.9'), 1);
  });

  test('Packagist: PHP version_compare forms, a leading v ignored', () => {
    ascending(packagistComparator, ['1.0-dev', '1.0alpha1', '1.0b1', '1.0RC1', '1.0', '1.0.1', '1.0pl1', 'v1.1']);
    assert.equal(packagistComparator.compare('1.0rc1', '1.0RC1'), 0);
    assert.equal(packagistComparator.compare('dev-main', '0.0.1'), -1);
    assert.equal(packagistComparator.compare('1.0.0', '1.0'), 1, 'a further number is newer');
  });

  test('RubyGems: segments, strings before numbers, trailing zeros', () => {
    ascending(rubygemsComparator, ['1.0.a1', '1.0.a.2', '1.0.b1', '1.0.pre', '1.0.rc1', '1.0', '1.0.1', '1.1']);
    assert.equal(rubygemsComparator.compare('1.0.0', '1'), 0);
    assert.equal(rubygemsComparator.compare('1.0-1', '1.0.pre.1'), 0, "'-' is .pre.");
    assert.equal(rubygemsComparator.valid('1.2.3.beta1'), true);
    assert.equal(rubygemsComparator.valid('1..2'), false);
  });
});

describe('comparatorFor', () => {
  test('OSV ecosystem names map by the part before ":"', () => {
    const cases: [string, VersionComparator | undefined][] = [
      ['Debian', dpkgComparator], ['Debian:12', dpkgComparator], ['Ubuntu:22.04', dpkgComparator], ['Ubuntu:Pro:18.04:LTS', dpkgComparator],
      ['Alpine', apkComparator], ['Alpine:v3.18', apkComparator],
      ['Red Hat', rpmComparator], ['Red Hat:rhel_aus:8.4::appstream', rpmComparator], ['AlmaLinux:9', rpmComparator],
      ['Rocky Linux:8', rpmComparator], ['openSUSE:Tumbleweed', rpmComparator],
      ['npm', semverComparator], ['Go', semverComparator], ['crates.io', semverComparator],
      ['PyPI', pep440Comparator], ['Maven', mavenComparator], ['Maven:https://maven.google.com', mavenComparator],
      ['Packagist', packagistComparator], ['Packagist:https://packages.drupal.org/8', packagistComparator], ['RubyGems', rubygemsComparator],
      ['Hackage', undefined], ['', undefined], ['debian', undefined],
    ];
    for (const [ecosystem, want] of cases) assert.equal(comparatorFor(ecosystem), want, ecosystem);
  });
});

describe('hostile input', () => {
  // Each comparator reads its input once (no backtracking regexes): these finish at once; a quadratic or
  // exponential parser would not finish within the test run.
  const hostile = [
    '1.'.repeat(50_000), '0'.repeat(100_000), '9'.repeat(100_000) + 'a', 'a-'.repeat(50_000), '~'.repeat(100_000),
    '1' + '_alpha'.repeat(20_000), '1.0-' + 'r'.repeat(100_000), '1!' + '1.'.repeat(40_000) + 'a', `1.0.0-${'a.'.repeat(50_000)}`,
    '+'.repeat(100_000), '1' + '-1'.repeat(50_000), 'v' + '.0'.repeat(50_000) + '+',
  ];
  for (const [name, c] of FILES) {
    test(`${name}: long malformed strings compare and validate`, () => {
      for (const h of hostile) {
        const r = c.compare(h, h + '1');
        assert.ok(r === -1 || r === 0 || r === 1);
        assert.equal(c.compare(h, h), 0);
        assert.equal(typeof c.valid(h), 'boolean');
      }
    });
  }
});
