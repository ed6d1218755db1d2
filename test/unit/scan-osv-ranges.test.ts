// OSV range evaluation on real records in ../shared/data/osv: golang/vulndb and github/advisory-database
// (CC-BY-4.0; see SOURCES.md there). Each case picks versions on both sides of a fixed event.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { affects } from '../../src/scan/versions/affects.js';
import { goToolchainSemver } from '../../src/scan/versions/go-version.js';
import { normalizePypiName } from '../../src/scan/versions/pypi-name.js';
import { comparatorFor } from '../../src/scan/versions/ecosystems.js';
import { semverComparator } from '../../src/scan/versions/semver.js';
import type { OsvAffected, OsvRecord } from '../../src/scan/versions/osv.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OSV = path.join(repoRoot, '..', 'shared', 'data', 'osv');

function record(rel: string): OsvRecord {
  const file = path.join(OSV, rel);
  assert.ok(existsSync(file), `OSV record expected at ${file} (shared/data/osv beside the repository)`);
  return JSON.parse(readFileSync(file, 'utf8')) as OsvRecord;
}

/** Whether any affected entry of the record for (ecosystem, name) covers version. */
function hits(rec: OsvRecord, ecosystem: string, name: string, version: string): boolean {
  const normalize = ecosystem === 'PyPI' ? normalizePypiName : (n: string) => n;
  return (rec.affected ?? []).some(
    (a) => a.package?.ecosystem === ecosystem && normalize(a.package.name) === normalize(name) && affects(a, version),
  );
}

describe('Go stdlib records (golang/vulndb)', () => {
  test('the record folder is there', () => {
    assert.ok(existsSync(OSV), `OSV records expected in ${OSV} (shared/data/osv beside the repository)`);
  });

  test('go1.19.8 is affected by all 20 records of osv/go/stdlib', () => {
    const dir = path.join(OSV, 'go', 'stdlib');
    assert.ok(existsSync(dir), `expected ${dir}`);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    assert.equal(files.length, 20);
    const missed = files.filter((f) => !hits(record(`go/stdlib/${f}`), 'Go', 'stdlib', 'go1.19.8'));
    assert.deepEqual(missed, []);
    // the normalized form gives the same answer
    assert.ok(files.every((f) => hits(record(`go/stdlib/${f}`), 'Go', 'stdlib', '1.19.8')));
  });

  test('each stdlib record stops at its first fixed version', () => {
    // GO-2023-1878: introduced 0, fixed 1.19.11, introduced 1.20.0-0, fixed 1.20.6
    const rec = record('go/stdlib/GO-2023-1878.json');
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.19.10'), true);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.19.11'), false);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.20rc1'), true, '1.20.0-rc.1 is after 1.20.0-0');
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.20.5'), true);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.20.6'), false);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.21.0'), false);
  });

  test('GO-2026-5942 does not affect go1.19.8 (1.27.0-0 < 1.27.0-rc.3 is pre-release order)', () => {
    const rec = record('go/modules/GO-2026-5942.json');
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.19.8'), false);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.26.5'), true);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.26.6'), false);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.27rc2'), true);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.27rc3'), false);
    assert.equal(hits(rec, 'Go', 'stdlib', 'go1.27.0'), false);
    // its other package: golang.org/x/net before 0.56.0
    assert.equal(hits(rec, 'Go', 'golang.org/x/net', 'v0.55.0'), true);
    assert.equal(hits(rec, 'Go', 'golang.org/x/net', 'v0.56.0'), false);
  });
});

