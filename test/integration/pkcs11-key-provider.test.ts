// The PKCS#11 key provider against a real SoftHSM2 token made for the test: keys are made, listed,
// used and destroyed on the token, never leave it, and are seen by other providers and other processes;
// the provider carries an encrypting driver end to end.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemoryDriver } from '../../src/storage/drivers/memory/memory-driver.js';
import { EncryptingDriver } from '../../src/storage/encryption/encrypting-driver.js';
import { KEY_ID, KeyMismatchError, KeyUnavailableError, MAX_WRAPPED } from '../../src/storage/encryption/key-provider.js';
import { Keyring } from '../../src/storage/encryption/keyring.js';
import { Pkcs11KeyProvider } from '../../src/storage/encryption/pkcs11-key-provider.js';
import { put, readAll } from '../unit/storage-driver.suite.js';
import { stringify } from 'yaml';
import { removeDir, runCli, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { pushBlob } from '../helpers/oci.js';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const TOKEN = 'berth-test';
const PIN = '5678';
const KEY_LABEL = 'berth-storage';
const OPTS = { module: MODULE, tokenLabel: TOKEN, pin: PIN, keyLabel: KEY_LABEL };
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROVIDER_URL = pathToFileURL(path.join(ROOT, 'src/storage/encryption/pkcs11-key-provider.ts')).href;
const PKCS11JS = createRequire(import.meta.url).resolve('pkcs11js');

const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

let dir: string;
let env: NodeJS.ProcessEnv;

/** Runs `script` (ESM, TypeScript imports allowed) in another Node process; its stdout is JSON. */
function inChild(script: string, input: unknown): any {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT, env: { ...env, CHILD_INPUT: JSON.stringify(input) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

before(async () => {
  if (!onPath('softhsm2-util') || !existsSync(MODULE)) assert.fail('install softhsm2: apt-get install softhsm2');
  if (!onPath('pkcs11-tool')) assert.fail('install opensc: apt-get install opensc');
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-pkcs11-'));
  await mkdir(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // SoftHSM2 reads its configuration when the module is initialized: set before any provider opens.
  process.env.SOFTHSM2_CONF = conf;
  env = { ...process.env };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--so-pin', '1234', '--pin', PIN], { env, stdio: 'pipe' });
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('PKCS#11 key provider over SoftHSM2', () => {
  let hsm: Pkcs11KeyProvider;
  let keyId: string;
  const dataKey = randomBytes(32);
  const aad = Buffer.from('blobs/sha256/ab/abcdef\0slot0');
  let wrapped: Buffer;

  test('open refuses clearly: a missing module, an unknown token, a wrong PIN (never repeated)', async () => {
    await assert.rejects(Pkcs11KeyProvider.open({ ...OPTS, module: path.join(dir, 'no-such-module.so') }),
      (e: Error) => e.message.includes(path.join(dir, 'no-such-module.so')));
    await assert.rejects(Pkcs11KeyProvider.open({ ...OPTS, module: path.join(dir, 'softhsm2.conf') }),
      (e: Error) => /cannot load the PKCS#11 module/.test(e.message) && e.message.includes('softhsm2.conf'));
    await assert.rejects(Pkcs11KeyProvider.open({ ...OPTS, tokenLabel: 'no-such-token' }),
      (e: Error) => e.message.includes('"no-such-token"') && /tokens found: .*"berth-test"/.test(e.message));
    const wrongPin = 'wr0ng-p1n-93174';
    await assert.rejects(Pkcs11KeyProvider.open({ ...OPTS, pin: wrongPin }), (e: Error) => {
      assert.match(e.message, /PIN .* is wrong/);
      assert.ok(!e.message.includes(wrongPin) && !String(e.stack).includes(wrongPin), 'the PIN is in the error');
      return true;
    });
  });

  test('create makes a key whose id Berth can store, and list shows it', async () => {
    hsm = await Pkcs11KeyProvider.open(OPTS);
    assert.equal(hsm.kind, 'pkcs11');
    assert.deepEqual(await hsm.list(), []);
    keyId = await hsm.create();
    assert.match(keyId, KEY_ID);
    assert.match(keyId, /^hsm-[0-9a-f]{16}$/);
    assert.deepEqual(await hsm.list(), [keyId]);
  });

  test('wrap and unwrap: a round trip, within a header slot; wrong aad, altered bytes and bad lengths are mismatches', async () => {
    wrapped = await hsm.wrap(keyId, dataKey, aad);
    assert.equal(wrapped.length, 60);
    assert.ok(wrapped.length <= MAX_WRAPPED);
    assert.deepEqual(await hsm.unwrap(keyId, wrapped, aad), dataKey);
    const again = await hsm.wrap(keyId, dataKey, aad);
    assert.notDeepEqual(again, wrapped, 'a fresh IV for every wrap');
    assert.deepEqual(await hsm.unwrap(keyId, again, aad), dataKey);

    await assert.rejects(hsm.unwrap(keyId, wrapped, Buffer.from('blobs/sha256/ab/other\0slot0')), KeyMismatchError);
    await assert.rejects(hsm.unwrap(keyId, wrapped, Buffer.alloc(0)), KeyMismatchError);
    for (const i of [0, 11, 12, 30, 43, 44, 59]) { // IV, ciphertext, tag
      const t = Buffer.from(wrapped);
      t[i] ^= 0x01;
      await assert.rejects(hsm.unwrap(keyId, t, aad), KeyMismatchError, `byte ${i} altered`);
    }
    for (const bad of [Buffer.alloc(0), wrapped.subarray(0, 28), wrapped.subarray(0, 59), Buffer.concat([wrapped, Buffer.alloc(1)]), Buffer.alloc(MAX_WRAPPED + 1)]) {
      await assert.rejects(hsm.unwrap(keyId, bad, aad), KeyMismatchError, `length ${bad.length}`);
    }
    // the provider still works after all those failed operations
    assert.deepEqual(await hsm.unwrap(keyId, wrapped, aad), dataKey);
  });

  test('an id the token does not hold is unavailable', async () => {
    await assert.rejects(hsm.unwrap('hsm-0000000000000000', wrapped, aad), KeyUnavailableError);
    await assert.rejects(hsm.wrap('hsm-0000000000000000', dataKey, aad), KeyUnavailableError);
    await assert.rejects(hsm.unwrap('kek-20260101T000000Z-abcdef', wrapped, aad), KeyUnavailableError);
  });

  test('many operations at once on one session all come out right', async () => {
    const keys = Array.from({ length: 40 }, () => randomBytes(32));
    const ws = await Promise.all(keys.map((k, i) => hsm.wrap(keyId, k, Buffer.from(`aad-${i}`))));
    const back = await Promise.all(ws.map((w, i) => hsm.unwrap(keyId, w, Buffer.from(`aad-${i}`))));
    assert.deepEqual(back, keys);
    const mixed = await Promise.allSettled(ws.map((w, i) => hsm.unwrap(keyId, w, Buffer.from(`aad-${i % 2 ? i : i + 1}`))));
    mixed.forEach((r, i) => assert.equal(r.status, i % 2 ? 'fulfilled' : 'rejected', `op ${i}`));
  });

  test('a second provider on the token (same process) lists and unwraps; a wrong PIN is refused even while logged in', async () => {
    const wrongPin = 'wr0ng-p1n-55120';
    await assert.rejects(Pkcs11KeyProvider.open({ ...OPTS, pin: wrongPin }),
      (e: Error) => /PIN .* is wrong/.test(e.message) && !e.message.includes(wrongPin));
    const second = await Pkcs11KeyProvider.open(OPTS);
    try {
      assert.deepEqual(await second.list(), [keyId]);
      assert.deepEqual(await second.unwrap(keyId, wrapped, aad), dataKey);
      assert.deepEqual(await hsm.unwrap(keyId, await second.wrap(keyId, dataKey, aad), aad), dataKey);
    } finally {
      await second.close();
    }
    // closing one provider leaves the other logged in
    assert.deepEqual(await hsm.unwrap(keyId, wrapped, aad), dataKey);
  });

  test('another process lists and unwraps what this one wrapped; a key it makes is found here without reopening', async () => {
    const child = inChild(`
      const { Pkcs11KeyProvider } = await import(${JSON.stringify(PROVIDER_URL)});
      const i = JSON.parse(process.env.CHILD_INPUT);
      const p = await Pkcs11KeyProvider.open(i.opts);
      const listed = await p.list();
      const opened = (await p.unwrap(i.keyId, Buffer.from(i.wrapped, 'hex'), Buffer.from(i.aad, 'hex'))).toString('hex');
      const made = await p.create();
      const wrapped = (await p.wrap(made, Buffer.from(i.dataKey, 'hex'), Buffer.from(i.aad, 'hex'))).toString('hex');
      await p.close();
      console.log(JSON.stringify({ listed, opened, made, wrapped }));
    `, { opts: OPTS, keyId, wrapped: wrapped.toString('hex'), aad: aad.toString('hex'), dataKey: dataKey.toString('hex') });
    assert.deepEqual(child.listed, [keyId]);
    assert.equal(child.opened, dataKey.toString('hex'));
    assert.match(child.made, /^hsm-[0-9a-f]{16}$/);
    assert.deepEqual((await hsm.list()).sort(), [keyId, child.made].sort());
    assert.deepEqual(await hsm.unwrap(child.made, Buffer.from(child.wrapped, 'hex'), aad), dataKey);
    await hsm.destroy(child.made);
  });

  test('the key cannot be read off the token: CKA_VALUE is sensitive, the key never extractable', async () => {
    const attrs = inChild(`
      import { createRequire } from 'node:module';
      const pkcs11js = createRequire(import.meta.url)(${JSON.stringify(PKCS11JS)});
      const i = JSON.parse(process.env.CHILD_INPUT);
      const p11 = new pkcs11js.PKCS11();
      p11.load(i.opts.module);
      p11.C_Initialize();
      try {
        const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === i.opts.tokenLabel);
        const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
        p11.C_Login(session, pkcs11js.CKU_USER, i.opts.pin);
        p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: i.opts.keyLabel }, { type: pkcs11js.CKA_ID, value: Buffer.from(i.ckaId, 'hex') }]);
        const key = p11.C_FindObjects(session);
        p11.C_FindObjectsFinal(session);
        let value = 'readable';
        try { p11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]); } catch (e) { value = e.message; }
        const flag = (type) => p11.C_GetAttributeValue(session, key, [{ type }])[0].value[0] === 1;
        const out = {
          value,
          extractable: flag(pkcs11js.CKA_EXTRACTABLE), neverExtractable: flag(pkcs11js.CKA_NEVER_EXTRACTABLE),
          sensitive: flag(pkcs11js.CKA_SENSITIVE), alwaysSensitive: flag(pkcs11js.CKA_ALWAYS_SENSITIVE),
          token: flag(pkcs11js.CKA_TOKEN), private: flag(pkcs11js.CKA_PRIVATE),
          uses: ['ENCRYPT', 'DECRYPT', 'WRAP', 'UNWRAP', 'SIGN', 'VERIFY', 'DERIVE'].filter((u) => flag(pkcs11js['CKA_' + u])),
          valueLen: p11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE_LEN }])[0].value.readUIntLE(0, 4),
        };
        p11.C_Logout(session);
        p11.C_CloseSession(session);
        console.log(JSON.stringify(out));
      } finally {
        p11.C_Finalize();
      }
    `, { opts: OPTS, ckaId: keyId.slice(4) });
    assert.deepEqual(attrs, {
      value: 'CKR_ATTRIBUTE_SENSITIVE', extractable: false, neverExtractable: true, sensitive: true, alwaysSensitive: true,
      token: true, private: true, uses: ['ENCRYPT', 'DECRYPT'], valueLen: 32,
    });

    // and OpenSC's tool, another PKCS#11 client, cannot read it either
    const read = spawnSync('pkcs11-tool', ['--module', MODULE, '--token-label', TOKEN, '--login', '--pin', PIN,
      '--read-object', '--type', 'secrkey', '--label', KEY_LABEL, '--id', keyId.slice(4), '--output-file', path.join(dir, 'stolen.key')], { env, encoding: 'utf8' });
    assert.notEqual(read.status, 0, `pkcs11-tool read the key: ${read.stdout}`);
    assert.match(read.stderr, /CKR_ATTRIBUTE_SENSITIVE/);
    assert.ok(!existsSync(path.join(dir, 'stolen.key')) || statSync(path.join(dir, 'stolen.key')).size === 0);
  });

  test('end to end: an encrypting driver over the HSM provider stores and reads back a 200 KiB file, across a rotation', async () => {
    const inner = new MemoryDriver();
    const current = { id: keyId };
    const driver = new EncryptingDriver(inner, new Keyring(hsm, async () => current.id), { encryptWrites: true });
    const marker = Buffer.from(`BERTH-HSM-MARKER-${randomBytes(6).toString('hex')}`);
    const data = Buffer.concat([randomBytes(100 * 1024), marker, randomBytes(100 * 1024 - marker.length)]);
    assert.equal(data.length, 200 * 1024);
    await put(driver, 'blobs/sha256/12/1234', data);
    assert.deepEqual(await readAll(await driver.read('blobs/sha256/12/1234')), data);
    assert.deepEqual(await driver.readBuffer('blobs/sha256/12/1234', { start: 100 * 1024, end: 100 * 1024 + marker.length - 1 }), marker);
    const stored = await inner.readBuffer('blobs/sha256/12/1234.enc');
    assert.equal(stored.indexOf(marker), -1, 'plaintext in the store');

    // rotate: new files under a new key, the old one still readable
    current.id = await hsm.create();
    await put(driver, 'blobs/sha256/56/5678', data.subarray(0, 70_000));
    // a fresh keyring over a fresh provider (nothing cached) opens both
    const other = await Pkcs11KeyProvider.open(OPTS);
    try {
      const cold = new EncryptingDriver(inner, new Keyring(other, async () => current.id), { encryptWrites: true });
      assert.deepEqual(await readAll(await cold.read('blobs/sha256/12/1234')), data);
      assert.deepEqual(await readAll(await cold.read('blobs/sha256/56/5678')), data.subarray(0, 70_000));
    } finally {
      await other.close();
    }
    await hsm.destroy(current.id);
  });

  test('destroy removes the key for good; destroying again, or an id not of the HSM, is no error', async () => {
    await hsm.destroy(keyId);
    assert.deepEqual(await hsm.list(), []);
    await assert.rejects(hsm.unwrap(keyId, wrapped, aad), KeyUnavailableError);
    await hsm.destroy(keyId);
    await hsm.destroy('kek-20260101T000000Z-abcdef');
    const fresh = await Pkcs11KeyProvider.open(OPTS);
    try {
      await assert.rejects(fresh.unwrap(keyId, wrapped, aad), KeyUnavailableError);
    } finally {
      await fresh.close();
    }
  });

  test('close is idempotent and later calls are refused', async () => {
    await hsm.close();
    await hsm.close();
    await assert.rejects(hsm.list(), /closed/);
    // the module was finalized with the last provider: opening again starts it afresh
    const again = await Pkcs11KeyProvider.open(OPTS);
    assert.deepEqual(await again.list(), []);
    await again.close();
  });
});

describe('a registry whose storage keys are in the HSM', () => {
  const TOKEN2 = 'berth-registry';
  let data: string;
  let config: string;
  let pinFile: string;
  let b: BerthProcess | undefined;
  const settings = () => ({
    auth: { enabled: false },
    storage: { encryption: { enabled: true, provider: 'pkcs11', pkcs11: { module: MODULE, tokenLabel: TOKEN2, pinFile } } },
  });
  const cli = (...args: string[]) => runCli([...args, '--data', data, '--config', config], { SOFTHSM2_CONF: env.SOFTHSM2_CONF! });
  const start = async () => { b = await startBerth({ dataDir: data, config: settings(), env: { SOFTHSM2_CONF: env.SOFTHSM2_CONF! } }); return b; };

  before(async () => {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN2, '--so-pin', '1234', '--pin', '24680'], { env, stdio: 'pipe' });
    data = await tempDir('berth-hsm-');
    pinFile = path.join(data, '..', `${path.basename(data)}.pin`);
    await writeFile(pinFile, '24680\n', { mode: 0o600 });
    config = path.join(data, '..', `${path.basename(data)}.yaml`);
    await writeFile(config, stringify(settings()));
  });
  after(async () => {
    await b?.stop();
    await removeDir(data);
    await rm(pinFile, { force: true });
    await rm(config, { force: true });
  });

  test('blobs are stored encrypted under a token key; rotation and retirement work through the CLI; a wrong PIN stops the start', async () => {
    const r = await start();
    const marker = Buffer.from(`hsm-marker-${randomBytes(8).toString('hex')}`);
    const blob = Buffer.concat(Array.from({ length: 300 }, () => Buffer.concat([marker, randomBytes(1000)])));
    const pushed = await pushBlob(r.url, 'hsm/app', blob);
    const files = execFileSync('find', [path.join(data, 'storage', 'blobs'), '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(files.length === 1 && files[0].endsWith('.enc'), files.join(', '));
    assert.ok(!(await readFile(files[0])).includes(marker), 'no plaintext on disk');
    assert.ok(!existsSync(path.join(data, 'secrets', 'storage.keys')), 'no key file: the key is in the token');

    const s1 = JSON.parse((await cli('keys', 'status', '--json')).stdout) as { provider: string; keys: { id: string; current: boolean; present: boolean }[] };
    assert.equal(s1.provider, 'pkcs11');
    assert.equal(s1.keys.length, 1);
    assert.match(s1.keys[0].id, /^hsm-[0-9a-f]{16}$/);
    assert.ok(s1.keys[0].present);

    const rot = await cli('keys', 'rotate', '--wait');
    assert.equal(rot.code, 0, rot.stderr);
    const ret = await cli('keys', 'retire', s1.keys[0].id);
    assert.equal(ret.code, 0, ret.stderr);
    const s2 = JSON.parse((await cli('keys', 'status', '--json')).stdout) as { keys: { id: string; state: string; current: boolean; present: boolean }[] };
    assert.deepEqual(s2.keys.map((k) => [k.state, k.present]).sort(), [['active', true], ['retired', false]]);
    const got = await fetch(`${r.url}/v2/hsm/app/blobs/${pushed.digest}`);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(blob));
    await r.stop();

    await writeFile(pinFile, '13579\n');
    await assert.rejects(start(), (e: Error) => /PIN given for .* is wrong|PIN .* is wrong/.test(e.message) && !e.message.includes('13579'));
    await writeFile(pinFile, '24680\n');
    const again = await start();
    const back = await fetch(`${again.url}/v2/hsm/app/blobs/${pushed.digest}`);
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(blob), 'read back after a restart, through the new key');
  });
});
