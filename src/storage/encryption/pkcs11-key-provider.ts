// Key-encryption keys in an HSM, over PKCS#11: non-extractable AES-256 token keys that only ever answer
// AES-GCM encrypt and decrypt of data keys. A key is found by its label (shared by all of Berth's keys)
// and its CKA_ID; Berth names it `hsm-<hex of CKA_ID>`.
//
// Per process, a PKCS#11 module has one C_Initialize and one login state per token: C_Logout or
// C_Finalize through one session ends every other session of the process on that token. Several
// providers may be open at once (the server and a key rotation in the same process, tests), so the
// module and the login are shared and counted, and released by the last provider that closes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import type * as Pkcs11Js from 'pkcs11js';
import { KeyMismatchError, KeyUnavailableError, MAX_WRAPPED, type KeyProvider } from './key-provider.js';

type Lib = typeof Pkcs11Js;
type Handle = Buffer;

const IV = 12;
const TAG = 16;
const CKA_ID_BYTES = 8;
const ID = /^hsm-((?:[0-9a-f]{2}){1,30})$/;
// PKCS#11 3.0; the 2.40 headers pkcs11js carries do not name it.
const CKR_AEAD_DECRYPT_FAILED = 0x35;

interface Login { sessions: number; pin: Buffer }
interface Module { lib: Lib; p11: Pkcs11Js.PKCS11; initializedHere: boolean; users: number; logins: Map<string, Login> }

/** Loaded modules of this process, by real path (dlopen hands out one instance per file). */
const modules = new Map<string, Module>();
// PINs are remembered only as a keyed digest, to check a second login that PKCS#11 would wave through.
const PIN_MAC_KEY = randomBytes(32);
const pinDigest = (pin: string) => createHmac('sha256', PIN_MAC_KEY).update(pin, 'utf8').digest();