describe('Go module records', () => {
  const cases: [file: string, module: string, affected: string[], unaffected: string[]][] = [
    ['GO-2020-0019.json', 'github.com/gorilla/websocket', ['v1.4.0', 'v0.0.0-20180101000000-abcdefabcdef'], ['v1.4.1', 'v1.5.0']],
    ['GO-2022-0379.json', 'github.com/docker/distribution', ['v2.7.1+incompatible'], ['v2.8.0+incompatible', 'v2.8.1+incompatible']],
    ['GO-2022-0603.json', 'gopkg.in/yaml.v3', ['v3.0.0-20210107192922-496545a6307b'], ['v3.0.0-20220521103104-8f96da9f5d5e', 'v3.0.1']],
    ['GO-2023-1737.json', 'github.com/gin-gonic/gin', ['v1.9.0', 'v1.3.1-0.20190301021747-ccb9e902956d'], ['v1.3.0', 'v1.9.1']],
    ['GO-2024-2978.json', 'google.golang.org/grpc', ['v1.64.0'], ['v1.63.2', 'v1.64.1', 'v1.65.0']],
    ['GO-2025-4098.json', 'github.com/opencontainers/runc', ['v1.2.7', 'v1.3.2', 'v1.4.0-rc.2'], ['v1.2.8', 'v1.3.3', 'v1.4.0-rc.3', 'v1.4.0']],
    ['GO-2025-4188.json', 'github.com/sirupsen/logrus', ['v1.8.1', 'v1.9.0', 'v1.9.2'], ['v1.8.3', 'v1.9.1', 'v1.9.3']],
    ['GO-2025-4240.json', 'k8s.io/kubernetes', ['v1.32.9', 'v1.33.0-beta.0', 'v1.34.1'], ['v1.32.10', 'v1.33.6', 'v1.34.2']],
    ['GO-2026-5758.json', 'github.com/containerd/containerd/v2', ['v2.0.9', 'v2.1.8', 'v2.2.4', 'v2.3.1'], ['v1.9.9', 'v2.0.10', 'v2.1.9', 'v2.2.5', 'v2.3.2']],
    ['GO-2026-5758.json', 'github.com/containerd/containerd', ['v1.7.32'], ['v1.6.38', 'v1.7.33']],
    ['GO-2025-3553.json', 'github.com/golang-jwt/jwt/v5', ['v5.0.0-rc.1', 'v5.2.1'], ['v5.0.0-beta.1', 'v5.2.2']],
    ['GO-2026-5694.json', 'github.com/sigstore/cosign', ['v1.13.6'], []],
  ];
  for (const [file, module, yes, no] of cases) {
    test(`${file} ${module}`, () => {
      const rec = record(`go/modules/${file}`);
      for (const v of yes) assert.equal(hits(rec, 'Go', module, v), true, `${module}@${v} should be affected`);
      for (const v of no) assert.equal(hits(rec, 'Go', module, v), false, `${module}@${v} should not be affected`);
    });
  }
});

describe('npm records (github/advisory-database)', () => {
  test('lodash 4.17.20 is affected by GHSA-35jh-r3h4-6jhm, 4.17.21 is not', () => {
    const rec = record('npm/GHSA-35jh-r3h4-6jhm.json');
    assert.equal(hits(rec, 'npm', 'lodash', '4.17.20'), true);
    assert.equal(hits(rec, 'npm', 'lodash', '4.17.21'), false);
    assert.equal(hits(rec, 'npm', 'lodash-es', '4.17.20'), true);
    assert.equal(hits(rec, 'npm', 'lodash', '4.17.21-pre'), true, 'a pre-release of the fix is before it');
  });

  test('semver: three ranges (GHSA-c2qf-rxjj-qqgw)', () => {
    const rec = record('npm/GHSA-c2qf-rxjj-qqgw.json');
    for (const v of ['7.5.1', '7.0.0', '6.3.0', '5.7.1']) assert.equal(hits(rec, 'npm', 'semver', v), true, v);
    for (const v of ['7.5.2', '6.3.1', '5.7.2', '6.0.0-rc.1', '8.0.0']) assert.equal(hits(rec, 'npm', 'semver', v), false, v);
  });

  test('json5: two ranges (GHSA-9c47-m6qq-7p4h)', () => {
    const rec = record('npm/GHSA-9c47-m6qq-7p4h.json');
    for (const v of ['1.0.1', '2.2.1', '0.5.1', '2.0.0']) assert.equal(hits(rec, 'npm', 'json5', v), true, v);
    for (const v of ['1.0.2', '2.2.2', '1.1.0', '2.2.3']) assert.equal(hits(rec, 'npm', 'json5', v), false, v);
  });

  test('minimatch < 3.0.5 (GHSA-f8q6-p94x-37v3)', () => {
    const rec = record('npm/GHSA-f8q6-p94x-37v3.json');
    assert.equal(hits(rec, 'npm', 'minimatch', '3.0.4'), true);
    assert.equal(hits(rec, 'npm', 'minimatch', '3.0.5'), false);
  });
});

