// Key-encryption keys (KEKs): where they live and the two things done with them. A provider wraps the
// random data key of each stored file; the KEK itself never leaves the provider (a file Berth reads,
// or an HSM that only answers wrap and unwrap).

/** Key ids appear in stored headers and in the database: short, printable, unambiguous. */
export const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Largest wrapped data key a header slot holds. */
export const MAX_WRAPPED = 128;

export interface KeyProvider {
  /** 'file', 'pkcs11', … (shown by `berth keys status`) */
  readonly kind: string;
  /** Ids of the keys the provider holds now (read afresh: another process may have added or removed one). */
  list(): Promise<string[]>;
  /** Makes a new KEK and returns its id. */
  create(): Promise<string>;
  /** Wraps a 32-byte data key with the KEK `keyId`, binding `aad`; at most MAX_WRAPPED bytes. */
  wrap(keyId: string, dataKey: Buffer, aad: Buffer): Promise<Buffer>;
  /** The data key, or KeyUnavailableError (no such key) / KeyMismatchError (wrong key, or tampered). */
  unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** Destroys the KEK for good (retirement); absent keys are not an error. */
  destroy(keyId: string): Promise<void>;
  close(): Promise<void>;
}

export class KeyUnavailableError extends Error {
  constructor(readonly keyId: string, why = 'the key provider does not hold it') {
    super(`key-encryption key ${keyId} is unavailable: ${why}`);
  }
}

export class KeyMismatchError extends Error {
  constructor(readonly keyId: string) {
    super(`key-encryption key ${keyId} does not open this data key (wrong key, or the stored header was altered)`);
  }
}
