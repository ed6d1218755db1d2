// The language package catalogers (npm, Python, Go binaries, Java archives), fed the way the layer walker
// feeds them: wants(path, info), then parse() with the buffer or stream it asked for. Oracles: the shared
// osv-scalibr fixtures (../shared/data/catalogers, expectations stated here), and real artifacts of this host
// read by their own tools: Python's importlib.metadata, `go version -m` on binaries built here with Debian's
// Go, Python's zipfile on the host's jars, a real `npm install`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { goBinaryCataloger } from '../../src/scan/catalog/go-binary.js';
import { javaCataloger } from '../../src/scan/catalog/java.js';
import { npmCataloger } from '../../src/scan/catalog/npm.js';
import { pythonCataloger } from '../../src/scan/catalog/python.js';
import { CatalogError, type Cataloger, type FoundPackage } from '../../src/scan/catalog/types.js';
import { which } from '../helpers/tools.js';
import { makeZip } from './scan-catalog-lang-zip.js';
import tar from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { walkLayers } from '../../src/scan/layers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = path.join(repoRoot, '..', 'shared', 'data', 'catalogers');

function data(...parts: string[]): string {
  const file = path.join(DATA, ...parts);
  assert.ok(existsSync(file), `test data missing: expected ${file} (the shared cataloger fixtures, /work/shared/data/catalogers beside the checkout)`);
  return file;
}

function requireTool(cmd: string, install: string): string {
  const found = which(cmd);
  assert.ok(found, `required tool "${cmd}" is not installed; install it with: ${install}`);
  return found;
}

/** As the walker does: asks wants(), then hands over the buffer or a stream of the file. */
async function feed(c: Cataloger, imagePath: string, source: string | Buffer, mode = 0o644): Promise<FoundPackage[]> {
  const size = typeof source === 'string' ? statSync(source).size : source.length;
  const how = c.wants(imagePath, { size, mode });
  assert.ok(how, `${c.name} does not want ${imagePath}`);
  if (how === 'buffer') return c.parse(imagePath, { kind: 'buffer', data: typeof source === 'string' ? readFileSync(source) : source });
  const stream = typeof source === 'string' ? createReadStream(source) : Readable.from([source]);
  try {
    return await c.parse(imagePath, { kind: 'stream', stream, size });
  } finally {
    stream.destroy();
  }
}

/** One line per package: type, namespace/name@version, confidence, the metadata named. */
function lines(pkgs: FoundPackage[], keys: string[] = []): string[] {
  return pkgs.map((p) => {
    const meta = keys.filter((k) => p.metadata?.[k] !== undefined).map((k) => `${k}=${p.metadata![k]}`);
    const lic = p.licenses ? ` licenses=${p.licenses.join('|')}` : '';
    return `${p.namespace ? `${p.namespace}/` : ''}${p.name}@${p.version} ${p.confidence}${lic}${meta.length ? ` ${meta.join(' ')}` : ''}`;
  }).sort();
}

async function walkFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await walkFiles(p, root));
    else if (e.isFile()) out.push(path.relative(root, p));
  }
  return out;
}

function tmpDirsNamed(prefix: string): string[] {
  return readdirSync(os.tmpdir()).filter((n) => n.startsWith(prefix));
}