export class Pkcs11KeyProvider implements KeyProvider {
  readonly kind = 'pkcs11';
  private readonly handles = new Map<string, Handle>();
  // One session does one operation at a time: every call goes through this queue.
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly mod: Module,
    private readonly slotKey: string,
    private readonly session: Handle,
    readonly tokenLabel: string,
    readonly keyLabel: string,
  ) {}

  /**
   * @param o.module path of the vendor's PKCS#11 module (a shared library)
   * @param o.keyLabel CKA_LABEL of Berth's keys on the token
   */
  static async open(o: { module: string; tokenLabel: string; pin: string; keyLabel: string }): Promise<Pkcs11KeyProvider> {
    if (!o.tokenLabel) throw new Error('the PKCS#11 token label is empty');
    if (!o.keyLabel) throw new Error('the PKCS#11 key label is empty');
    // Loaded only here, so that nobody who does not use an HSM needs the native addon.
    let imported: Lib & { default?: Lib };
    try {
      imported = (await import('pkcs11js')) as Lib & { default?: Lib };
    } catch (e) {
      throw new Error(`the HSM key provider needs the npm package pkcs11js (a native addon), which failed to load: ${(e as Error).message}`);
    }
    const lib: Lib = imported.default ?? imported;
    const mod = acquireModule(lib, o.module);
    const { p11 } = mod;
    let session: Handle | undefined;
    let slotKey: string | undefined;
    try {
      const found: string[] = [];
      let slot: Handle | undefined;
      for (const s of p11.C_GetSlotList(true)) {
        const label = p11.C_GetTokenInfo(s).label.trim();
        found.push(label);
        if (label === o.tokenLabel && !slot) slot = s;
      }
      if (!slot) {
        const labels = found.filter((l) => l !== '').map((l) => JSON.stringify(l));
        throw new Error(`the PKCS#11 module ${o.module} has no token labelled ${JSON.stringify(o.tokenLabel)}; tokens found: ${labels.length ? labels.join(', ') : '(none)'}`);
      }
      const where = `PKCS#11 token ${JSON.stringify(o.tokenLabel)} (module ${o.module})`;
      const info = p11.C_GetTokenInfo(slot);
      if (info.flags & lib.CKF_USER_PIN_LOCKED) throw new Error(`the user PIN of ${where} is locked; the token's security officer must unlock it`);
      slotKey = slot.toString('hex');
      session = p11.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
      login(mod, slotKey, session, o.pin, where);
      return new Pkcs11KeyProvider(mod, slotKey, session, o.tokenLabel, o.keyLabel);
    } catch (e) {
      if (session) { try { p11.C_CloseSession(session); } catch { /* the error that brought us here matters */ } }
      releaseModule(mod);
      throw e;
    }
  }

  private run<T>(op: () => T): Promise<T> {
    const next = this.queue.then(() => {
      if (this.closing) throw new Error(`the PKCS#11 key provider for token ${JSON.stringify(this.tokenLabel)} is closed`);
      return op();
    });
    this.queue = next.catch(() => {});
    return next;
  }

  private get lib(): Lib { return this.mod.lib; }
  private get p11(): Pkcs11Js.PKCS11 { return this.mod.p11; }

  /** Every object of ours (label, class, AES) matching `extra`, searched afresh on the token. */
  private find(extra: Pkcs11Js.Template = []): Handle[] {
    const { lib, p11 } = this;
    p11.C_FindObjectsInit(this.session, [
      { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
      { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
      { type: lib.CKA_LABEL, value: this.keyLabel },
      ...extra,
    ]);
    const out: Handle[] = [];
    try {
      for (;;) {
        const batch = p11.C_FindObjects(this.session, 64);
        if (batch.length === 0) break;
        out.push(...batch);
      }
    } finally {
      p11.C_FindObjectsFinal(this.session);
    }
    return out;
  }

  private handle(keyId: string): Handle {
    const cached = this.handles.get(keyId);
    if (cached) return cached;
    const m = ID.exec(keyId);
    if (!m) throw new KeyUnavailableError(keyId, 'it is not the id of an HSM key');
    const [h] = this.find([{ type: this.lib.CKA_ID, value: Buffer.from(m[1], 'hex') }]);
    if (!h) throw new KeyUnavailableError(keyId, `PKCS#11 token ${JSON.stringify(this.tokenLabel)} holds no key labelled ${JSON.stringify(this.keyLabel)} with that id`);
    this.handles.set(keyId, h);
    return h;
  }

  /** Runs `op` with the key's handle; a handle gone stale (the object was destroyed and re-made, say) is looked up once more. */
  private withKey<T>(keyId: string, op: (h: Handle) => T): T {
    try {
      return op(this.handle(keyId));
    } catch (e) {
      const code = ckr(e);
      if (code !== this.lib.CKR_OBJECT_HANDLE_INVALID && code !== this.lib.CKR_KEY_HANDLE_INVALID) throw e;
      this.handles.delete(keyId);
      return op(this.handle(keyId));
    }
  }

  private gcm(iv: Buffer, aad: Buffer): Pkcs11Js.Mechanism {
    // CK_PARAMS_GCM is the 2.40 CK_GCM_PARAMS (with ulIvBits) that current modules, SoftHSM2 among them, read.
    const parameter: Pkcs11Js.GcmParams = { type: this.lib.CK_PARAMS_GCM, iv, ivBits: IV * 8, aad, tagBits: TAG * 8 };
    return { mechanism: this.lib.CKM_AES_GCM, parameter };
  }

  list(): Promise<string[]> {
    return this.run(() => {
      const ids = new Set<string>();
      for (const h of this.find()) {
        const [attr] = this.p11.C_GetAttributeValue(this.session, h, [{ type: this.lib.CKA_ID }]);
        const id = `hsm-${attr.value.toString('hex')}`;
        if (!ID.test(id) || ids.has(id)) continue; // not made by Berth, or ambiguous: the first one is used
        ids.add(id);
        this.handles.set(id, h);
      }
      return [...ids];
    });
  }

  create(): Promise<string> {
    return this.run(() => {
      const { lib } = this;
      const ckaId = randomBytes(CKA_ID_BYTES);
      const h = this.p11.C_GenerateKey(this.session, { mechanism: lib.CKM_AES_KEY_GEN }, [
        { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
        { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
        { type: lib.CKA_VALUE_LEN, value: 32 },
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
        { type: lib.CKA_ENCRYPT, value: true },
        { type: lib.CKA_DECRYPT, value: true },
        // Encrypt and decrypt only: data keys pass through as data, and modules default other uses on.
        { type: lib.CKA_WRAP, value: false },
        { type: lib.CKA_UNWRAP, value: false },
        { type: lib.CKA_SIGN, value: false },
        { type: lib.CKA_VERIFY, value: false },
        { type: lib.CKA_DERIVE, value: false },
        { type: lib.CKA_LABEL, value: this.keyLabel },
        { type: lib.CKA_ID, value: ckaId },
      ]);
      const id = `hsm-${ckaId.toString('hex')}`;
      this.handles.set(id, h);
      return id;
    });
  }

  destroy(keyId: string): Promise<void> {
    return this.run(() => {
      this.handles.delete(keyId);
      const m = ID.exec(keyId);
      if (!m) return;
      for (const h of this.find([{ type: this.lib.CKA_ID, value: Buffer.from(m[1], 'hex') }])) {
        try {
          this.p11.C_DestroyObject(this.session, h);
        } catch (e) {
          if (ckr(e) !== this.lib.CKR_OBJECT_HANDLE_INVALID) throw e; // destroyed meanwhile by another process
        }
      }
    });
  }

  wrap(keyId: string, dataKey: Buffer, aad: Buffer): Promise<Buffer> {
    if (IV + dataKey.length + TAG > MAX_WRAPPED) return Promise.reject(new RangeError(`a data key of ${dataKey.length} bytes does not fit a header slot once wrapped`));
    return this.run(() => this.withKey(keyId, (h) => {
      const iv = randomBytes(IV);
      this.p11.C_EncryptInit(this.session, this.gcm(iv, aad), h);
      // Room for the tag and then some: too small a buffer would leave the operation active.
      const body = this.p11.C_Encrypt(this.session, dataKey, Buffer.alloc(dataKey.length + 2 * TAG));
      if (body.length !== dataKey.length + TAG) throw new Error(`the HSM returned ${body.length} bytes for AES-GCM of ${dataKey.length}`);
      return Buffer.concat([iv, body]);
    }));
  }

  unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    return this.run(() => this.withKey(keyId, (h) => {
      if (wrapped.length <= IV + TAG || wrapped.length > MAX_WRAPPED) throw new KeyMismatchError(keyId);
      const { lib } = this;
      try {
        this.p11.C_DecryptInit(this.session, this.gcm(wrapped.subarray(0, IV), aad), h);
        const body = wrapped.subarray(IV);
        return Buffer.from(this.p11.C_Decrypt(this.session, body, Buffer.alloc(body.length)));
      } catch (e) {
        const code = ckr(e);
        // What modules answer for a tag that does not verify (SoftHSM2: CKR_GENERAL_ERROR); anything else
        // (a lost session, a device error) is not evidence of a wrong key and is passed on.
        if (code === lib.CKR_ENCRYPTED_DATA_INVALID || code === lib.CKR_ENCRYPTED_DATA_LEN_RANGE || code === CKR_AEAD_DECRYPT_FAILED
          || code === lib.CKR_GENERAL_ERROR || code === lib.CKR_FUNCTION_FAILED) {
          throw new KeyMismatchError(keyId);
        }
        throw e;
      }
    }));
  }

  close(): Promise<void> {
    this.closing ??= this.queue.then(() => {
      this.handles.clear();
      const login = this.mod.logins.get(this.slotKey);
      if (login && --login.sessions === 0) {
        this.mod.logins.delete(this.slotKey);
        try { this.p11.C_Logout(this.session); } catch { /* closing the last session logs out anyway */ }
      }
      try { this.p11.C_CloseSession(this.session); } catch { /* the session is gone already */ }
      releaseModule(this.mod);
    });
    return this.closing;
  }
}

/** The CKR_ code of a pkcs11js error, or undefined for anything else. */
function ckr(e: unknown): number | undefined {
  if (!(e instanceof Error) || !/^CKR_/.test(e.message)) return undefined;
  const { code } = e as Error & { code?: unknown };
  return typeof code === 'number' ? code : undefined;
}

function acquireModule(lib: Lib, modulePath: string): Module {
  if (!existsSync(modulePath)) throw new Error(`cannot load the PKCS#11 module ${modulePath}: no such file`);
  const key = realpathSync(modulePath);
  const known = modules.get(key);
  if (known) {
    known.users++;
    return known;
  }
  const p11 = new lib.PKCS11();
  try {
    p11.load(modulePath);
  } catch (e) {
    throw new Error(`cannot load the PKCS#11 module ${modulePath}: ${(e as Error).message}`);
  }
  let initializedHere = true;
  try {
    p11.C_Initialize({ flags: lib.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckr(e) !== lib.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      try { p11.close(); } catch { /* reporting the first error */ }
      throw new Error(`the PKCS#11 module ${modulePath} failed to initialize: ${(e as Error).message}`);
    }
    initializedHere = false; // by other code of this process, which finalizes it
  }
  const mod: Module = { lib, p11, initializedHere, users: 1, logins: new Map() };
  modules.set(key, mod);
  return mod;
}

function releaseModule(mod: Module): void {
  if (--mod.users > 0) return;
  for (const [k, m] of modules) if (m === mod) modules.delete(k);
  if (mod.initializedHere) { try { mod.p11.C_Finalize(); } catch { /* nothing left to do with it */ } }
  try { mod.p11.close(); } catch { /* idem */ }
}

/** Logs the session in, or checks the PIN against the login this process already holds on the token. */
function login(mod: Module, slotKey: string, session: Handle, pin: string, where: string): void {
  const { lib, p11 } = mod;
  const digest = pinDigest(pin);
  try {
    p11.C_Login(session, lib.CKU_USER, pin);
  } catch (e) {
    const code = ckr(e);
    const held = mod.logins.get(slotKey);
    if (code === lib.CKR_USER_ALREADY_LOGGED_IN && held) {
      // The token would accept any PIN now: hold this one to the PIN of the standing login.
      if (!timingSafeEqual(held.pin, digest)) throw new Error(`the PIN given for ${where} is wrong`);
      held.sessions++;
      return;
    }
    if (code === lib.CKR_USER_ALREADY_LOGGED_IN) return; // logged in by other code of this process
    if (code === lib.CKR_PIN_INCORRECT) throw new Error(`the PIN given for ${where} is wrong (CKR_PIN_INCORRECT)`);
    if (code === lib.CKR_PIN_LOCKED) throw new Error(`the user PIN of ${where} is locked (CKR_PIN_LOCKED); the token's security officer must unlock it`);
    if (code === lib.CKR_PIN_EXPIRED) throw new Error(`the user PIN of ${where} has expired (CKR_PIN_EXPIRED); set a new one`);
    if (code === lib.CKR_USER_PIN_NOT_INITIALIZED) throw new Error(`${where} has no user PIN set (CKR_USER_PIN_NOT_INITIALIZED)`);
    // pkcs11js messages are the CKR_ name alone: no PIN in them.
    throw new Error(`logging in to ${where} failed: ${code !== undefined ? (e as Error).message : 'the module refused the login'}`);
  }
  const held = mod.logins.get(slotKey);
  if (held) { held.sessions++; held.pin = digest; } else mod.logins.set(slotKey, { sessions: 1, pin: digest });
}