describe('PyPI records (PEP 440 order, PEP 503 names)', () => {
  test('requests 2.3.0 to before 2.31.0 (GHSA-j8r2-6x86-q33q)', () => {
    const rec = record('pypi/GHSA-j8r2-6x86-q33q.json');
    for (const v of ['2.3.0', '2.30.0', '2.31.0rc1', '2.31.0.dev0']) assert.equal(hits(rec, 'PyPI', 'requests', v), true, v);
    for (const v of ['2.2.1', '2.31.0', '2.31', '2.31.0.post1', '3.0.0']) assert.equal(hits(rec, 'PyPI', 'requests', v), false, v);
  });

  test('urllib3: two ranges (GHSA-v845-jxx5-vc9f)', () => {
    const rec = record('pypi/GHSA-v845-jxx5-vc9f.json');
    for (const v of ['1.26.16', '2.0.5', '2.0.0']) assert.equal(hits(rec, 'PyPI', 'urllib3', v), true, v);
    for (const v of ['1.26.17', '2.0.6', '2.1.0', '2.0.0b1']) assert.equal(hits(rec, 'PyPI', 'urllib3', v), false, v);
  });

  test('PyYAML < 5.4, whatever the spelling of the name (GHSA-8q59-q68h-6hv4)', () => {
    const rec = record('pypi/GHSA-8q59-q68h-6hv4.json');
    for (const name of ['PyYAML', 'pyyaml', 'PYYAML']) {
      assert.equal(hits(rec, 'PyPI', name, '5.3.1'), true, name);
      assert.equal(hits(rec, 'PyPI', name, '5.4'), false, name);
    }
    assert.equal(hits(rec, 'PyPI', 'PyYAML', '5.4b1'), true);
    assert.equal(hits(rec, 'PyPI', 'PyYAML', '5.4.0'), false, '5.4.0 == 5.4');
  });

  test('normalizePypiName follows PEP 503', () => {
    assert.equal(normalizePypiName('PyYAML'), 'pyyaml');
    assert.equal(normalizePypiName('Foo.Bar__baz-.qux'), 'foo-bar-baz-qux');
    assert.equal(normalizePypiName('zope.interface'), 'zope-interface');
  });
});

describe('Maven records', () => {
  test('jackson-databind: 4-part fixed versions (GHSA-57j2-w4cx-62h2)', () => {
    const rec = record('maven/GHSA-57j2-w4cx-62h2.json');
    const name = 'com.fasterxml.jackson.core:jackson-databind';
    for (const v of ['2.12.6', '2.13.2', '2.13.0', '2.13.1', '2.9.10.8']) assert.equal(hits(rec, 'Maven', name, v), true, v);
    for (const v of ['2.12.6.1', '2.13.2.1', '2.13.2.2', '2.13.3', '2.14.0']) assert.equal(hits(rec, 'Maven', name, v), false, v);
    // between the two ranges: after 2.12.6.1, before 2.13.0 (a release candidate is before its release)
    assert.equal(hits(rec, 'Maven', name, '2.12.7'), false);
    assert.equal(hits(rec, 'Maven', name, '2.13.0-rc1'), false);
  });

  test('commons-text 1.5 to before 1.10.0 (GHSA-599f-7c49-w659)', () => {
    const rec = record('maven/GHSA-599f-7c49-w659.json');
    const name = 'org.apache.commons:commons-text';
    for (const v of ['1.5', '1.9', '1.10.0-RC1', '1.6']) assert.equal(hits(rec, 'Maven', name, v), true, v);
    for (const v of ['1.4', '1.10.0', '1.10', '1.11.0']) assert.equal(hits(rec, 'Maven', name, v), false, v);
  });

  test('snakeyaml < 2.0 (GHSA-mjmj-j48q-9wg2)', () => {
    const rec = record('maven/GHSA-mjmj-j48q-9wg2.json');
    for (const v of ['1.33', '1.8', '2.0-SNAPSHOT']) assert.equal(hits(rec, 'Maven', 'org.yaml:snakeyaml', v), true, v);
    for (const v of ['2.0', '2.0.0', '2.2']) assert.equal(hits(rec, 'Maven', 'org.yaml:snakeyaml', v), false, v);
  });
});