describe('npm cataloger', () => {
  const FLAGS = ['source', 'dev', 'optional', 'devOptional', 'alias', 'commit'];
  const lock = async (fixture: string) => lines(await feed(npmCataloger, 'srv/app/package-lock.json', data('npm-packagelock', fixture)), FLAGS);
  const L = 'source=lockfile';

  test('wants lockfiles and the package.json of installed packages only', () => {
    const want = (p: string) => npmCataloger.wants(p, { size: 100, mode: 0o644 });
    assert.equal(want('srv/app/package-lock.json'), 'buffer');
    assert.equal(want('npm-shrinkwrap.json'), 'buffer');
    assert.equal(want('usr/lib/node_modules/npm/package.json'), 'buffer');
    assert.equal(want('srv/app/node_modules/@babel/core/package.json'), 'buffer');
    assert.equal(want('srv/app/node_modules/a/node_modules/b/package.json'), 'buffer');
    assert.equal(want('srv/app/node_modules/.pnpm/lodash@4.17.20/node_modules/lodash/package.json'), 'buffer');
    assert.equal(want('srv/app/package.json'), false, 'the project itself');
    assert.equal(want('srv/app/node_modules/lodash/fp/package.json'), false, 'a package.json deeper inside a package');
    assert.equal(want('srv/app/node_modules/@babel/package.json'), false);
    assert.equal(want('srv/app/node_modules/.package-lock.json'), false);
    assert.equal(want('srv/app/node_modules/foo/package-lock.json'), false, "a dependency's own lockfile");
    assert.equal(want('srv/app/package-lock.json.bak'), false);
  });

  test('one and two packages, v1 and v2, package-lock.json and npm-shrinkwrap.json', async () => {
    for (const f of ['one-package.v1.json', 'one-package.v2.json']) assert.deepEqual(await lock(f), [`wrappy@1.0.2 exact ${L}`], f);
    for (const f of ['one-package-dev.v1.json', 'one-package-dev.v2.json']) assert.deepEqual(await lock(f), [`wrappy@1.0.2 exact ${L} dev=true`], f);
    const two = [`supports-color@5.5.0 exact ${L}`, `wrappy@1.0.2 exact ${L}`];
    for (const f of ['two-packages.v1.json', 'two-packages.v2.json', 'both/package-lock.json', 'both/npm-shrinkwrap.json', 'package-lock-only/package-lock.json']) {
      assert.deepEqual(await lock(f), two, f);
    }
    const shrink = await feed(npmCataloger, 'srv/app/npm-shrinkwrap.json', data('npm-packagelock', 'npm-shrinkwrap-only', 'npm-shrinkwrap.json'));
    assert.deepEqual(lines(shrink, ['source']), two);
    assert.ok(shrink.every((p) => p.type === 'npm' && p.metadata?.lockfileVersion === '2'));
  });

  test('scoped names get the scope as namespace; aliases are reported as the real package', async () => {
    for (const f of ['scoped-packages.v1.json', 'scoped-packages.v2.json']) {
      assert.deepEqual(await lock(f), [`@babel/code-frame@7.0.0 exact ${L}`, `wrappy@1.0.2 exact ${L}`], f);
    }
    const pkgs = await feed(npmCataloger, 'package-lock.json', data('npm-packagelock', 'scoped-packages.v2.json'));
    const babel = pkgs.find((p) => p.name === 'code-frame')!;
    assert.equal(babel.namespace, '@babel');
    for (const f of ['alias.v1.json', 'alias.v2.json']) {
      assert.deepEqual(await lock(f), [
        `@babel/code-frame@7.0.0 exact ${L} alias=babel-code-frame`,
        `string-width@4.2.0 exact ${L} alias=string-width-cjs`,
        `string-width@5.1.2 exact ${L}`,
      ], f);
    }
  });

  test('dev and optional flags; the same package in many places of the tree is one package', async () => {
    assert.deepEqual(await lock('optional-package.v1.json'), [`supports-color@5.5.0 exact ${L} optional=true`, `wrappy@1.0.2 exact ${L} dev=true optional=true`]);
    assert.deepEqual(await lock('optional-package.v2.json'), [`supports-color@5.5.0 exact ${L} devOptional=true`, `wrappy@1.0.2 exact ${L} optional=true`]);
    // ajv is dev in some places and a production dependency (of table) in another: not dev.
    for (const f of ['same-package-different-groups.v1.json', 'same-package-different-groups.v2.json']) {
      assert.deepEqual(await lock(f), [`ajv@5.5.2 exact ${L}`, `eslint@1.2.3 exact ${L} dev=true`, `table@1.0.0 exact ${L}`], f);
    }
    const nested = [`postcss-calc@7.0.1 exact ${L}`, `postcss@6.0.23 exact ${L}`, `postcss@7.0.16 exact ${L}`, `supports-color@5.5.0 exact ${L}`, `supports-color@6.1.0 exact ${L}`];
    for (const f of ['nested-dependencies.v1.json', 'nested-dependencies.v2.json']) assert.deepEqual(await lock(f), nested, f);
    // 36 copies of supports-color in two versions.
    assert.deepEqual(await lock('nested-dependencies-dup.v2.json'), [`supports-color@2.0.0 exact ${L}`, `supports-color@6.1.0 exact ${L}`]);
    const dupV1 = await lock('nested-dependencies-dup.v1.json');
    assert.equal(dupV1.filter((l) => l.startsWith('supports-color@')).length, 3, 'supports-color 2.0.0, 5.5.0, 6.1.0');
    assert.equal(new Set(dupV1).size, dupV1.length);
    assert.ok(dupV1.includes(`supports-color@6.1.0 exact ${L}`) && dupV1.includes(`cssnano@4.1.10 exact ${L}`));
    assert.equal(dupV1.length, 39);
  });

  test('git dependencies: the commit, no credentials, inferred; v1 git and file: entries have no registry version', async () => {
    // raven-js has no version at all: not a package.
    const v2 = await feed(npmCataloger, 'package-lock.json', data('npm-packagelock', 'commits.v2.json'));
    assert.deepEqual(lines(v2, ['dev', 'commit']), [
      '@segment/analytics.js-integration-facebook-pixel@2.4.1 inferred licenses=SEE LICENSE IN LICENSE commit=3b1bb80b302c2e552685dc8a029797ec832ea7c9',
      'ansi-styles@1.0.0 exact',
      'babel-preset-php@1.1.1 inferred licenses=MIT dev=true commit=c5a7ba5e0ad98b8db1cb8ce105403dd4b768cced',
      'is-number-1@3.0.0 inferred licenses=MIT dev=true commit=af885e2e890b9ef0875edd2b117305119ee5bdc5',
      'is-number-1@3.0.0 inferred licenses=MIT dev=true commit=be5935f8d2595bcd97b05718ef1eeae08d812e10',
      'is-number-2@2.0.0 inferred licenses=MIT dev=true commit=82dcc8e914dabd9305ab9ae580709a7825e824f5',
      'is-number-2@2.0.0 inferred licenses=MIT dev=true commit=d5ac0584ee9ae7bd9288220a39780f155b9ad4c8',
      'is-number-3@2.0.0 inferred licenses=MIT dev=true commit=d5ac0584ee9ae7bd9288220a39780f155b9ad4c8',
      'is-number-3@3.0.0 inferred licenses=MIT dev=true commit=82ae8802978da40d7f1be5ad5943c9e550ab2c89',
      'is-number-4@3.0.0 inferred licenses=MIT dev=true commit=af885e2e890b9ef0875edd2b117305119ee5bdc5',
      'is-number-5@3.0.0 inferred licenses=MIT dev=true commit=af885e2e890b9ef0875edd2b117305119ee5bdc5',
      'postcss-calc@7.0.1 exact',
      'slick-carousel@1.7.1 inferred licenses=MIT dev=true commit=280b560161b751ba226d50c7db1e0a14a78c2de0',
    ]);
    const five = v2.find((p) => p.name === 'is-number-5')!;
    assert.equal(five.metadata!.resolved, 'git+https://github.com/jonschlinkert/is-number.git#af885e2e890b9ef0875edd2b117305119ee5bdc5');
    assert.ok(!JSON.stringify(v2).includes('dummy-token'));
    assert.deepEqual(await lock('commits.v1.json'), [`ansi-styles@1.0.0 exact ${L}`, `postcss-calc@7.0.1 exact ${L}`]);
    assert.deepEqual(await lock('files.v1.json'), [`lodash@1.3.1 exact ${L}`]);
    // deps/etag is the project's own directory (a file: dependency), not an installed package.
    assert.deepEqual(await lock('files.v2.json'), [`abbrev@1.0.9 exact ${L} dev=true`, `abbrev@2.3.4 exact ${L} dev=true`]);
  });

  test('v3 lockfile with bundled dependencies and licences', async () => {
    const pkgs = await feed(npmCataloger, 'package-lock.json', data('npm-packagelock', 'bundled-dependencies.v3.json'));
    assert.deepEqual(lines(pkgs, ['dev']), ['ansi-regex@6.2.2 exact licenses=MIT', 'semver@7.7.2 exact licenses=ISC dev=true', 'strip-ansi@7.1.2 exact licenses=MIT']);
    assert.ok(pkgs.every((p) => p.metadata?.lockfileVersion === '3'));
  });

  test('empty, null and non-JSON lockfiles give no packages', async () => {
    for (const f of ['empty.v1.json', 'empty.v2.json', 'not-json.txt', 'null.v2.jsontest']) assert.deepEqual(await lock(f), [], f);
  });

  test('installed package.json: name, version, licence; garbage gives nothing', async () => {
    const pj = (doc: unknown) => feed(npmCataloger, 'srv/app/node_modules/@types/node/package.json', Buffer.from(JSON.stringify(doc)));
    assert.deepEqual(lines(await pj({ name: '@types/node', version: '20.1.0', license: 'MIT' }), ['source']), ['@types/node@20.1.0 exact licenses=MIT source=installed']);
    assert.deepEqual(lines(await pj({ name: 'old', version: '0.1.0', licenses: [{ type: 'BSD' }, { type: 'GPL' }] })), ['old@0.1.0 exact licenses=BSD|GPL']);
    assert.deepEqual(lines(await pj({ name: 'x', version: '1.0.0', license: { type: 'ISC' } })), ['x@1.0.0 exact licenses=ISC']);
    for (const bad of [{ name: 'x' }, { version: '1.0.0' }, { name: 'x', version: 'latest' }, { name: 'has space', version: '1.0.0' }, [], 'x', null, { name: 7, version: [] }]) {
      assert.deepEqual(await pj(bad), [], JSON.stringify(bad));
    }
    assert.deepEqual(await feed(npmCataloger, 'node_modules/x/package.json', Buffer.from('{"name": "x", "vers')), []);
  });

  test('hostile input: deeply nested trees, garbage and an oversized file do not crash', async () => {
    // A v1 tree 100,000 levels deep (walked without recursion) and JSON nested a million levels.
    let deep = '{}';
    for (let i = 0; i < 100_000; i++) deep = `{"d${i % 7}":{"version":"1.0.${i % 3}","dependencies":${deep}}}`;
    const tree = await feed(npmCataloger, 'package-lock.json', Buffer.from(`{"lockfileVersion":1,"dependencies":${deep}}`));
    assert.equal(tree.length, 21, '7 names × 3 versions');
    const nestedArrays = Buffer.from(`{"packages":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`);
    assert.deepEqual(await feed(npmCataloger, 'package-lock.json', nestedArrays), []);
    assert.deepEqual(await feed(npmCataloger, 'package-lock.json', Buffer.from([0xff, 0xfe, 0, 1, 2, 3, 0x7b])), []);
    const weird = { lockfileVersion: 3, packages: { 'node_modules/__proto__': { version: '1.0.0' }, 'node_modules/a': 'x', 'node_modules/b': { version: 5 }, 'node_modules/c': null, 'node_modules/': { version: '1.0.0' } } };
    assert.deepEqual(lines(await feed(npmCataloger, 'package-lock.json', Buffer.from(JSON.stringify(weird)))), ['__proto__@1.0.0 exact']);
    // A stream larger than the limit is refused as a CatalogError, read no further than the limit.
    let produced = 0;
    const huge = new Readable({
      read() {
        produced += 1 << 20;
        this.push(produced > 200 * (1 << 20) ? null : Buffer.alloc(1 << 20, 0x20));
      },
    });
    await assert.rejects(npmCataloger.parse('package-lock.json', { kind: 'stream', stream: huge, size: 200 * (1 << 20) }), CatalogError);
    assert.ok(produced <= (npmCataloger.maxBytes ?? 0) + 4 * (1 << 20), `read ${produced} bytes`);
    huge.destroy();
  });

  test('a real npm install of lodash@4.17.20: the lockfile and the installed package both found', async () => {
    requireTool('npm', 'apt-get install -y npm');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-npm-'));
    try {
      await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'berth-npm-test', version: '1.0.0', private: true }));
      const r = spawnSync('npm', ['install', 'lodash@4.17.20', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', env: { ...process.env, npm_config_cache: path.join(dir, '.npm-cache') } });
      assert.equal(r.status, 0, `npm install lodash@4.17.20 failed (the npm registry must be reachable):\n${r.stdout}\n${r.stderr}`);
      const found: Array<[string, FoundPackage]> = [];
      for (const file of await walkFiles(dir)) {
        if (file.startsWith('.npm-cache')) continue;
        const st = await stat(path.join(dir, file));
        if (!npmCataloger.wants(file, { size: st.size, mode: st.mode })) continue;
        for (const p of await feed(npmCataloger, file, path.join(dir, file))) found.push([file, p]);
      }
      assert.deepEqual(found.map(([f, p]) => `${f}: ${lines([p], ['source'])[0]}`).sort(), [
        'node_modules/lodash/package.json: lodash@4.17.20 exact licenses=MIT source=installed',
        'package-lock.json: lodash@4.17.20 exact licenses=MIT source=lockfile',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('python cataloger', () => {
  const SITE = 'usr/local/lib/python3.11/site-packages';
  const meta = async (fixture: string, imagePath = `${SITE}/x-1.0.dist-info/METADATA`) => lines(await feed(pythonCataloger, imagePath, data('python', fixture)), ['name']);

  test('wants dist-info METADATA, egg-info PKG-INFO or file, and eggs’ PKG-INFO in site-packages', () => {
    const want = (p: string) => pythonCataloger.wants(p, { size: 100, mode: 0o644 });
    assert.equal(want(`${SITE}/pip-22.2.2.dist-info/METADATA`), 'buffer');
    assert.equal(want('usr/lib/python3/dist-packages/httplib2-0.20.4.egg-info/PKG-INFO'), 'buffer');
    assert.equal(want('usr/lib/python3/dist-packages/pycups-2.0.1.egg-info'), 'buffer');
    assert.equal(want(`${SITE}/setuptools-57.4.0-py3.9.egg/EGG-INFO/PKG-INFO`), 'buffer');
    assert.equal(want('opt/app/.venv/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA'), 'buffer');
    assert.equal(want(`${SITE}/pip-22.2.2.dist-info/RECORD`), false);
    assert.equal(want('src/project/PKG-INFO'), false, "a source tree's PKG-INFO is not an installed distribution");
    assert.equal(want(`${SITE}/METADATA`), false);
    assert.equal(want(`${SITE}/.egg-info`), false);
  });

  test('the shared fixtures: Name/Version/License headers; names normalized per PEP 503, the original kept', async () => {
    assert.deepEqual(await meta('distinfo_meta'), ['pip@22.2.2 exact licenses=MIT name=pip']);
    assert.deepEqual(await meta('egginfo', 'usr/lib/python3/dist-packages/pycups-2.0.1.egg-info'), ['pycups@2.0.1 exact licenses=GPLv2+ name=pycups']);
    // License: UNKNOWN is no licence.
    assert.deepEqual(await meta('egginfo_pkginfo', `${SITE}/setuptools-57.4.0-py3.9.egg/EGG-INFO/PKG-INFO`), ['setuptools@57.4.0 exact name=setuptools']);
    assert.deepEqual(await meta('pkginfo', `${SITE}/httplib2-0.20.4.egg-info/PKG-INFO`), ['httplib2@0.20.4 exact licenses=MIT name=httplib2']);
    assert.deepEqual(await meta('pyopenssl-26.0.0.dist-info'), ['pyopenssl@26.0.0 exact licenses=Apache License, Version 2.0 name=pyOpenSSL']);
    assert.deepEqual(await meta('mixed_case'), ['httplib2@1.0 exact name=httplib2'], 'header names are case-insensitive');
    assert.deepEqual(await meta('special_chars'), ['backports-ssl-match-hostname@3.5.0.1 exact name=backports.ssl_match_hostname']);
    assert.deepEqual(await meta('repeated_pkginfo'), ['root@1.0.0 exact name=root'], 'the first Version wins, as in Python');
    // Keywords continue without indentation: the headers end there (as Python reads it), after Name and Version.
    assert.deepEqual(await meta('malformed_pkginfo'), ['passlib@1.7.4 exact licenses=BSD name=passlib']);
    assert.deepEqual(await meta('empty'), []);
  });

  test('malformed and hostile metadata gives no package', async () => {
    const parse = (text: string | Buffer) => feed(pythonCataloger, `${SITE}/x.dist-info/METADATA`, Buffer.isBuffer(text) ? text : Buffer.from(text));
    for (const bad of ['Name: foo\n', 'Version: 1.0\n', '\nName: foo\nVersion: 1.0\n', 'Name: foo bar\nVersion: 1.0\n', 'Name: foo\nVersion: 1.0 beta\n', 'garbage\nName: foo\nVersion: 1\n', 'Name:\nVersion:\n']) {
      assert.deepEqual(await parse(bad), [], JSON.stringify(bad));
    }
    assert.deepEqual(await parse(Buffer.concat([Buffer.from('Name: foo\nVersion: 1.0\n'), Buffer.from([0, 1, 2])])), [], 'binary');
    assert.deepEqual(lines(await parse('Name: Foo__Bar.baz\r\nVersion: 2.0\r\nLicense: A\r\n  B\r\nLicense-Expression: MIT OR Apache-2.0\r\n\r\nName: other')), ['foo-bar-baz@2.0 exact licenses=MIT OR Apache-2.0']);
    // A stream of headers only, with no end: read up to the header limit, then stop.
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 65536;
        this.push(produced > 64 * (1 << 20) ? null : Buffer.from(`X-Filler: ${'a'.repeat(65536 - 12)}\n`));
      },
    });
    const pkgs = await pythonCataloger.parse(`${SITE}/x.dist-info/METADATA`, { kind: 'stream', stream: endless, size: 64 << 20 });
    endless.destroy();
    assert.deepEqual(pkgs, []);
    assert.ok(produced <= 4 << 20, `read ${produced} bytes of headers`);
    // Read from a stream, the body after the headers is not read.
    const long = Buffer.concat([Buffer.from('Name: big\nVersion: 1\n\n'), Buffer.alloc(8 << 20, 0x61)]);
    assert.deepEqual(lines(await pythonCataloger.parse(`${SITE}/x.dist-info/METADATA`, { kind: 'stream', stream: Readable.from([long.subarray(0, 10), long.subarray(10)]), size: long.length })), ['big@1 exact']);
  });

  test("the host's Python distributions read as importlib.metadata reads them", async (t) => {
    const python = requireTool('python3', 'apt-get install -y python3');
    const dirs = ['/usr/lib/python3/dist-packages', ...readdirSync('/usr/lib').filter((d) => /^python3\.\d+$/.test(d)).map((d) => `/usr/lib/${d}`)].filter((d) => existsSync(d));
    const oracle = execFileSync(python, ['-c', [
      'import importlib.metadata as m, json, re, sys',
      'out = []',
      'for d in m.distributions(path=sys.argv[1:]):',
      '    name, version = d.metadata["Name"], d.metadata["Version"]',
      '    out.append({"path": str(d._path), "name": name, "version": version, "normalized": re.sub(r"[-_.]+", "-", name).lower() if name else None})',
      'print(json.dumps(out))',
    ].join('\n'), ...dirs], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const dists = JSON.parse(oracle) as Array<{ path: string; name: string | null; version: string | null; normalized: string | null }>;
    assert.ok(dists.length >= 3, `expected some Python distributions under ${dirs.join(', ')}; apt-get install -y python3-yaml python3-cryptography`);
    let compared = 0;
    for (const d of dists) {
      const file = d.path.endsWith('.dist-info') ? path.join(d.path, 'METADATA') : statSync(d.path).isDirectory() ? path.join(d.path, 'PKG-INFO') : d.path;
      if (!existsSync(file)) continue;
      const got = await feed(pythonCataloger, realpathSync(file).slice(1), file);
      const want = d.name && d.version ? [{ type: 'pypi', name: d.normalized, version: d.version, confidence: 'exact', metadata: { name: d.name } }] : [];
      assert.deepEqual(got.map(({ licenses: _l, ...p }) => p), want, file);
      compared++;
    }
    assert.ok(compared >= 3, `compared ${compared} distributions`);
    t.diagnostic(`${compared} of ${dists.length} distributions compared with importlib.metadata`);
  });
});

describe('java cataloger', () => {
  const KEYS = ['path', 'source'];
  const jar = async (fixture: string) => lines(await feed(javaCataloger, `opt/app/${fixture}`, data('java', fixture)), KEYS);
  /** A jar holding only one of the shared MANIFEST.MF fixtures. */
  const manifestJar = (dir: string) => makeZip([{ name: 'META-INF/MANIFEST.MF', data: readFileSync(data('java', dir, 'MANIFEST.MF')), method: 'deflate' }]);
  const pom = (g: string | undefined, a: string, v: string) => `${g ? `groupId=${g}\n` : ''}artifactId=${a}\nversion=${v}\n`;

  test('wants Java archives by name, as streams', () => {
    const want = (p: string) => javaCataloger.wants(p, { size: 1 << 20, mode: 0o644 });
    for (const p of ['opt/app/app.jar', 'usr/local/tomcat/webapps/ROOT.war', 'opt/app.ear', 'var/jenkins_home/plugins/git.jpi', 'var/jenkins_home/plugins/git.hpi', 'opt/A.JAR']) assert.equal(want(p), 'stream', p);
    for (const p of ['opt/app/app.jar.sha1', 'opt/app/not_jar', 'opt/app/jar', 'opt/x.zip']) assert.equal(want(p), false, p);
  });

  test('the shared jars: pom.properties, nesting to the depth limit, manifests, broken archives', async () => {
    assert.deepEqual(await jar('simple.jar'), ['com.some.package/package-name@1.2.3 exact path=opt/app/simple.jar source=pom.properties']);
    assert.deepEqual(await jar('complex.jar'), [
      'com.some.anotherpackage/another-package-name@3.2.1 exact path=opt/app/complex.jar!BOOT-INF/lib/inner.jar source=pom.properties',
      'com.some.package/package-name@1.2.3 exact path=opt/app/complex.jar source=pom.properties',
    ]);
    assert.deepEqual(await jar('nested_at_10.jar'), [`com.some.package/package-name@1.2.3 exact path=opt/app/nested_at_10.jar${'!nested.jar'.repeat(9)} source=pom.properties`]);
    // 99 levels: past the limit, nothing found, so the file is reported as not read rather than clean.
    await assert.rejects(feed(javaCataloger, 'opt/app/nested_at_100.jar', data('java', 'nested_at_100.jar')), (err: unknown) => err instanceof CatalogError && /nesting deeper than 16/.test(err.message));
    // Bundle-SymbolicName com.google.src.yolo, Bundle-Version 0.1.2, no pom.properties.
    assert.deepEqual(await jar('com.google.src.yolo-0.1.2.jar'), ['com.google.src/yolo@0.1.2 inferred path=opt/app/com.google.src.yolo-0.1.2.jar source=MANIFEST.MF']);
    // pom.properties without groupId is no Maven coordinate; names in file names are not read.
    for (const f of ['pom_missing_group_id.jar', 'pom_missing_group_id-2.4.0.jar', 'no_pom_properties.jar', 'no_pom_properties-2.4.0.jar', 'org.eclipse.sisu.inject-0.3.5.jar', 'empty.jar']) {
      assert.deepEqual(await jar(f), [], f);
    }
    for (const f of ['invalid_jar.jar', 'not_jar']) {
      await assert.rejects(javaCataloger.parse(`opt/app/${f}`, { kind: 'stream', stream: createReadStream(data('java', f)), size: statSync(data('java', f)).size }), CatalogError, f);
    }
  });

  test('the shared MANIFEST.MF fixtures, each in a jar of its own', async () => {
    const m = async (dir: string) => lines(await feed(javaCataloger, `opt/${dir}.jar`, manifestJar(dir)), ['source']);
    assert.deepEqual(await m('manifest-symbolicname'), ['com.google.guava/failureaccess@1.0.1 inferred source=MANIFEST.MF']);
    // Implementation-Version 2.4.0 over Bundle-Version 2.4.0.final_20141213170938.
    assert.deepEqual(await m('combine-manifest-filename'), ['org.apache/ivy@2.4.0 inferred source=MANIFEST.MF']);
    assert.deepEqual(await m('known-group-id'), ['spring-web@5.3.26 inferred source=MANIFEST.MF']);
    // Implementation-Title/-Version of axis are in a per-entry section, not the main one.
    assert.deepEqual(await m('axis'), []);
    // "no spaces allowed in group id", "%pluginName", "org.elasticsearch#server;8.14.3" are no identifiers; no name at all.
    for (const dir of ['invalid-ids', 'manifest-implementation-title', 'manifest-no-group-id']) assert.deepEqual(await m(dir), [], dir);
    // With a pom.properties the manifest is not used.
    const both = makeZip([{ name: 'META-INF/MANIFEST.MF', data: readFileSync(data('java', 'manifest-symbolicname', 'MANIFEST.MF')) }, { name: 'META-INF/maven/g/a/pom.properties', data: pom('g', 'a', '1') }]);
    assert.deepEqual(lines(await feed(javaCataloger, 'x.jar', both)), ['g/a@1 exact']);
  });

  test('a war with libraries, a shaded jar, a nested jar too large for memory', async () => {
    const lib = (g: string, a: string, v: string) => makeZip([{ name: `META-INF/maven/${g}/${a}/pom.properties`, data: `#Generated by Maven\n#Mon Jan 01\n${pom(g, a, v)}` }]);
    const manifestOnly = makeZip([{ name: 'META-INF/MANIFEST.MF', data: 'Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.tool;singleton:=true\r\nBundle-Version: 3.1.4\r\n\r\n' }]);
    const shaded = makeZip([
      { name: 'META-INF/maven/com.example/uber/pom.properties', data: pom('com.example', 'uber', '2.0') },
      { name: 'META-INF/maven/org.ow2.asm/asm/pom.properties', data: pom('org.ow2.asm', 'asm', '9.5') },
      { name: 'META-INF/maven/org.ow2.asm/asm/pom.properties', data: pom('org.ow2.asm', 'asm', '9.5') },
    ]);
    const big = makeZip([{ name: 'blob.bin', data: Buffer.alloc(6 << 20, 7) }, { name: 'META-INF/maven/com.example/big/pom.properties', data: pom('com.example', 'big', '1.0') }]);
    const war = makeZip([
      { name: 'WEB-INF/', data: '' },
      { name: 'WEB-INF/lib/jackson-databind-2.13.2.jar', data: lib('com.fasterxml.jackson.core', 'jackson-databind', '2.13.2.1'), method: 'deflate' },
      { name: 'WEB-INF/lib/tool.jar', data: manifestOnly },
      { name: 'WEB-INF/lib/uber.jar', data: shaded },
      { name: 'WEB-INF/lib/big.jar', data: big },
      { name: 'WEB-INF/lib/fake.jar', data: 'not a zip at all' },
    ]);
    const before = tmpDirsNamed('berth-jar-');
    assert.deepEqual(lines(await feed(javaCataloger, 'usr/local/tomcat/webapps/app.war', war), ['path']), [
      'com.example/big@1.0 exact path=usr/local/tomcat/webapps/app.war!WEB-INF/lib/big.jar',
      'com.example/uber@2.0 exact path=usr/local/tomcat/webapps/app.war!WEB-INF/lib/uber.jar',
      'com.fasterxml.jackson.core/jackson-databind@2.13.2.1 exact path=usr/local/tomcat/webapps/app.war!WEB-INF/lib/jackson-databind-2.13.2.jar',
      'org.example/tool@3.1.4 inferred path=usr/local/tomcat/webapps/app.war!WEB-INF/lib/tool.jar',
      'org.ow2.asm/asm@9.5 exact path=usr/local/tomcat/webapps/app.war!WEB-INF/lib/uber.jar',
    ]);
    assert.deepEqual(tmpDirsNamed('berth-jar-'), before, 'temporary files removed');
  });

  test('hostile archives: garbage, truncation, lying sizes, nesting bombs, many entries; no crash, nothing left behind', async () => {
    const before = tmpDirsNamed('berth-jar-');
    const parse = (bytes: Buffer) => feed(javaCataloger, 'x.jar', bytes);
    await assert.rejects(parse(Buffer.alloc(1 << 20, 0xa5)), CatalogError);
    const complex = readFileSync(data('java', 'complex.jar'));
    for (const cut of [10, complex.length - 30, complex.length - 1]) await assert.rejects(parse(complex.subarray(0, cut)), CatalogError, `cut at ${cut}`);
    // A pom.properties that inflates past its declared size, a nested jar that does: skipped, not believed.
    const liar = makeZip([
      { name: 'META-INF/maven/a/b/pom.properties', data: Buffer.concat([Buffer.from(pom('a', 'b', '1')), Buffer.alloc(8 << 20, 0x20)]), method: 'deflate', declaredSize: 40 },
      { name: 'lib/inner.jar', data: Buffer.concat([makeZip([{ name: 'pom.properties', data: pom('c', 'd', '1') }]), Buffer.alloc(32 << 20)]), method: 'deflate', declaredSize: 1000 },
      { name: 'META-INF/maven/ok/ok/pom.properties', data: pom('ok', 'ok', '1') },
    ]);
    assert.deepEqual(lines(await parse(liar)), ['ok/ok@1 exact']);
    // A broken local header under an intact central directory: that entry is skipped.
    const broken = makeZip([{ name: 'META-INF/maven/a/b/pom.properties', data: pom('a', 'b', '1') }, { name: 'pom.properties', data: pom('e', 'f', '2') }]);
    broken.writeUInt32LE(0xdeadbeef, 0);
    assert.deepEqual(lines(await parse(broken)), ['e/f@2 exact']);
    // 30 levels of nesting with a package at level 3: that one is found, the rest left at the limit.
    let nest = makeZip([{ name: 'pom.properties', data: pom('deep', 'deep', '1') }]);
    for (let level = 30; level > 0; level--) {
      const entries: Array<{ name: string; data: Buffer | string }> = [{ name: `l${level}.jar`, data: nest }];
      if (level === 3) entries.push({ name: 'META-INF/maven/g/three/pom.properties', data: pom('g', 'three', '3') });
      nest = makeZip(entries);
    }
    assert.deepEqual(lines(await parse(nest)), ['g/three@3 exact']);
    // 60,000 entries, the record last.
    const many = makeZip([...Array.from({ length: 60_000 }, (_, i) => ({ name: `res/${i}.txt`, data: '' })), { name: 'META-INF/maven/m/many/pom.properties', data: pom('m', 'many', '6') }]);
    assert.deepEqual(lines(await parse(many)), ['m/many@6 exact']);
    // Values that are no Maven identifiers.
    const odd = makeZip([{ name: 'a/pom.properties', data: pom('g g', 'a', '1') }, { name: 'b/pom.properties', data: pom('g', '${artifactId}', '1') }, { name: 'c/pom.properties', data: pom('g', 'a', '') }, { name: 'd/pom.properties', data: Buffer.from([0xff, 0, 0xfe]) }]);
    assert.deepEqual(await parse(odd), []);
    assert.deepEqual(tmpDirsNamed('berth-jar-'), before, 'temporary files removed');
  });

  test("the host's jars read as Python's zipfile reads their pom.properties (nested ones too)", async (t) => {
    const python = requireTool('python3', 'apt-get install -y python3');
    const candidates = ['/usr/share/java', '/usr/share/maven/lib'].filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.jar')).map((f) => path.join(d, f)));
    const m2 = path.join(os.homedir(), '.m2', 'repository');
    if (existsSync(m2)) {
      const all = execFileSync('find', [m2, '-name', '*.jar', '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      // An even sample of the local Maven repository (real Maven Central artifacts), to bound the time.
      const step = Math.max(1, Math.floor(all.length / 150));
      candidates.push(...all.filter((_, i) => i % step === 0));
    }
    const jars = [...new Set(candidates.filter((j) => existsSync(j)).map((j) => realpathSync(j)))].sort();
    assert.ok(jars.length >= 5, `expected real jars under /usr/share/java or /usr/share/maven/lib; install them with: apt-get install -y maven`);
    const oracle = execFileSync(python, ['-c', [
      'import io, json, re, sys, zipfile',
      'def walk(z, where, depth, out):',
      '    for info in z.infolist():',
      '        name = info.filename',
      '        base = name.rsplit("/", 1)[-1]',
      '        if base == "pom.properties":',
      '            props = {}',
      '            for line in z.read(info).decode("utf-8", "replace").splitlines():',
      '                if "=" in line and not line.lstrip().startswith("#"):',
      '                    k, v = line.split("=", 1)',
      '                    props.setdefault(k.strip(), v.strip())',
      '            if all(props.get(k) for k in ("groupId", "artifactId", "version")):',
      '                out.add(f"{where} {props[\'groupId\']}/{props[\'artifactId\']}@{props[\'version\']}")',
      '        elif re.search(r"\\.(jar|war|ear|jpi|hpi)$", base, re.I) and depth < 16:',
      '            try:',
      '                walk(zipfile.ZipFile(io.BytesIO(z.read(info))), where + "!" + name, depth + 1, out)',
      '            except Exception:',
      '                pass',
      'result = {}',
      'for j in sys.argv[1:]:',
      '    out = set()',
      '    walk(zipfile.ZipFile(j), j[1:], 0, out)',
      '    result[j] = sorted(out)',
      'print(json.dumps(result))',
    ].join('\n'), ...jars], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const want = JSON.parse(oracle) as Record<string, string[]>;
    let withPom = 0;
    for (const j of jars) {
      const got = await feed(javaCataloger, j.slice(1), j);
      const exact = got.filter((p) => p.confidence === 'exact').map((p) => `${p.metadata!.path} ${p.namespace}/${p.name}@${p.version}`).sort();
      assert.deepEqual(exact, want[j], j);
      if (exact.length > 0) withPom++;
      // Only an archive without pom.properties is named from its manifest.
      for (const p of got.filter((x) => x.confidence === 'inferred')) assert.ok(!exact.some((e) => e.startsWith(`${p.metadata!.path} `)), `${j}: ${p.metadata!.path}`);
    }
    assert.ok(withPom >= 3, `${withPom} of ${jars.length} jars had pom.properties`);
    t.diagnostic(`${jars.length} jars compared with Python's zipfile, ${withPom} with pom.properties`);
  });
});

describe('go-binary cataloger', () => {
  let work = '';
  let go = '';
  let plain = ''; // stdlib only
  let withDeps = ''; // a proxied module, a module replaced by another, a module replaced by a local directory
  let goVersion = '';
  const KEYS = ['replace', 'replaces', 'main'];

  /** Offline: modules come from a file:// proxy in the work directory, never from the network. */
  const goEnv = () => ({
    ...process.env, GOPATH: path.join(work, 'gopath'), GOCACHE: path.join(work, 'cache'), GOPROXY: `file://${path.join(work, 'proxy')}`,
    GOFLAGS: '-mod=mod', GOSUMDB: 'off', GONOSUMDB: '*', GOTOOLCHAIN: 'local', GOWORK: 'off', CGO_ENABLED: '0',
  });
  const goRun = (cwd: string, args: string[]) => {
    const r = spawnSync(go, args, { cwd, env: goEnv(), encoding: 'utf8' });
    assert.equal(r.status, 0, `go ${args.join(' ')} failed in ${cwd}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  /** A module in the file:// proxy, as `go mod download` expects it: list, .info, .mod, .zip. */
  const proxyModule = async (modPath: string, version: string, goMod: string, files: Record<string, string>) => {
    const dir = path.join(work, 'proxy', modPath, '@v');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'list'), `${version}\n`);
    await writeFile(path.join(dir, `${version}.info`), JSON.stringify({ Version: version, Time: '2024-01-01T00:00:00Z' }));
    await writeFile(path.join(dir, `${version}.mod`), goMod);
    const entries = Object.entries({ 'go.mod': goMod, ...files }).map(([name, text]) => ({ name: `${modPath}@${version}/${name}`, data: text, method: 'deflate' as const }));
    await writeFile(path.join(dir, `${version}.zip`), makeZip(entries));
  };

  before(async () => {
    go = requireTool('go', 'apt-get install -y golang-go');
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-go-'));
    goVersion = execFileSync(go, ['version'], { encoding: 'utf8' }).split(' ')[2];

    const hello = path.join(work, 'hello');
    await mkdir(hello, { recursive: true });
    await writeFile(path.join(hello, 'go.mod'), 'module example.com/hello\n\ngo 1.18\n');
    await writeFile(path.join(hello, 'main.go'), 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n');
    plain = path.join(work, 'hello-bin');
    goRun(hello, ['build', '-buildvcs=false', '-o', plain, '.']);

    await proxyModule('example.com/lib', 'v1.2.3', 'module example.com/lib\n\ngo 1.18\n', { 'lib.go': 'package lib\n\nfunc Name() string { return "lib" }\n' });
    // A fork published under another path; as a replacement it declares the path it replaces.
    await proxyModule('example.com/fork', 'v1.2.4', 'module example.com/old\n\ngo 1.18\n', { 'old.go': 'package old\n\nfunc Name() string { return "fork" }\n' });
    const greet = path.join(work, 'greet');
    await mkdir(greet, { recursive: true });
    await writeFile(path.join(greet, 'go.mod'), 'module example.com/greet\n\ngo 1.18\n');
    await writeFile(path.join(greet, 'greet.go'), 'package greet\n\nfunc Hello() string { return "hello" }\n');
    const app = path.join(work, 'app');
    await mkdir(app, { recursive: true });
    await writeFile(path.join(app, 'go.mod'), [
      'module example.com/app', '', 'go 1.18', '',
      'require (', '\texample.com/greet v1.0.0', '\texample.com/lib v1.2.3', '\texample.com/old v1.0.0', ')', '',
      'replace example.com/greet => ../greet', '',
      'replace example.com/old v1.0.0 => example.com/fork v1.2.4', '',
    ].join('\n'));
    await writeFile(path.join(app, 'main.go'), [
      'package main', '', 'import (', '\t"fmt"', '', '\t"example.com/greet"', '\t"example.com/lib"', '\t"example.com/old"', ')', '',
      'func main() { fmt.Println(greet.Hello(), lib.Name(), old.Name()) }', '',
    ].join('\n'));
    withDeps = path.join(work, 'app-bin');
    goRun(app, ['build', '-buildvcs=false', '-o', withDeps, '.']);
  });
  after(async () => {
    if (!work) return;
    // The module cache is written read-only.
    spawnSync('chmod', ['-R', 'u+w', work]);
    await rm(work, { recursive: true, force: true });
  });

  test('wants executables and shared objects of some size, as streams', () => {
    assert.equal(goBinaryCataloger.wants('usr/local/bin/app', { size: 2 << 20, mode: 0o100755 }), 'stream');
    assert.equal(goBinaryCataloger.wants('usr/lib/libgo.so', { size: 2 << 20, mode: 0o100644 }), 'stream');
    assert.equal(goBinaryCataloger.wants('usr/lib/libgo.so.1.2', { size: 2 << 20, mode: 0o100644 }), 'stream');
    assert.equal(goBinaryCataloger.wants('usr/share/doc/README', { size: 2 << 20, mode: 0o100644 }), false);
    assert.equal(goBinaryCataloger.wants('usr/local/bin/script.sh', { size: 300, mode: 0o100755 }), false);
  });

  test('a stdlib-only binary built here: the toolchain as package "stdlib", the main module kept as metadata', async () => {
    const pkgs = await feed(goBinaryCataloger, 'usr/local/bin/hello', plain, 0o755);
    const goos = execFileSync(go, ['env', 'GOOS'], { encoding: 'utf8', env: goEnv() }).trim();
    const goarch = execFileSync(go, ['env', 'GOARCH'], { encoding: 'utf8', env: goEnv() }).trim();
    // go1.19.8 → v1.19.8 (a release before Go 1.21 may be "go1.20" → v1.20.0).
    const m = /^go(\d+)\.(\d+)(?:\.(\d+))?$/.exec(goVersion);
    assert.ok(m, `unexpected go version ${goVersion}`);
    assert.deepEqual(pkgs, [{
      type: 'golang', name: 'stdlib', version: `v${m[1]}.${m[2]}.${m[3] ?? '0'}`, confidence: 'version-based',
      metadata: { goVersion, mainModule: 'example.com/hello', goos, goarch },
    }]);
  });

  test('dependencies: a proxied module, a module replaced by another, one replaced by a local directory', async () => {
    const pkgs = await feed(goBinaryCataloger, 'usr/local/bin/app', withDeps, 0o755);
    assert.deepEqual(lines(pkgs, KEYS), [
      'example.com/fork@v1.2.4 version-based replaces=example.com/old@v1.0.0',
      // Built from ../greet: v1.0.0 names code that was not used.
      'example.com/greet@v1.0.0 inferred replace=../greet',
      'example.com/lib@v1.2.3 version-based',
      `stdlib@${pkgs.find((p) => p.name === 'stdlib')!.version} version-based`,
    ]);
    assert.ok(pkgs.every((p) => p.type === 'golang' && p.metadata?.goVersion === goVersion && p.metadata?.mainModule === 'example.com/app'));
    const lib = pkgs.find((p) => p.name === 'lib')!;
    assert.equal(lib.namespace, 'example.com');
    // The same lines as the Go toolchain reads from the binary.
    const told = execFileSync(go, ['version', '-m', withDeps], { encoding: 'utf8' });
    assert.match(told, /\tdep\texample\.com\/lib\tv1\.2\.3\th1:/);
    assert.match(told, /\tdep\texample\.com\/old\tv1\.0\.0\s*\n\t=>\texample\.com\/fork\tv1\.2\.4\th1:/);
    assert.match(told, /\tdep\texample\.com\/greet\tv1\.0\.0\s*\n\t=>\t\.\.\/greet\t\(devel\)/);
  });

  test('the build info is found whatever the chunk boundaries, holding only a small tail', async () => {
    const whole = readFileSync(withDeps);
    const want = await goBinaryCataloger.parse('app', { kind: 'buffer', data: whole });
    const at = whole.indexOf(Buffer.from('\xff Go buildinf:', 'latin1'));
    assert.ok(at > 0 && at % 16 === 0);
    for (const cuts of [[at + 1], [at + 13], [at + 14], [at + 15], [at + 32], [at + 33], [at + 40], [at + 90, at + 91, at + 92], [at - 1, at + 200]]) {
      const parts: Buffer[] = [];
      let from = 0;
      for (const cut of cuts) {
        parts.push(whole.subarray(from, cut));
        from = cut;
      }
      parts.push(whole.subarray(from));
      const got = await goBinaryCataloger.parse('app', { kind: 'stream', stream: Readable.from(parts), size: whole.length });
      assert.deepEqual(got, want, `cut at ${cuts.map((c) => c - at).join(',')} from the magic`);
    }
    // Small chunks all the way (the first must hold the executable's magic).
    const small: Buffer[] = [whole.subarray(0, 4096)];
    for (let i = 4096; i < whole.length; i += 4093) small.push(whole.subarray(i, i + 4093));
    assert.deepEqual(await goBinaryCataloger.parse('app', { kind: 'stream', stream: Readable.from(small), size: whole.length }), want);
  });

  test("the host's binaries read as `go version -m` reads them", async (t) => {
    const dirs = ['/usr/bin', '/usr/sbin', '/usr/local/bin', ...readdirSync('/usr/lib').filter((d) => /^go(-[\d.]+)?$/.test(d)).map((d) => `/usr/lib/${d}/bin`)];
    const files = [...new Set(dirs.filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).map((f) => path.join(d, f))).filter((f) => {
      const st = statSync(f, { throwIfNoEntry: false });
      return st?.isFile() && goBinaryCataloger.wants(f.slice(1), { size: st.size, mode: st.mode });
    }).map((f) => realpathSync(f)))].sort();
    let goBinaries = 0;
    let others = 0;
    let pointerBased = 0;
    for (const f of files) {
      const r = spawnSync(go, ['version', '-m', f], { encoding: 'utf8' });
      const old = /^\S+: go1\.([0-9]|1[0-7])(\.|\s|$)/.test(r.stdout);
      if (r.status === 0 && old) {
        // Go 1.17 and older: build info by pointers, not read (said so rather than reported clean).
        await assert.rejects(feed(goBinaryCataloger, f.slice(1), f, 0o755), CatalogError, f);
        pointerBased++;
        continue;
      }
      const got = await feed(goBinaryCataloger, f.slice(1), f, 0o755);
      if (r.status !== 0 || !r.stdout.startsWith(`${f}: `)) {
        assert.deepEqual(got, [], `${f} is no Go binary to go version -m`);
        others++;
        continue;
      }
      goBinaries++;
      const out = r.stdout.split('\n');
      const version = out[0].slice(f.length + 2);
      const want: string[] = [];
      let mainModule: string | undefined;
      for (let i = 1; i < out.length; i++) {
        const [, kind, p, v] = out[i].split('\t');
        const [, next, rp, rv] = (out[i + 1] ?? '').split('\t');
        if (kind === 'path') mainModule ??= p;
        if (kind === 'mod') mainModule = p;
        if ((kind !== 'dep' && kind !== 'mod') || v === '(devel)') continue;
        const suffix = kind === 'mod' ? ' main=true' : '';
        if (next === '=>' && /^[./]/.test(rp)) want.push(`${p}@${v} inferred replace=${rp}${suffix}`);
        else if (next === '=>') want.push(`${rp}@${rv} version-based replaces=${p}@${v}${suffix}`);
        else want.push(`${p}@${v} version-based${suffix}`);
      }
      const modules = got.filter((p) => p.name !== 'stdlib');
      assert.deepEqual(lines(modules, KEYS), want.sort(), f);
      const stdlib = got.filter((p) => p.name === 'stdlib');
      assert.ok(got.every((p) => p.metadata?.goVersion === version && p.metadata?.mainModule === mainModule), `${f}: ${version}, ${mainModule}`);
      // A release (go1.x[.y], maybe with experiments) is the stdlib package; a snapshot of development is not.
      const release = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?(?:$|\s|-X:)/.exec(version);
      if (release) assert.deepEqual(stdlib.map((p) => p.version), [`v${release[1]}.${release[2]}.${release[3] ?? '0'}${release[4] ? `-${release[4]}.${release[5]}` : ''}`], f);
      else assert.deepEqual(stdlib, [], f);
    }
    assert.ok(goBinaries >= 1, `no Go binary found on this host besides the test's (go itself should be one: apt-get install -y golang-go); ${others} others, ${pointerBased} of Go 1.17 or older`);
    t.diagnostic(`${goBinaries} Go binaries compared with go version -m, ${others} other executables, ${pointerBased} of Go 1.17 or older`);
    assert.ok(others >= 1);
  });

  test('through the layer walker: all four catalogers on one gzip layer, a binary left half-read drains', async () => {
    const entries: Array<{ name: string; data: Buffer; mode: number }> = [
      // A large non-Go executable first, the Go binary (read only up to its build info) in the middle.
      { name: 'usr/bin/big', data: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(24 << 20, 1)]), mode: 0o755 },
      { name: 'usr/local/bin/app', data: Buffer.concat([readFileSync(withDeps), Buffer.alloc(8 << 20)]), mode: 0o755 },
      { name: 'opt/app/complex.jar', data: readFileSync(data('java', 'complex.jar')), mode: 0o644 },
      { name: 'srv/package-lock.json', data: readFileSync(data('npm-packagelock', 'scoped-packages.v2.json')), mode: 0o644 },
      { name: 'srv/node_modules/wrappy/package.json', data: Buffer.from('{"name":"wrappy","version":"1.0.2","license":"ISC"}'), mode: 0o644 },
      { name: 'usr/lib/python3/dist-packages/pip-22.2.2.dist-info/METADATA', data: readFileSync(data('python', 'distinfo_meta')), mode: 0o644 },
      { name: 'etc/after', data: Buffer.from('the tar goes on after the binaries'), mode: 0o644 },
    ];
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c) => { chunks.push(c as Buffer); });
    const packed = new Promise<void>((resolve) => pack.on('end', () => resolve()));
    for (const e of entries) await new Promise<void>((resolve, reject) => pack.entry({ name: e.name, mode: e.mode, size: e.data.length }, e.data, (err) => (err ? reject(err) : resolve())));
    pack.finalize();
    await packed;
    const gz = gzipSync(Buffer.concat(chunks));
    const result = await walkLayers(
      [{ digest: 'sha256:l0', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', open: async () => Readable.from([gz]) }],
      [npmCataloger, pythonCataloger, goBinaryCataloger, javaCataloger],
      { collect: ['etc/after'] },
    );
    assert.deepEqual(result.issues, []);
    assert.equal(result.files.get('etc/after')?.toString(), 'the tar goes on after the binaries');
    assert.deepEqual(result.packages.map((p) => `${p.cataloger} ${p.path} ${p.namespace ? `${p.namespace}/` : ''}${p.name}@${p.version}`).sort(), [
      'go-binary usr/local/bin/app example.com/fork@v1.2.4',
      'go-binary usr/local/bin/app example.com/greet@v1.0.0',
      'go-binary usr/local/bin/app example.com/lib@v1.2.3',
      `go-binary usr/local/bin/app stdlib@${result.packages.find((p) => p.name === 'stdlib')!.version}`,
      'java opt/app/complex.jar com.some.anotherpackage/another-package-name@3.2.1',
      'java opt/app/complex.jar com.some.package/package-name@1.2.3',
      'npm srv/node_modules/wrappy/package.json wrappy@1.0.2',
      'npm srv/package-lock.json @babel/code-frame@7.0.0',
      'npm srv/package-lock.json wrappy@1.0.2',
      'python usr/lib/python3/dist-packages/pip-22.2.2.dist-info/METADATA pip@22.2.2',
    ]);
  });

  test('hostile input: garbage, false and broken build info, old pointer-based info, a long stream', async () => {
    const elf = (body: Buffer) => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(12), body]);
    const magic = Buffer.from('\xff Go buildinf:', 'latin1');
    const parse = (bytes: Buffer) => goBinaryCataloger.parse('bin/x', { kind: 'stream', stream: Readable.from([bytes]), size: bytes.length });
    const header = (ptr: number, flags: number) => Buffer.concat([magic, Buffer.from([ptr, flags]), Buffer.alloc(16)]);
    const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
    assert.deepEqual(await parse(Buffer.from('#!/bin/sh\necho hello\n'.repeat(5000))), [], 'a script');
    assert.deepEqual(await parse(elf(Buffer.alloc(1 << 20, 0x5a))), []);
    // The magic as a string constant, not at an aligned offset, then at one with nonsense after it.
    assert.deepEqual(await parse(elf(Buffer.concat([Buffer.alloc(5), magic, Buffer.alloc(100)]))), []);
    assert.deepEqual(await parse(elf(Buffer.concat([header(7, 2), Buffer.alloc(64)]))), [], 'pointer size 7');
    assert.deepEqual(await parse(elf(Buffer.concat([header(8, 2), str('not a go version'), str('')]))), []);
    assert.deepEqual(await parse(elf(Buffer.concat([header(8, 2), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]))), [], 'a string of 4 GB announced');
    assert.deepEqual(await parse(elf(Buffer.concat([header(8, 2), str('go1.21.0'), Buffer.from([0x80, 0x80, 0x01]), Buffer.from('truncated')]))), [], 'truncated');
    assert.deepEqual(await parse(elf(Buffer.concat([header(8, 2), Buffer.alloc(10, 0xff)]))), [], 'varint longer than 10 bytes');
    await assert.rejects(parse(elf(Buffer.concat([header(8, 0), Buffer.alloc(64)]))), (err: unknown) => err instanceof CatalogError && /1\.17 or older/.test(err.message));
    // No module info (built outside a module): the toolchain only.
    assert.deepEqual(lines(await parse(elf(Buffer.concat([header(8, 2), str('go1.21rc2'), str('')])))), ['stdlib@v1.21.0-rc.2 version-based']);
    // Garbage module lines among real ones.
    const mod = ['path\tx/cmd', 'mod\tx\t(devel)\t', 'dep\tgood.example/a\tv1.0.0\th1:x', 'dep\t\t\t', 'dep\tbad path\tv1.0.0', 'dep\tx.example/b\tlatest', '=>', 'build\tGOOS=linux', 'build\tbroken', 'junk'].join('\n');
    const wrapped = `${'0'.repeat(16)}${mod}\n${'1'.repeat(16)}`;
    const info = Buffer.concat([header(8, 2), str('go1.22.1'), Buffer.from([wrapped.length & 0x7f | 0x80, wrapped.length >> 7]), Buffer.from(wrapped)]);
    assert.deepEqual(lines(await parse(elf(info)), ['goos']), ['good.example/a@v1.0.0 version-based goos=linux', 'stdlib@v1.22.1 version-based goos=linux']);
    // 256 MiB without build info streams through in bounded memory.
    let produced = 0;
    const zeros = Buffer.alloc(1 << 20);
    const long = new Readable({
      read() {
        produced++;
        this.push(produced === 1 ? elf(zeros) : produced > 256 ? null : zeros);
      },
    });
    const rss = process.memoryUsage().rss;
    assert.deepEqual(await goBinaryCataloger.parse('bin/big', { kind: 'stream', stream: long, size: 256 << 20 }), []);
    assert.ok(process.memoryUsage().rss - rss < 128 << 20, 'memory grew with the stream');
  });
});
