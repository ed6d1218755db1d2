// The one error catalogue and its three surfaces: every code is answered on /v2, /token and /api/v1, the
// answers carry the headers their facts call for, and README.md's "Error codes" table says what they are.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../../src/errors/catalogue.js';
import { BerthError, isBerthError } from '../../src/errors/berth-error.js';
import { TokenError } from '../../src/errors/token-error.js';
import { OCI_CODES, V2_ERRORS, v2Error } from '../../src/http/errors/v2-errors.js';
import { TOKEN_ERRORS, tokenError } from '../../src/http/errors/token-errors.js';
import { API_ERRORS, API_STATUS, API_WIRE_CODES, apiError } from '../../src/http/errors/api-errors.js';
import type { Wire } from '../../src/http/errors/wire.js';
import { openApiDocument } from '../../src/http/routes/api/framework.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ctx = { requestId: 'req-1' };

const surfaces: { name: string; table: Record<ErrorCode, Wire<string>>; wire: readonly string[] }[] = [
  { name: '/v2', table: V2_ERRORS, wire: OCI_CODES },
  { name: '/token', table: TOKEN_ERRORS, wire: OCI_CODES },
  { name: '/api/v1', table: API_ERRORS, wire: API_WIRE_CODES },
];

describe('error catalogue', () => {
  test('every code has a default message and a meaning', () => {
    assert.ok(ERROR_CODES.length >= 30, `${ERROR_CODES.length} codes`);
    for (const code of ERROR_CODES) {
      assert.match(code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(ERROR_CATALOGUE[code].message.length > 0, `${code} message`);
      assert.ok(ERROR_CATALOGUE[code].meaning.length > 10, `${code} meaning`);
    }
  });

  test('every surface maps every code, and nothing else, to an error status and one of its wire codes', () => {
    for (const s of surfaces) {
      assert.deepEqual(Object.keys(s.table).sort(), [...ERROR_CODES].sort(), `${s.name} maps exactly the catalogue`);
      for (const code of ERROR_CODES) {
        const w = s.table[code];
        assert.ok(Number.isInteger(w.status) && w.status >= 400 && w.status <= 599, `${s.name} ${code}: status ${w.status}`);
        assert.ok(s.wire.includes(w.code), `${s.name} ${code}: wire code ${w.code}`);
      }
    }
    // The API promises one status per wire code.
    for (const code of ERROR_CODES) assert.equal(API_ERRORS[code].status, API_STATUS[API_ERRORS[code].code], code);
  });

  test('every code serializes on every surface, with its default message', () => {
    for (const code of ERROR_CODES) {
      const e = new BerthError(code);
      assert.equal(e.message, ERROR_CATALOGUE[code].message);
      for (const [name, a] of [['/v2', v2Error(e, ctx)], ['/token', tokenError(e, ctx)]] as const) {
        const table = name === '/v2' ? V2_ERRORS : TOKEN_ERRORS;
        assert.equal(a.status, table[code].status);
        assert.equal(a.body.errors.length, 1);
        assert.equal(a.body.errors[0].code, table[code].code);
        assert.equal(a.body.errors[0].message, e.message);
        assert.equal(a.headers['Docker-Distribution-API-Version'], 'registry/2.0', `${name} ${code}`);
      }
      const a = apiError(e, ctx);
      assert.equal(a.status, API_ERRORS[code].status);
      assert.deepEqual(Object.keys(a.body.error).filter((k) => k !== 'detail'), ['code', 'message', 'requestId']);
      assert.equal(a.body.error.code, API_ERRORS[code].code);
      assert.equal(a.body.error.requestId, 'req-1');
    }
  });

  test('domain errors carry facts, never an HTTP status or header', () => {
    const e = new BerthError('LOGIN_LOCKED', { retryAfterSeconds: 7 });
    for (const k of ['status', 'statusCode', 'headers']) assert.ok(!(k in e), k);
    assert.ok(isBerthError(e) && isBerthError(e, 'LOGIN_LOCKED', 'DENIED') && !isBerthError(e, 'DENIED'));
    assert.ok(!isBerthError(new Error('x')));
    const t = new TokenError('expired');
    assert.ok(t instanceof BerthError && t.code === 'TOKEN_INVALID' && t.reason === 'expired');
  });

  test('src/errors imports nothing of ours outside src/errors', () => {
    const dir = path.join(root, 'src/errors');
    for (const f of readdirSync(dir)) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'/g)) {
        const spec = m[1] ?? m[2];
        assert.ok(spec.startsWith('node:') || (spec.startsWith('./') && !spec.includes('/..')), `${f} imports ${spec}`);
      }
    }
  });
});