describe('the evaluation rules of the schema', () => {
  const cmp = semverComparator.compare;
  const eco = (events: object[], extra: Partial<OsvAffected> = {}): OsvAffected => ({
    package: { ecosystem: 'npm', name: 'x' },
    ranges: [{ type: 'ECOSYSTEM', events }],
    ...extra,
  });

  test('introduced "0" alone: every version', () => {
    assert.equal(affects(eco([{ introduced: '0' }]), '0.0.1', cmp), true);
    assert.equal(affects(eco([{ introduced: '0' }]), '99.0.0', cmp), true);
  });

  test('last_affected is included, the version after it is not', () => {
    const a = eco([{ introduced: '1.0.0' }, { last_affected: '1.2.0' }]);
    assert.equal(affects(a, '0.9.0', cmp), false);
    assert.equal(affects(a, '1.2.0', cmp), true);
    assert.equal(affects(a, '1.2.1', cmp), false);
  });

  test('events out of order are sorted by the comparator', () => {
    const a = eco([{ fixed: '3.2.5' }, { introduced: '3.0.0' }, { fixed: '1.0.2' }, { introduced: '1.0.0' }]);
    for (const [v, want] of [['0.9.0', false], ['1.0.1', true], ['1.0.2', false], ['2.0.0', false], ['3.1.0', true], ['3.2.5', false]] as const) {
      assert.equal(affects(a, v, cmp), want, v);
    }
  });

  test('limit: versions at or above every limit are out of the range', () => {
    const a = eco([{ introduced: '1.0.0' }, { limit: '2.0.0' }]);
    assert.equal(affects(a, '1.5.0', cmp), true);
    assert.equal(affects(a, '2.0.0', cmp), false);
    const two = eco([{ introduced: '1.0.0' }, { limit: '2.0.0' }, { limit: '3.0.0' }]);
    assert.equal(affects(two, '2.5.0', cmp), true, 'below one of the limits');
    assert.equal(affects(eco([{ introduced: '1.0.0' }, { limit: '*' }]), '9.0.0', cmp), true);
  });

  test('several ranges: any one is enough', () => {
    const a: OsvAffected = {
      package: { ecosystem: 'npm', name: 'x' },
      ranges: [
        { type: 'ECOSYSTEM', events: [{ introduced: '1.0.0' }, { fixed: '1.1.0' }] },
        { type: 'SEMVER', events: [{ introduced: '2.0.0' }, { fixed: '2.1.0' }] },
      ],
    };
    assert.equal(affects(a, '1.0.5'), true);
    assert.equal(affects(a, '2.0.5'), true);
    assert.equal(affects(a, '1.5.0'), false);
  });

  test('versions[] lists single versions; GIT ranges are ignored; database_specific changes nothing', () => {
    const a: OsvAffected = {
      package: { ecosystem: 'PyPI', name: 'x' },
      versions: ['1.0', '1.2.post1'],
      ranges: [{ type: 'GIT', repo: 'https://example.invalid/x', events: [{ introduced: '0' }] }],
      database_specific: { last_known_affected_version_range: '<= 9.9' },
    };
    assert.equal(affects(a, '1.0'), true);
    assert.equal(affects(a, '1.0.0'), true, 'equal under PEP 440');
    assert.equal(affects(a, '1.2.post1'), true);
    assert.equal(affects(a, '1.1'), false);
    assert.equal(affects(a, '9.0'), false);
  });

  test('an ecosystem without a comparator matches only exact listed versions and SEMVER ranges', () => {
    const a: OsvAffected = {
      package: { ecosystem: 'Hackage', name: 'x' },
      versions: ['1.0.0'],
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }],
    };
    assert.equal(affects(a, '1.0.0'), true);
    assert.equal(affects(a, '2.0.0'), false);
  });

  test('SEMVER ranges use SemVer order even in another ecosystem', () => {
    const a: OsvAffected = {
      package: { ecosystem: 'PyPI', name: 'x' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.0-rc.2' }] }],
    };
    assert.equal(affects(a, '1.0.0-rc.1'), true);
    assert.equal(affects(a, '1.0.0-rc.10'), false, 'numeric pre-release identifiers compare as numbers');
  });

  test('Debian and Alpine ECOSYSTEM ranges use their own orders', () => {
    const deb = { package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u1' }] }] };
    assert.equal(affects(deb, '3.0.9-1'), true);
    assert.equal(affects(deb, '3.0.11-1~deb12u1'), false);
    assert.equal(affects(deb, '3.0.11-1'), false, '~ sorts before the end');
    const apk = { package: { ecosystem: 'Alpine:v3.18', name: 'busybox' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.36.1-r1' }] }] };
    assert.equal(affects(apk, '1.36.1-r0'), true);
    assert.equal(affects(apk, '1.36.1-r1'), false);
    assert.equal(affects(apk, '1.36.1_rc1-r9'), true);
  });
});

describe('goToolchainSemver', () => {
  test('toolchain names become the SemVer the Go database uses', () => {
    assert.equal(goToolchainSemver('go1.19.8'), '1.19.8');
    assert.equal(goToolchainSemver('go1.20'), '1.20.0');
    assert.equal(goToolchainSemver('go1.21rc2'), '1.21.0-rc.2');
    assert.equal(goToolchainSemver('go1.9beta1'), '1.9.0-beta.1');
    assert.equal(goToolchainSemver('go1'), '1.0.0');
    assert.equal(goToolchainSemver('go1.22.1 X:boringcrypto'), '1.22.1');
    assert.equal(goToolchainSemver('devel go1.23-abcdef'), undefined);
    assert.equal(goToolchainSemver('v1.2.3'), undefined);
    assert.equal(goToolchainSemver('go1.0'), undefined);
  });

  test('comparatorFor picks the order by the ecosystem prefix', () => {
    assert.equal(comparatorFor('Go'), semverComparator);
    assert.equal(comparatorFor('Hackage'), undefined);
  });
});
