// formatSyslog: the exact RFC 5424 line for a fixed record, SD escaping, UTF-8 MSG with BOM, severities,
// header limits and NILVALUEs, size bounds; every output is parsed back with an RFC 5424 grammar.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatSyslog, truncateUtf8, type AuditRecordForSyslog } from '../../src/audit/syslog.js';

const HASH = '3f7a'.repeat(16);
const RECORD: AuditRecordForSyslog = {
  seq: 42, at: Date.UTC(2024, 4, 17, 9, 30, 15, 123), actor: 'alice', actorSource: 'ldap', address: '203.0.113.7',
  userAgent: 'docker/26.1.0 go/go1.22.2', action: 'manifest.push', resource: 'repository:library/alpine:3.20', outcome: 'success',
  requestId: 'req-7f3a', hash: HASH, detail: { digest: `sha256:${'b'.repeat(64)}`, tag: '3.20' },
};
const OPTS = { hostname: 'registry-1.example.test' };

// RFC 5424 §6 as a regular expression (SD-NAME: PRINTUSASCII except '=', SP, ']', '"'; PARAM-VALUE with
// only the three legal escapes, which is stricter than the RFC and so proves our escaping).
const SD_NAME = '(?:(?![="\\]])[\\x21-\\x7e]){1,32}';
const PARAM_VALUE = '(?:[^"\\\\\\]]|\\\\["\\\\\\]])*';
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_NAME}="${PARAM_VALUE}")*\\]`;
const RFC5424 = new RegExp(
  '^<(\\d{1,3})>([1-9]\\d{0,2}) '
  + '(-|\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,6})?(?:Z|[+-]\\d\\d:\\d\\d)) '
  + '([\\x21-\\x7e]{1,255}) ([\\x21-\\x7e]{1,48}) ([\\x21-\\x7e]{1,128}) ([\\x21-\\x7e]{1,32}) '
  + `(-|(?:${SD_ELEMENT})+)`
  + '(?: ([\\s\\S]*))?$',
);

interface Parsed { pri: number; timestamp: string; hostname: string; appName: string; procId: string; msgId: string; sdId: string; params: Record<string, string>; msg?: string }

function parse(line: string): Parsed {
  const m = RFC5424.exec(line);
  assert.ok(m, `not RFC 5424: ${JSON.stringify(line)}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId, sd, msg] = m;
  assert.equal(version, '1');
  assert.ok(Number(pri) <= 191);
  const el = new RegExp(`^\\[(${SD_NAME})((?: ${SD_NAME}="${PARAM_VALUE}")*)\\]$`).exec(sd);
  assert.ok(el, 'one SD-ELEMENT');
  const params: Record<string, string> = {};
  for (const p of el[2].matchAll(new RegExp(` (${SD_NAME})="(${PARAM_VALUE})"`, 'g'))) params[p[1]] = p[2].replace(/\\(["\\\]])/g, '$1');
  return { pri: Number(pri), timestamp, hostname, appName, procId, msgId, sdId: el[1], params, msg };
}

describe('formatSyslog', () => {
  test('the exact line for a fixed record', () => {
    const line = formatSyslog(RECORD, OPTS);
    assert.equal(line,
      '<85>1 2024-05-17T09:30:15.123Z registry-1.example.test berth - manifest.push '
      + `[berth@32473 seq="42" actor="alice" source="ldap" addr="203.0.113.7" outcome="success" resource="repository:library/alpine:3.20" requestId="req-7f3a" hash="${HASH}" action="manifest.push" userAgent="docker/26.1.0 go/go1.22.2"] `
      + `\uFEFFmanifest.push on repository:library/alpine:3.20 by alice succeeded {"digest":"sha256:${'b'.repeat(64)}","tag":"3.20"}`);
    // the BOM is the three octets EF BB BF right after "] " (RFC 5424 §6.4)
    const bytes = Buffer.from(line, 'utf8');
    const at = bytes.indexOf(Buffer.from('] ', 'latin1')) + 2;
    assert.deepEqual([...bytes.subarray(at, at + 3)], [0xef, 0xbb, 0xbf]);
    const p = parse(line);
    assert.deepEqual(p.params, {
      seq: '42', actor: 'alice', source: 'ldap', addr: '203.0.113.7', outcome: 'success', resource: 'repository:library/alpine:3.20',
      requestId: 'req-7f3a', hash: HASH, action: 'manifest.push', userAgent: 'docker/26.1.0 go/go1.22.2',
    });
    assert.equal(p.sdId, 'berth@32473');
    assert.equal(new Date(p.timestamp).getTime(), RECORD.at, 'milliseconds survive');
  });

  test('\'"\', \'\\\' and \']\' are escaped in SD values, and a hostile value stays one value', () => {
    const hostile = { ...RECORD, actor: 'a"b\\c]d', resource: 'x" admin="true"] [forged@1 k="v', userAgent: '\\"]', address: '[::1]' };
    const line = formatSyslog(hostile, OPTS);
    assert.ok(line.includes(' actor="a\\"b\\\\c\\]d" '), line);
    assert.ok(line.includes(' addr="[::1\\]" '), '"[" needs no escape');
    assert.ok(line.includes(' userAgent="\\\\\\"\\]"]'), line);
    const p = parse(line);
    assert.equal(p.params.actor, hostile.actor);
    assert.equal(p.params.resource, hostile.resource);
    assert.equal(p.params.userAgent, hostile.userAgent);
    assert.equal(p.params.addr, hostile.address);
    assert.equal(Object.keys(p.params).length, 10, 'no injected parameter');
  });

  test('non-ASCII: UTF-8 in SD values and MSG, never in header fields', () => {
    const r = { ...RECORD, actor: 'Žofia 山田', action: 'tag.löschen', resource: 'repository:équipe/app:v1', detail: { note: 'Grüße 🚢' } };
    const line = formatSyslog(r, { hostname: 'hôte.example' });
    const p = parse(line);
    assert.equal(p.hostname, 'h_te.example');
    assert.equal(p.msgId, 'tag.l_schen');
    assert.equal(p.params.actor, 'Žofia 山田');
    assert.equal(p.params.action, 'tag.löschen', 'the exact action stays in SD');
    assert.equal(p.msg, '\uFEFFtag.löschen on repository:équipe/app:v1 by Žofia 山田 succeeded {"note":"Grüße 🚢"}');
    // survives a round trip through octets (what the transport carries)
    assert.equal(Buffer.from(line, 'utf8').toString('utf8'), line);
  });

  test('severity follows the outcome; facility defaults to 10 (authpriv) and can be changed', () => {
    assert.equal(parse(formatSyslog({ ...RECORD, outcome: 'success' }, OPTS)).pri, 10 * 8 + 5);
    assert.equal(parse(formatSyslog({ ...RECORD, outcome: 'failure' }, OPTS)).pri, 10 * 8 + 4);
    assert.equal(parse(formatSyslog({ ...RECORD, outcome: 'denied' }, OPTS)).pri, 10 * 8 + 4);
    assert.equal(parse(formatSyslog({ ...RECORD, outcome: 'denied' }, { ...OPTS, facility: 13 })).pri, 13 * 8 + 4);
    assert.ok(formatSyslog({ ...RECORD, outcome: 'success' }, { ...OPTS, facility: 0 }).startsWith('<5>1 '));
    assert.ok(formatSyslog({ ...RECORD, outcome: 'failure' }, OPTS).includes(' by alice failed '));
    assert.ok(formatSyslog({ ...RECORD, outcome: 'denied' }, OPTS).includes(' by alice was denied '));
    for (const bad of [-1, 24, 1.5, Number.NaN]) assert.throws(() => formatSyslog(RECORD, { ...OPTS, facility: bad }), RangeError);
  });

  test('header fields: printable US-ASCII only, cut to 255/48/128/32', () => {
    const p = parse(formatSyslog({ ...RECORD, action: 'repository delete with a very long name here' },
      { hostname: 'h'.repeat(300), appName: 'a'.repeat(60), procId: 'p'.repeat(200) }));
    assert.equal(p.hostname, 'h'.repeat(255));
    assert.equal(p.appName, 'a'.repeat(48));
    assert.equal(p.procId, 'p'.repeat(128));
    assert.equal(p.msgId, 'repository_delete_with_a_very_lo');
    assert.equal(p.msgId.length, 32);
    const q = parse(formatSyslog({ ...RECORD, action: 'a\tb\nc\u007fd' }, { hostname: 'my host\r\n', appName: 'berth api', procId: '12 34' }));
    assert.deepEqual([q.hostname, q.appName, q.procId, q.msgId], ['my_host__', 'berth_api', '12_34', 'a_b_c_d']);
  });

  test('NILVALUE for empty header fields and an unusable timestamp', () => {
    const p = parse(formatSyslog({ ...RECORD, action: '' }, { hostname: '', appName: '' }));
    assert.deepEqual([p.hostname, p.appName, p.procId, p.msgId], ['-', '-', '-', '-']);
    assert.equal(parse(formatSyslog(RECORD, { ...OPTS, procId: '4711' })).procId, '4711');
    for (const at of [Number.NaN, Number.POSITIVE_INFINITY, Date.UTC(10000, 0, 1), -1e15]) assert.equal(parse(formatSyslog({ ...RECORD, at }, OPTS)).timestamp, '-');
    assert.equal(parse(formatSyslog({ ...RECORD, at: 0 }, OPTS)).timestamp, '1970-01-01T00:00:00.000Z');
    // empty SD values are legal (PARAM-VALUE may be empty), the SD-ELEMENT is always present
    const e = parse(formatSyslog({ ...RECORD, address: '', userAgent: '', requestId: '' }, OPTS));
    assert.deepEqual([e.params.addr, e.params.userAgent, e.params.requestId], ['', '', '']);
  });

  test('MSG: without detail, anonymous actor, control characters, unserializable detail', () => {
    assert.equal(parse(formatSyslog({ ...RECORD, detail: undefined }, OPTS)).msg, '\uFEFFmanifest.push on repository:library/alpine:3.20 by alice succeeded');
    assert.equal(parse(formatSyslog({ ...RECORD, detail: null, actor: '', resource: '' }, OPTS)).msg, '\uFEFFmanifest.push by anonymous succeeded');
    // MSG avoids octets below 32 (§6.4); the SD value keeps the exact bytes (octet counting frames it)
    const c = parse(formatSyslog({ ...RECORD, actor: 'eve\nFAKE LINE', detail: { s: 'a\nb' } }, OPTS));
    assert.equal(c.msg, '\uFEFFmanifest.push on repository:library/alpine:3.20 by eve\uFFFDFAKE LINE succeeded {"s":"a\\nb"}');
    assert.equal(c.params.actor, 'eve\nFAKE LINE');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.ok(parse(formatSyslog({ ...RECORD, detail: cyclic }, OPTS)).msg!.endsWith(' {"_unserializable":true}'));
    assert.ok(parse(formatSyslog({ ...RECORD, detail: { n: 10n } }, OPTS)).msg!.endsWith(' {"_unserializable":true}'));
  });

  test('size: MSG is cut to maxBytes at a character boundary; SD values are capped', () => {
    const big = { ...RECORD, detail: { blob: '🚢é'.repeat(5000) } };
    const line = formatSyslog(big, OPTS);
    const bytes = Buffer.byteLength(line, 'utf8');
    assert.ok(bytes <= 8192 && bytes > 8180, `${bytes} octets`);
    assert.ok(line.endsWith('…'));
    assert.ok(!line.includes('\uFFFD'), 'no character split');
    parse(line);
    const small = formatSyslog(big, { ...OPTS, maxBytes: 1000 });
    assert.ok(Buffer.byteLength(small, 'utf8') <= 1000);
    parse(small);
    assert.throws(() => formatSyslog(RECORD, { ...OPTS, maxBytes: 100 }), RangeError);
    // a hostile user agent cannot crowd out the rest
    const ua = parse(formatSyslog({ ...RECORD, userAgent: '"'.repeat(10_000) }, OPTS));
    assert.ok(Buffer.byteLength(ua.params.userAgent) <= 2048 && ua.params.userAgent.endsWith('…'));
    assert.ok(ua.msg, 'MSG still present');
  });

  test('enterprise id: dotted PEN accepted, anything else refused', () => {
    assert.equal(parse(formatSyslog(RECORD, { ...OPTS, enterpriseId: '32473.1.2' })).sdId, 'berth@32473.1.2');
    for (const bad of ['', 'abc', '1 2', '1"', '1.'.repeat(20) + '1']) assert.throws(() => formatSyslog(RECORD, { ...OPTS, enterpriseId: bad }), RangeError);
  });

  test('truncateUtf8 keeps surrogate pairs and multi-byte characters whole', () => {
    assert.equal(truncateUtf8('abc', 3), 'abc');
    assert.equal(truncateUtf8('abcd', 3, ''), 'abc');
    assert.equal(truncateUtf8('🚢🚢', 7, ''), '🚢');
    assert.equal(truncateUtf8('éé', 3, ''), 'é');
    assert.equal(truncateUtf8('éééé', 6), 'é…', 'the marker counts against the limit');
  });

  test('every output of assorted hostile records is well-formed', () => {
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const alphabet = ['a', 'Z', ' ', '"', '\\', ']', '[', '=', '\n', '\u0000', 'é', '山', '🚢', '\ud800', '-', '@'];
    const str = (n: number) => Array.from({ length: Math.floor(rnd() * n) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    const outcomes = ['success', 'failure', 'denied'] as const;
    for (let i = 0; i < 500; i++) {
      const r: AuditRecordForSyslog = {
        seq: i, at: Math.floor(rnd() * 4e12), actor: str(20), actorSource: str(5), address: str(10), userAgent: str(40), action: str(40),
        resource: str(60), outcome: outcomes[i % 3], requestId: str(10), hash: str(10), detail: rnd() < 0.5 ? undefined : { k: str(30) },
      };
      const line = formatSyslog(r, { hostname: str(20), appName: str(10), procId: str(10) });
      const p = parse(Buffer.from(line, 'utf8').toString('utf8'));
      assert.equal(p.params.seq, String(i));
    }
  });
});
