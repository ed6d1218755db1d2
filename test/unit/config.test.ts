import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseListen } from '../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yamlFile(text: string): string {
  const f = path.join(dir, `config-${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

function configError(fn: () => unknown, ...patterns: RegExp[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught === undefined ? 'no error' : String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.listen, '127.0.0.1:5000');
    assert.equal(c.data, path.resolve('./data'));
    assert.ok(path.isAbsolute(c.data));
    assert.equal(c.storage.filesystem.root, path.join(path.resolve('./data'), 'storage'));
    assert.equal(c.storage.driver, 'filesystem');
    assert.equal(c.database.dialect, 'sqlite');
    assert.equal(c.database.sqlite.path, path.join(path.resolve('./data'), 'berth.db'));
    assert.equal(c.log.level, 'info');
    assert.equal(c.registry.deleteEnabled, true);
    assert.equal(c.registry.maxManifestBytes, 4 * 1024 * 1024);
    assert.equal(c.http.workers, 1);
    assert.equal(c.gc.interval, 0);
    assert.equal(c.publicUrl, undefined);
  });

  test('the process environment is not read when env is given', () => {
    const saved = process.env.BERTH_LISTEN;
    process.env.BERTH_LISTEN = '10.9.8.7:1234';
    try {
      assert.equal(loadConfig({ env: {} }).listen, '127.0.0.1:5000');
      assert.equal(loadConfig().listen, '10.9.8.7:1234', 'and it is read by default');
    } finally {
      if (saved === undefined) delete process.env.BERTH_LISTEN;
      else process.env.BERTH_LISTEN = saved;
    }
  });

  test('YAML file values', () => {
    const f = yamlFile([
      'listen: 0.0.0.0:6000',
      `data: ${path.join(dir, 'd1')}`,
      'log:',
      '  level: debug',
      'registry:',
      '  deleteEnabled: false',
      '  maxPageSize: 50',
      'storage:',
      '  filesystem:',
      '    root: blobs-here',
      'database:',
      '  sqlite:',
      '    path: /var/lib/berth/meta.db',
      'http:',
      '  trustProxy: [10.0.0.1, 10.0.0.2]',
      'publicUrl: https://registry.example.com',
    ].join('\n'));
    const c = loadConfig({ file: f, env: {} });
    assert.equal(c.listen, '0.0.0.0:6000');
    assert.equal(c.data, path.join(dir, 'd1'));
    assert.equal(c.log.level, 'debug');
    assert.equal(c.registry.deleteEnabled, false);
    assert.equal(c.registry.maxPageSize, 50);
    assert.equal(c.registry.chunkMinLength, 0, 'unset keys of a given section keep defaults');
    assert.equal(c.storage.filesystem.root, path.join(dir, 'd1', 'blobs-here'), 'a relative root is below data');
    assert.equal(c.database.sqlite.path, '/var/lib/berth/meta.db', 'an absolute path is kept');
    assert.deepEqual(c.http.trustProxy, ['10.0.0.1', '10.0.0.2']);
    assert.equal(c.publicUrl, 'https://registry.example.com');
  });

  test('an empty YAML file means defaults', () => {
    assert.equal(loadConfig({ file: yamlFile(''), env: {} }).listen, '127.0.0.1:5000');
    assert.equal(loadConfig({ file: yamlFile('# only a comment\n'), env: {} }).log.level, 'info');
  });

  test('BERTH_CONFIG names the file when no file option is given', () => {
    const f = yamlFile('listen: 127.0.0.1:7777\n');
    assert.equal(loadConfig({ env: { BERTH_CONFIG: f } }).listen, '127.0.0.1:7777');
  });

  test('BERTH_LISTEN / BERTH_DATA / BERTH_LOG_LEVEL aliases', () => {
    const c = loadConfig({ env: { BERTH_LISTEN: '[::1]:5001', BERTH_DATA: path.join(dir, 'envdata'), BERTH_LOG_LEVEL: 'warn' } });
    assert.equal(c.listen, '[::1]:5001');
    assert.equal(c.data, path.join(dir, 'envdata'));
    assert.equal(c.storage.filesystem.root, path.join(dir, 'envdata', 'storage'));
    assert.equal(c.database.sqlite.path, path.join(dir, 'envdata', 'berth.db'));
    assert.equal(c.log.level, 'warn');
  });

  test('BERTH_SECTION__KEY nested variables, typed', () => {
    const c = loadConfig({
      env: {
        BERTH_REGISTRY__DELETE_ENABLED: 'false',
        BERTH_REGISTRY__MAX_MANIFEST_BYTES: '1048576',
        BERTH_GC__GRACE: '60',
        BERTH_HTTP__TRUST_PROXY: 'true',
        BERTH_STORAGE__FILESYSTEM__ROOT: '/srv/blobs',
        BERTH_STORAGE__DRIVER: 'memory',
        BERTH_UNRELATED: 'ignored', // neither an alias nor SECTION__KEY
        OTHER__THING: 'ignored',
      },
    });
    assert.equal(c.registry.deleteEnabled, false);
    assert.equal(c.registry.maxManifestBytes, 1048576);
    assert.equal(c.gc.grace, 60);
    assert.equal(c.http.trustProxy, true);
    assert.equal(c.storage.filesystem.root, '/srv/blobs');
    assert.equal(c.storage.driver, 'memory');
  });

  test('flags override env, which overrides the file', () => {
    const f = yamlFile(`listen: 127.0.0.1:1000\ndata: ${path.join(dir, 'file-data')}\nlog:\n  level: error\nregistry:\n  deleteEnabled: true\n  maxPageSize: 7\n`);
    const env = { BERTH_LISTEN: '127.0.0.1:2000', BERTH_DATA: path.join(dir, 'env-data'), BERTH_REGISTRY__DELETE_ENABLED: 'false' };
    const fileOnly = loadConfig({ file: f, env: {} });
    assert.equal(fileOnly.listen, '127.0.0.1:1000');
    const fileEnv = loadConfig({ file: f, env });
    assert.equal(fileEnv.listen, '127.0.0.1:2000');
    assert.equal(fileEnv.data, path.join(dir, 'env-data'));
    assert.equal(fileEnv.registry.deleteEnabled, false);
    assert.equal(fileEnv.registry.maxPageSize, 7, 'env merges into a file section, not replacing it');
    assert.equal(fileEnv.log.level, 'error');
    const all = loadConfig({ file: f, env, flags: { listen: '127.0.0.1:3000', data: path.join(dir, 'flag-data') } });
    assert.equal(all.listen, '127.0.0.1:3000');
    assert.equal(all.data, path.join(dir, 'flag-data'));
    assert.equal(all.storage.filesystem.root, path.join(dir, 'flag-data', 'storage'));
    assert.equal(all.registry.deleteEnabled, false);
    const oneFlag = loadConfig({ file: f, env, flags: { listen: '127.0.0.1:3000' } });
    assert.equal(oneFlag.data, path.join(dir, 'env-data'), 'an absent flag does not override');
  });

  test('a relative data flag is resolved against the working directory', () => {
    assert.equal(loadConfig({ env: {}, flags: { data: 'rel/data' } }).data, path.resolve('rel/data'));
  });

  test('an unknown key in YAML is a ConfigError naming the key', () => {
    const f = yamlFile('registry:\n  deleteEnabld: false\n');
    const e = configError(() => loadConfig({ file: f, env: {} }), /registry\.deleteEnabld/);
    assert.ok(e.message.includes(f), 'the message names the file');
    configError(() => loadConfig({ file: yamlFile('lisen: 127.0.0.1:5000\n'), env: {} }), /\blisen\b/);
    configError(() => loadConfig({ file: yamlFile('storage:\n  filesystem:\n    rooot: x\n'), env: {} }), /storage\.filesystem\.rooot/);
  });

  test('LDAP: settings from YAML and env (the service password by env), and what an enabled directory needs', () => {
    const f = yamlFile([
      'auth:', '  ldap:', '    enabled: true', '    url: ldaps://dc1.corp.example:636 ldaps://dc2.corp.example:636',
      '    userBaseDn: ou=people,dc=corp', '    groups:', '      mode: search', '      groupBaseDn: ou=groups,dc=corp', '      nested: matchingRuleInChain',
      '    adminGroups: ["cn=registry-admins,ou=groups,dc=corp"]', '',
    ].join('\n'));
    const c = loadConfig({ file: f, env: { BERTH_AUTH__LDAP__BIND_PASSWORD: 's3cret', BERTH_AUTH__LDAP__BIND_DN: 'cn=svc,dc=corp' } });
    assert.equal(c.auth.ldap.bindPassword, 's3cret');
    assert.equal(c.auth.ldap.bindDn, 'cn=svc,dc=corp');
    assert.equal(c.auth.ldap.groups.nested, 'matchingRuleInChain');
    assert.equal(c.auth.ldap.userFilter, '(&(objectClass=inetOrgPerson)(uid={username}))');
    assert.equal(c.auth.ldap.syncInterval, 3600);
    assert.equal(loadConfig({ env: {} }).auth.ldap.enabled, false);
    configError(() => loadConfig({ file: yamlFile('auth:\n  ldap:\n    enabled: true\n'), env: {} }), /auth\.ldap/, /url and userBaseDn/);
    configError(() => loadConfig({ file: yamlFile('auth:\n  ldap:\n    url: http://dc1\n'), env: {} }), /auth\.ldap\.url/);
    configError(() => loadConfig({ file: yamlFile('auth:\n  ldap:\n    groups:\n      nested: recursive\n'), env: {} }), /groupBaseDn/);
  });

  test('sessions and organization creation', () => {
    const c = loadConfig({ env: { BERTH_AUTH__SESSION__IDLE_TIMEOUT: '600', BERTH_AUTH__ORGANIZATION_CREATION: 'admins' } });
    assert.equal(c.auth.session.idleTimeout, 600);
    assert.equal(c.auth.session.lifetime, 12 * 3600);
    assert.equal(c.auth.organizationCreation, 'admins');
    configError(() => loadConfig({ env: { BERTH_AUTH__ORGANIZATION_CREATION: 'everyone' } }), /auth\.organizationCreation/);
  });

  test('an unknown nested env key is a ConfigError naming the key', () => {
    configError(() => loadConfig({ env: { BERTH_REGISTRY__DELETE_ENABLD: 'false' } }), /registry\.deleteEnabld/);
  });

  test('a wrong type is a ConfigError naming the key', () => {
    configError(() => loadConfig({ file: yamlFile('registry:\n  deleteEnabled: "nope"\n'), env: {} }), /registry\.deleteEnabled/);
    configError(() => loadConfig({ file: yamlFile('http:\n  workers: many\n'), env: {} }), /http\.workers/);
    configError(() => loadConfig({ file: yamlFile('http:\n  workers: 1000\n'), env: {} }), /http\.workers/);
    configError(() => loadConfig({ file: yamlFile('log:\n  level: loud\n'), env: {} }), /log\.level/);
    configError(() => loadConfig({ file: yamlFile('listen: 5000\n'), env: {} }), /listen/);
    configError(() => loadConfig({ file: yamlFile('listen: "localhost"\n'), env: {} }), /listen/);
    configError(() => loadConfig({ file: yamlFile('registry: 5\n'), env: {} }), /registry/);
    configError(() => loadConfig({ env: { BERTH_GC__INTERVAL: 'soon' } }), /gc\.interval/);
    configError(() => loadConfig({ env: { BERTH_PUBLIC_URL: 'not a url' } }), /publicUrl/);
  });

  test('a listen port above 65535 is a ConfigError naming listen', () => {
    configError(() => loadConfig({ env: { BERTH_LISTEN: '127.0.0.1:70000' } }), /listen/);
    configError(() => loadConfig({ env: {}, flags: { listen: '127.0.0.1:99999' } }), /listen/);
    assert.equal(loadConfig({ env: {}, flags: { listen: '127.0.0.1:65535' } }).listen, '127.0.0.1:65535');
  });

  test('an unreadable file is a ConfigError', () => {
    const missing = path.join(dir, 'does-not-exist.yaml');
    configError(() => loadConfig({ file: missing, env: {} }), new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    configError(() => loadConfig({ file: dir, env: {} })); // a folder
  });

  test('invalid YAML is a ConfigError', () => {
    configError(() => loadConfig({ file: yamlFile('listen: [unclosed\n'), env: {} }), /YAML/);
    configError(() => loadConfig({ file: yamlFile('a: 1\n  b: 2\n c: 3\n'), env: {} }));
  });

  test('a YAML document that is not a mapping is a ConfigError', () => {
    configError(() => loadConfig({ file: yamlFile('- a\n- b\n'), env: {} }));
    configError(() => loadConfig({ file: yamlFile('just a string\n'), env: {} }));
  });

  test('string settings given by environment stay strings even when they look like numbers', () => {
    // BERTH_DATA=2024 names a folder called "2024", not the number 2024
    const c = loadConfig({ env: { BERTH_DATA: '2024' } });
    assert.equal(c.data, path.resolve('2024'));
    assert.equal(loadConfig({ env: { BERTH_STORAGE__FILESYSTEM__ROOT: '1' } }).storage.filesystem.root, path.resolve('data', '1'));
  });
});

describe('parseListen', () => {
  test('host and port, IPv6 brackets removed', () => {
    assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseListen('[::1]:5001'), { host: '::1', port: 5001 });
    assert.deepEqual(parseListen('registry.local:80'), { host: 'registry.local', port: 80 });
  });
});

describe('database.postgres', () => {
  test('postgres needs a postgres:// URL naming the database; the environment sets it', () => {
    configError(() => loadConfig({ env: { BERTH_DATABASE__DIALECT: 'postgres' } }), /database\.dialect postgres needs database\.postgres\.url/);
    configError(() => loadConfig({ env: { BERTH_DATABASE__DIALECT: 'postgres', BERTH_DATABASE__POSTGRES__URL: 'mysql://db/berth' } }), /postgres:\/\/ URL/);
    configError(() => loadConfig({ env: { BERTH_DATABASE__DIALECT: 'postgres', BERTH_DATABASE__POSTGRES__URL: 'postgres://db' } }), /naming the database/);
    const c = loadConfig({ env: { BERTH_DATABASE__DIALECT: 'postgres', BERTH_DATABASE__POSTGRES__URL: 'postgres://berth@db:5432/berth' } });
    assert.equal(c.database.dialect, 'postgres');
    assert.equal(c.database.postgres.url, 'postgres://berth@db:5432/berth');
    assert.equal(c.database.postgres.poolSize, 10);
  });
});

describe('storage.s3', () => {
  test('s3 needs a bucket; keys go in pairs, inline or from files, never both; the endpoint is a full URL', () => {
    configError(() => loadConfig({ env: { BERTH_STORAGE__DRIVER: 's3' } }), /storage\.driver s3 needs storage\.s3\.bucket/);
    const base = { BERTH_STORAGE__DRIVER: 's3', BERTH_STORAGE__S3__BUCKET: 'images' };
    configError(() => loadConfig({ env: { ...base, BERTH_STORAGE__S3__ACCESS_KEY_ID: 'AK' } }), /accessKeyId and secretAccessKey go together/);
    configError(() => loadConfig({ env: { ...base, BERTH_STORAGE__S3__ACCESS_KEY_ID: 'AK', BERTH_STORAGE__S3__ACCESS_KEY_ID_FILE: '/k', BERTH_STORAGE__S3__SECRET_ACCESS_KEY: 's' } }), /exclude each other/);
    configError(() => loadConfig({ env: { ...base, BERTH_STORAGE__S3__ENDPOINT: 'rgw.example.com:7480' } }), /endpoint/);
    configError(() => loadConfig({ env: { ...base, BERTH_STORAGE__S3__PREFIX: '../up' } }), /prefix/);
    const c = loadConfig({ env: { ...base, BERTH_STORAGE__S3__ENDPOINT: 'http://rgw.example.com:7480', BERTH_STORAGE__S3__FORCE_PATH_STYLE: 'true', BERTH_STORAGE__S3__PREFIX: 'reg/a' } });
    assert.equal(c.storage.s3.endpoint, 'http://rgw.example.com:7480');
    assert.equal(c.storage.s3.forcePathStyle, true);
    assert.equal(c.storage.s3.region, 'us-east-1');
    assert.equal(c.storage.s3.partSize, 8);
    assert.equal(c.storage.s3.redirect, false, 'redirects are off by default');
    configError(() => loadConfig({ env: { ...base, BERTH_STORAGE__S3__REDIRECT: 'true', BERTH_STORAGE__ENCRYPTION__ENABLED: 'true' } }), /redirect/);
  });
});
