// CVSS scores. v3.1: the worked examples of FIRST's "CVSS v3.1 Examples" document. v4.0: vectors whose
// scores FIRST's calculator gives (the first is the specification's own example); beyond these, the
// implementation agreed with an independent calculator on 20,000 random v4 vectors while it was written.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cvss3BaseScore, cvss4Score, cvssSeverity, osvCvssSeverity, severityOfScore } from '../../src/scan/versions/cvss.js';

describe('CVSS v3.x base score', () => {
  const examples: [vector: string, score: number, severity: string][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'critical'], // CVE-2014-6271 Shellshock
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'medium'], // CVE-2013-1937 phpMyAdmin XSS
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N', 6.4, 'medium'], // CVE-2013-0375 MySQL
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N', 3.1, 'low'], // CVE-2014-3566 POODLE
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H', 9.9, 'critical'], // CVE-2012-1516 VMware escape
    ['CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L', 4.2, 'medium'], // CVE-2009-0783 Tomcat
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 8.8, 'high'], // CVE-2012-0384 Cisco IOS
    ['CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H', 7.8, 'high'], // CVE-2015-1098 iWork
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5, 'high'], // CVE-2014-0160 Heartbleed
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:H/A:N', 6.8, 'medium'], // CVE-2008-1447 DNS
    ['CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 6.8, 'medium'], // CVE-2014-2005 Sophos
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N', 5.8, 'medium'], // CVE-2010-0467 Joomla
    ['CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:H', 9.3, 'critical'], // CVE-2013-6014 Juniper
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N', 5.4, 'medium'], // CVE-2014-9253 DokuWiki
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0, 'none'],
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'critical'],
  ];
  for (const [vector, score, severity] of examples) {
    test(`${vector} = ${score} ${severity}`, () => {
      assert.equal(cvss3BaseScore(vector)?.score, score);
      assert.deepEqual(cvssSeverity(vector), { version: vector.slice(5, 8), score, severity });
    });
  }

  test('temporal and environmental metrics are accepted and do not change the base score', () => {
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C/CR:L/MAV:P')?.score, 9.8);
  });

  test('malformed vectors give no score', () => {
    for (const v of [
      '', 'AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H',
      'CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1', 'CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P',
    ]) assert.equal(cvssSeverity(v), undefined, v);
  });
});

describe('CVSS v4.0 score (MacroVectors)', () => {
  const examples: [vector: string, score: number, severity: string][] = [
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 9.3, 'critical'],
    ['CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 8.5, 'high'],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N', 5.1, 'medium'],
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N', 1, 'low'],
    ['CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:H/SI:N/SA:H', 6.4, 'medium'],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N', 0, 'none'],
    // threat and environmental metrics take part in a v4 score
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P', 8.9, 'high'],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U', 9.1, 'critical'],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSI:S/MSA:S', 9.8, 'critical'],
    ['CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/CR:L/IR:L/AR:L/MAV:L', 4.1, 'medium'],
  ];
  for (const [vector, score, severity] of examples) {
    test(`${vector.slice(9)} = ${score} ${severity}`, () => {
      assert.equal(cvss4Score(vector), score);
      assert.deepEqual(cvssSeverity(vector), { version: '4.0', score, severity });
    });
  }

  test('malformed v4 vectors give no score', () => {
    assert.equal(cvss4Score('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N'), undefined);
    assert.equal(cvss4Score('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N'), undefined, 'S only for MSI/MSA');
    assert.equal(cvss4Score('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), undefined);
  });
});

describe('severity', () => {
  test('the qualitative rating scale', () => {
    assert.equal(severityOfScore(0), 'none');
    assert.equal(severityOfScore(0.1), 'low');
    assert.equal(severityOfScore(3.9), 'low');
    assert.equal(severityOfScore(4), 'medium');
    assert.equal(severityOfScore(6.9), 'medium');
    assert.equal(severityOfScore(7), 'high');
    assert.equal(severityOfScore(8.9), 'high');
    assert.equal(severityOfScore(9), 'critical');
    assert.equal(severityOfScore(10), 'critical');
  });

  test('an OSV severity list: v4 first, then v3; other types ignored', () => {
    assert.deepEqual(
      osvCvssSeverity([
        { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
        { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N' },
      ]),
      { version: '4.0', score: 5.1, severity: 'medium' },
    );
    assert.deepEqual(osvCvssSeverity([{ type: 'Ubuntu', score: 'high' }, { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' }]), { version: '3.1', score: 7.2, severity: 'high' });
    assert.equal(osvCvssSeverity([{ type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:P/I:P/A:P' }]), undefined);
    assert.equal(osvCvssSeverity(undefined), undefined);
  });
});
