// Whether an offline vulnerability bundle `F` is the one its publisher made, before it is imported:
// - `F.sig`: a detached signature (raw bytes, or base64 text) by one of the trusted keys;
// - `F.sha256`: a checksum in sha256sum format (`<hex>  <name>`; several lines, as in SHA256SUMS, are fine);
// - `F.pub` (optional): the signer's public key (PEM), so that a signature by a key not trusted here is
//   reported as such instead of as a bad signature.
// A checksum says the bytes arrived whole, not who made them: only a signature authenticates.
//
// What is signed, chosen so that the file is read once, as a stream, whatever its size:
// - RSA (PKCS#1 v1.5 or PSS, SHA-256) and ECDSA (P-256 with SHA-256, P-384 with SHA-384; DER or IEEE-P1363
//   signatures): the file's bytes, as `openssl dgst -sha256 -sign key.pem -out F.sig F` makes them; the
//   hash is computed while the file streams (node:crypto createVerify).
// - Ed25519: the 32 bytes of the file's SHA-256 digest. Pure Ed25519 hashes the whole message twice and
//   cannot be streamed: verifying `F` itself would hold a bundle of gigabytes in memory. Made with
//   `openssl dgst -sha256 -binary F > F.digest && openssl pkeyutl -sign -rawin -inkey key.pem -in F.digest -out F.sig`.
// The file is read again by the importer after this: whoever can rewrite it between the two reads defeats
// the check, so verify a copy that only Berth can write, or compare `sha256` with the imported bytes.
import { constants, createHash, createPublicKey, createVerify, type KeyObject, type Verify, verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export interface BundleTrust {
  /** public keys (KeyObject, or PEM: SPKI public keys or X.509 certificates); private keys give their public half */
  keys: ReadonlyArray<KeyObject | string>;
  /** refuse a bundle without a good signature (a checksum alone does not do) */
  requireSignature: boolean;
}

export interface BundleVerification {
  /** the strongest check that passed: a trusted signature, a checksum, or nothing to check */
  verified: 'signature' | 'checksum' | 'none';
  /** `sha256:<hex>` of the signing key's SubjectPublicKeyInfo (DER) when verified by signature */
  keyFingerprint?: string;
  /** the file's SHA-256 (hex), to compare with what is imported; absent when nothing was checked */
  sha256?: string;
  /** whether F.sha256 was there and matched (also when a signature verified) */
  checksumMatched?: boolean;
  /** things that did not fail the check but an operator should know */
  warnings: string[];
}

export type BundleFailure =
  | 'bad-signature'
  | 'checksum-mismatch'
  | 'signature-required'
  | 'untrusted-key'
  | 'unsigned-directory'
  | 'bad-checksum-file'
  | 'bad-key';

export class BundleVerificationError extends Error {
  constructor(readonly reason: BundleFailure, readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'BundleVerificationError';
  }
}

const MAX_SIG_BYTES = 64 * 1024;
const MAX_CHECKSUM_BYTES = 1024 * 1024;
const MIN_RSA_BITS = 2048;

interface Candidate {
  key: KeyObject;
  fingerprint: string;
  kind: 'ed25519' | 'ec' | 'rsa' | 'rsa-pss';
}

/** `sha256:<hex>` of a public key's SubjectPublicKeyInfo (DER): the key's name in results and errors. */
export function keyFingerprint(key: KeyObject | string): string {
  const pub = toPublicKey(key);
  return `sha256:${createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

function toPublicKey(key: KeyObject | string): KeyObject {
  if (typeof key === 'string') return createPublicKey(key);
  return key.type === 'public' ? key : createPublicKey(key);
}

function candidate(key: KeyObject | string, where: string): Candidate {
  let pub: KeyObject;
  try {
    pub = toPublicKey(key);
  } catch (err) {
    throw new BundleVerificationError('bad-key', where, `not a public key: ${(err as Error).message}`, { cause: err });
  }
  const type = pub.asymmetricKeyType;
  const details = pub.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') return { key: pub, fingerprint: keyFingerprint(pub), kind: 'ed25519' };
  if (type === 'ec') {
    if (details.namedCurve !== 'prime256v1' && details.namedCurve !== 'secp384r1') {
      throw new BundleVerificationError('bad-key', where, `ECDSA curve ${details.namedCurve} is not supported (P-256, P-384)`);
    }
    return { key: pub, fingerprint: keyFingerprint(pub), kind: 'ec' };
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    if ((details.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new BundleVerificationError('bad-key', where, `RSA keys of ${details.modulusLength} bits are too short (at least ${MIN_RSA_BITS})`);
    }
    return { key: pub, fingerprint: keyFingerprint(pub), kind: type };
  }
  throw new BundleVerificationError('bad-key', where, `${type} keys are not supported (Ed25519, ECDSA P-256/P-384, RSA)`);
}

/** The checks one candidate key makes while the file streams: each Verify can be asked once. */
interface Check {
  candidate: Candidate;
  verifier?: Verify;
  verifyWith?: Parameters<Verify['verify']>[0];
}

function checksFor(c: Candidate): Check[] {
  if (c.kind === 'ed25519') return [{ candidate: c }];
  if (c.kind === 'ec') {
    const hash = c.key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
    return (['der', 'ieee-p1363'] as const).map((dsaEncoding) => ({ candidate: c, verifier: createVerify(hash), verifyWith: { key: c.key, dsaEncoding } }));
  }
  const pss = { key: c.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO };
  if (c.kind === 'rsa-pss') return [{ candidate: c, verifier: createVerify('sha256'), verifyWith: pss }];
  return [
    { candidate: c, verifier: createVerify('sha256'), verifyWith: { key: c.key, padding: constants.RSA_PKCS1_PADDING } },
    { candidate: c, verifier: createVerify('sha256'), verifyWith: pss },
  ];
}

async function readOptional(file: string, limit: number): Promise<Buffer | undefined> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!info.isFile()) return undefined;
  if (info.size > limit) throw new Error(`${file} is larger than ${limit} bytes`);
  return readFile(file);
}

/** base64 text (as most tools write it) or the raw bytes. */
function decodeSignature(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && text.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text)) return Buffer.from(text, 'base64');
  return bytes;
}

/** The hex digest F.sha256 gives for `name`: the line naming it, or a lone line naming nothing or anything. */
function expectedDigest(text: string, name: string, file: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const parsed = lines.map((l) => {
    const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(l);
    if (!m) throw new BundleVerificationError('bad-checksum-file', file, `not in sha256sum format: "${l.slice(0, 80)}"`);
    return { hex: m[1].toLowerCase(), name: m[2] === undefined ? undefined : path.basename(m[2].trim()) };
  });
  const named = parsed.find((p) => p.name === name);
  if (named) return named.hex;
  if (parsed.length === 1 && parsed[0].name === undefined) return parsed[0].hex;
  if (parsed.length === 0) throw new BundleVerificationError('bad-checksum-file', file, 'holds no checksum');
  throw new BundleVerificationError('bad-checksum-file', file, `has no line for ${name}`);
}

/**
 * Verifies bundle `file` (or refuses a directory when a signature is required) against its `.sig` and
 * `.sha256` companions. Throws BundleVerificationError naming what failed.
 */
export async function verifyBundle(file: string, trust: BundleTrust): Promise<BundleVerification> {
  const info = await stat(file);
  if (info.isDirectory()) {
    if (trust.requireSignature) {
      throw new BundleVerificationError('unsigned-directory', file, 'a directory cannot carry a signature and a signature is required: import a signed archive (zip or tar.gz) instead');
    }
    return { verified: 'none', warnings: ['a directory is imported unverified'] };
  }
  const trusted = trust.keys.map((k, i) => candidate(k, `trusted key #${i + 1}`));
  const companion = async (suffix: string, limit: number, reason: BundleFailure) => {
    try {
      return await readOptional(file + suffix, limit);
    } catch (err) {
      throw new BundleVerificationError(reason, file + suffix, (err as Error).message, { cause: err });
    }
  };
  const sigBytes = await companion('.sig', MAX_SIG_BYTES, 'bad-signature');
  const sumBytes = await companion('.sha256', MAX_CHECKSUM_BYTES, 'bad-checksum-file');
  const pubBytes = await companion('.pub', MAX_SIG_BYTES, 'bad-key');
  const warnings: string[] = [];

  if (!sigBytes && trust.requireSignature) {
    throw new BundleVerificationError('signature-required', file, `a signature is required and ${path.basename(file)}.sig is absent`);
  }
  let checks: Check[] = [];
  let signature: Buffer | undefined;
  if (sigBytes) {
    signature = decodeSignature(sigBytes);
    if (signature.length === 0) throw new BundleVerificationError('bad-signature', file + '.sig', 'is empty');
    if (pubBytes) {
      // the signer named itself: it must be one of ours
      const signer = candidate(pubBytes.toString('utf8'), file + '.pub');
      if (!trusted.some((t) => t.fingerprint === signer.fingerprint)) {
        throw new BundleVerificationError('untrusted-key', file, `signed by key ${signer.fingerprint}, which is not among the ${trusted.length} trusted keys`);
      }
      checks = checksFor(signer);
    } else if (trusted.length === 0) {
      if (trust.requireSignature) throw new BundleVerificationError('untrusted-key', file, 'a signature is required but no key is trusted');
      warnings.push('the signature was not checked: no key is trusted');
      signature = undefined;
    } else {
      checks = trusted.flatMap(checksFor);
    }
  }
  const expected = sumBytes ? expectedDigest(sumBytes.toString('utf8'), path.basename(file), file + '.sha256') : undefined;
  if (!signature && !expected) {
    return { verified: 'none', warnings: [...warnings, 'no signature and no checksum'] };
  }

  // one pass over the file feeds the digest and every streaming verifier
  const digestHex = await sha256Of(file, checks.flatMap((c) => (c.verifier ? [c.verifier] : [])));
  if (expected !== undefined && expected !== digestHex) {
    throw new BundleVerificationError('checksum-mismatch', file, `SHA-256 is ${digestHex}, ${path.basename(file)}.sha256 says ${expected}`);
  }
  const result: BundleVerification = { verified: expected !== undefined ? 'checksum' : 'none', sha256: digestHex, warnings };
  if (expected !== undefined) result.checksumMatched = true;
  if (!signature) return result;

  const digest = Buffer.from(digestHex, 'hex');
  const good = checks.find((c) => {
    try {
      return c.verifier ? c.verifier.verify(c.verifyWith!, signature!) : verify(null, digest, c.candidate.key, signature!);
    } catch {
      return false; // a signature of the wrong shape for this key
    }
  });
  if (!good) {
    throw new BundleVerificationError('bad-signature', file, pubBytes
      ? 'the signature does not verify with the key in .pub: the file was changed or the signature is not for it'
      : `the signature does not verify with any of the ${trusted.length} trusted keys: the file was changed, or it was signed by a key not trusted here`);
  }
  return { ...result, verified: 'signature', keyFingerprint: good.candidate.fingerprint };
}

async function sha256Of(file: string, verifiers: Verify[]): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    for (const v of verifiers) v.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