describe('error serializers', () => {
  test('RANGE_INVALID is BLOB_UPLOAD_INVALID on the wire, 416 with where the upload stands', () => {
    const a = v2Error(new BerthError('RANGE_INVALID', { message: 'chunk must start at offset 5', upload: { name: 'acme/app', id: 'abc', size: 5 } }), ctx);
    assert.equal(a.status, 416);
    assert.equal(a.body.errors[0].code, 'BLOB_UPLOAD_INVALID');
    assert.equal(a.headers.Location, '/v2/acme/app/blobs/uploads/abc');
    assert.equal(a.headers.Range, '0-4');
    assert.equal(a.headers['Docker-Upload-UUID'], 'abc');
    assert.equal(v2Error(new BerthError('CONTENT_RANGE_INVALID'), ctx).body.errors[0].code, 'BLOB_UPLOAD_INVALID');
    assert.equal(v2Error(new BerthError('CONTENT_RANGE_INVALID'), ctx).status, 400);
  });

  test('an unsatisfiable range names the blob size; a refused method lists the allowed ones', () => {
    const r = v2Error(new BerthError('RANGE_NOT_SATISFIABLE', { blobSize: 42 }), ctx);
    assert.equal(r.status, 416);
    assert.equal(r.headers['Content-Range'], 'bytes */42');
    const m = v2Error(new BerthError('METHOD_NOT_ALLOWED', { allow: ['GET', 'HEAD'] }), ctx);
    assert.equal(m.status, 405);
    assert.equal(m.body.errors[0].code, 'UNSUPPORTED');
    assert.equal(m.headers.Allow, 'GET, HEAD');
    assert.equal(apiError(new BerthError('METHOD_NOT_ALLOWED', { allow: ['GET'] }), ctx).headers.Allow, 'GET');
  });

  test('a lockout says when to try again on every surface', () => {
    const e = new BerthError('LOGIN_LOCKED', { message: 'too many failed attempts', retryAfterSeconds: 90 });
    for (const a of [v2Error(e, ctx), tokenError(e, ctx)]) {
      assert.equal(a.status, 429);
      assert.equal(a.headers['Retry-After'], '90');
      assert.deepEqual(a.body.errors[0], { code: 'TOOMANYREQUESTS', message: 'too many failed attempts', detail: { retryAfter: 90 } });
    }
    const a = apiError(e, ctx);
    assert.equal(a.headers['Retry-After'], '90');
    assert.deepEqual(a.body, { error: { code: 'TOO_MANY_REQUESTS', message: 'too many failed attempts', requestId: 'req-1' } });
  });

  test('a challenge becomes WWW-Authenticate; without one a 401 has none', () => {
    const e = new BerthError('AUTHENTICATION_REQUIRED', {
      challenge: { realm: 'https://r.example/token', service: 'berth', scopes: [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }, { type: 'repository', name: 'acme/base', actions: ['pull'] }], error: 'insufficient_scope' },
    });
    const a = v2Error(e, ctx);
    assert.equal(a.status, 401);
    assert.equal(a.headers['WWW-Authenticate'], 'Bearer realm="https://r.example/token",service="berth",scope="repository:acme/app:pull,push repository:acme/base:pull",error="insufficient_scope"');
    const bare = v2Error(new BerthError('AUTHENTICATION_REQUIRED', { challenge: { realm: 'http://h/token', service: 's', scopes: [] } }), ctx);
    assert.equal(bare.headers['WWW-Authenticate'], 'Bearer realm="http://h/token",service="s"');
    assert.equal(tokenError(new BerthError('CREDENTIALS_INVALID'), ctx).headers['WWW-Authenticate'], undefined);
    assert.equal(apiError(e, ctx).headers['WWW-Authenticate'], undefined);
  });

  test('the token endpoint answers its own statuses where /v2 has none', () => {
    assert.deepEqual([tokenError(new BerthError('PAYLOAD_TOO_LARGE'), ctx).status, tokenError(new BerthError('PAYLOAD_TOO_LARGE'), ctx).body.errors[0].code], [413, 'SIZE_INVALID']);
    assert.deepEqual([tokenError(new BerthError('SERVICE_UNKNOWN'), ctx).status, tokenError(new BerthError('SERVICE_UNKNOWN'), ctx).body.errors[0].code], [400, 'DENIED']);
  });

  test('internal errors carry the request id, never the cause', () => {
    const e = new BerthError('INTERNAL', { cause: new Error('secret path /var/x') });
    assert.deepEqual(v2Error(e, ctx).body, { errors: [{ code: 'UNKNOWN', message: 'internal error', detail: { requestId: 'req-1' } }] });
    assert.deepEqual(apiError(e, ctx).body, { error: { code: 'INTERNAL', message: 'internal error', requestId: 'req-1' } });
  });

  test('on the API a field at fault becomes detail [{path, message}]; an explicit detail wins', () => {
    assert.deepEqual(apiError(new BerthError('CONFLICT', { message: 'user x already exists', field: 'name' }), ctx).body.error.detail, [{ path: 'name', message: 'user x already exists' }]);
    assert.deepEqual(apiError(new BerthError('INPUT_INVALID', { detail: [{ path: 'a', message: 'b' }], field: 'name' }), ctx).body.error.detail, [{ path: 'a', message: 'b' }]);
    assert.equal('detail' in apiError(new BerthError('NOT_FOUND'), ctx).body.error, false);
  });
});

