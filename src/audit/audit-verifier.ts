// Tamper evidence for the audit log: signed checkpoints of the chain head (Ed25519, key outside the
// database) and a verifier that walks the chain and names the first record that does not fit.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import type { Db, MetadataStore } from '../db/database.js';
import { createFileOnce } from '../lib/create-once.js';
import { checkpoints, insertCheckpoint, lastCheckpointSeq } from '../db/audit-checkpoints.js';
import { auditRecordsAfter, lastAuditRecord } from '../db/audit-log.js';
import { GENESIS, recordHash, toAuditRecord } from './journal.js';

export interface SigningKey { privateKey: KeyObject; publicKey: KeyObject; keyId: string }

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** The checkpoint signing key: a PEM (PKCS#8) Ed25519 key file, created 0600 on first use. */
export function loadOrCreateSigningKey(file: string): SigningKey {
  if (!existsSync(file)) {
    // Another process may create it first: then theirs is used.
    createFileOnce(file, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  }
  chmodSync(file, 0o600);
  const privateKey = createPrivateKey(readFileSync(file));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 private key`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** A public key from a PEM file (SPKI public key, or a private key whose public half is used). */
export function loadPublicKey(file: string): KeyObject {
  const pem = readFileSync(file, 'utf8');
  const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 key`);
  return key;
}

const message = (seq: number, hash: string, at: number) => Buffer.from(`berth-audit-checkpoint:v1\n${seq}\n${hash}\n${at}`);

/** The signature of "the chain up to seq ends in hash", made at `at`. */
export function signCheckpoint(key: SigningKey, seq: number, hash: string, at: number): string {
  return sign(null, message(seq, hash, at), key.privateKey).toString('base64');
}

/** Signs the current head of the chain, when it moved since the last checkpoint. */
export async function writeCheckpoint(meta: MetadataStore, key: SigningKey): Promise<{ seq: number; hash: string } | null> {
  return meta.transaction(async (tx) => {
    const head = await lastAuditRecord(tx);
    if (!head) return null;
    const last = await lastCheckpointSeq(tx);
    if (last !== undefined && last >= head.seq) return null;
    const at = Date.now();
    const signature = signCheckpoint(key, head.seq, head.hash, at);
    await insertCheckpoint(tx, { seq: head.seq, hash: head.hash, at, keyId: key.keyId, signature, archived: null });
    return head;
  });
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  checkpoints: number;
  /** the first record (or checkpoint) that does not fit, and why */
  firstBad?: { seq: number; reason: string };
  head?: { seq: number; hash: string };
  /** verification began after this archived (purged) checkpoint */
  from?: number;
  lastCheckpoint?: { seq: number; at: number };
}

/**
 * Walks the chain from the start (or from the latest archived checkpoint) to the head, checking sequence,
 * links and hashes, then every checkpoint's signature (with the trusted keys) and its place in the chain.
 */
export async function verifyAudit(db: Db, trusted: KeyObject[], progress?: (seq: number) => void): Promise<VerifyResult> {
  const keys = new Map(trusted.map((k) => [keyIdOf(k), k]));
  const cps = await checkpoints(db);
  const bad = (seq: number, reason: string, extra: Partial<VerifyResult>): VerifyResult => ({ ok: false, records: 0, checkpoints: 0, ...extra, firstBad: { seq, reason } });
  for (const c of cps) {
    const k = keys.get(c.keyId);
    if (!k) return bad(c.seq, `checkpoint at ${c.seq} is signed by key ${c.keyId}, which is not trusted`, {});
    if (!verify(null, message(c.seq, c.hash, c.at), k, Buffer.from(c.signature, 'base64'))) return bad(c.seq, `checkpoint at ${c.seq} has a bad signature`, {});
  }
  const archived = [...cps].reverse().find((c) => c.archived !== null);
  let expected = archived ? archived.seq + 1 : 1;
  let prev = archived ? archived.hash : GENESIS;
  const bySeq = new Map(cps.map((c) => [c.seq, c]));
  let records = 0;
  let head: { seq: number; hash: string } | undefined;
  for (;;) {
    const rows = await auditRecordsAfter(db, expected - 1, 1000);
    if (rows.length === 0) break;
    for (const row of rows) {
      const r = toAuditRecord(row);
      const extra = { records, checkpoints: cps.length, from: archived?.seq };
      if (r.seq !== expected) return bad(expected, r.seq > expected ? `record ${expected} is missing (the next one is ${r.seq})` : `record ${r.seq} is out of order`, extra);
      if (r.prevHash !== prev) return bad(r.seq, `record ${r.seq} does not link to the record before it (edited, removed or reordered)`, extra);
      if (recordHash(r) !== r.hash) return bad(r.seq, `record ${r.seq} was altered: its content does not match its hash`, extra);
      const cp = bySeq.get(r.seq);
      if (cp && cp.hash !== r.hash) return bad(r.seq, `record ${r.seq} does not match the signed checkpoint at it (the chain was rewritten up to here)`, extra);
      prev = r.hash;
      expected++;
      records++;
      head = { seq: r.seq, hash: r.hash };
    }
    progress?.(expected - 1);
  }
  const last = cps[cps.length - 1];
  if (last && (!head || head.seq < last.seq) && !(archived && last.seq === archived.seq)) {
    return bad((head?.seq ?? 0) + 1, `records after ${head?.seq ?? 0} are missing: a signed checkpoint covers up to ${last.seq}`, { records, checkpoints: cps.length, head, from: archived?.seq });
  }
  return { ok: true, records, checkpoints: cps.length, head, from: archived?.seq, lastCheckpoint: last ? { seq: last.seq, at: last.at } : undefined };
}