describe('error documentation', () => {
  const cell = (w: Wire<string>) => `${w.status} \`${w.code}\``;

  test('README.md lists every code with what each surface answers', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Error codes\n');
    assert.ok(start >= 0, 'README.md has an "Error codes" section');
    const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
    const rows = new Map<string, string[]>();
    for (const line of section.split('\n')) {
      const m = /^\|\s*`([A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
      if (m) rows.set(m[1], m[2].split('|').map((c) => c.trim()));
    }
    for (const code of ERROR_CODES) {
      const row = rows.get(code);
      assert.ok(row, `README.md's error table lists ${code}`);
      assert.ok(row[0].length > 0, `${code} has a meaning in README.md`);
      surfaces.forEach((s, i) => assert.ok(row[i + 1].startsWith(cell(s.table[code])), `README.md: ${code} on ${s.name} is ${cell(s.table[code])}, not ${row[i + 1]}`));
    }
    for (const code of rows.keys()) assert.ok((ERROR_CODES as string[]).includes(code), `README.md lists ${code}, which is not in the catalogue`);
  });

  test('the OpenAPI Error schema lists every API wire code', () => {
    const doc = openApiDocument([], 'test') as { components: { schemas: Record<string, any> } };
    const codes: string[] = doc.components.schemas.Error.properties.error.properties.code.enum;
    assert.deepEqual([...codes].sort(), [...API_WIRE_CODES].sort());
    for (const code of ERROR_CODES) assert.ok(codes.includes(API_ERRORS[code].code), code);
  });
});
