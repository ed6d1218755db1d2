// The stored form of an encrypted file. A fixed 512-byte header, then the plaintext in 64 KiB segments,
// each sealed with AES-256-GCM under the file's own random data key:
//
//   header   magic "BERTHENC" | version | segment size (log2) | 6 reserved | file id (16 random bytes)
//            | slot 0 (240) | slot 1 (240)
//   slot     sequence (u32, 0 = empty) | key id length | key id (64) | wrapped length | wrapped data key (128)
//            | 38 zero | CRC-32 of the slot
//   segment  nonce (12 random bytes) | ciphertext | tag (16)      with AAD = file id | index (u64) | last (u8)
//
// The index in the AAD makes reordering fail, the last flag truncation (a file must end with a segment
// sealed as last), and the per-file key a segment moved from another file. Nonces are random rather than
// counters because a chunked upload re-seals its last segment when the next chunk arrives: a counter
// nonce would then be reused with other plaintext.
//
// Two slots make re-wrapping under a new key-encryption key safe in place: the new wrap goes to the
// slot not in use, with the next sequence number; a torn write damages only that slot (its CRC fails)
// and the other still opens the file. Readers use the valid slot with the highest sequence they can open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { UnreadableDataError } from '../driver.js';
import { KEY_ID, MAX_WRAPPED } from './key-provider.js';

export const HEADER_SIZE = 512;
export const SEGMENT_SIZE = 64 * 1024;
const SEGMENT_LOG2 = 16;
const NONCE = 12;
const TAG = 16;
export const NONCE_SIZE = NONCE;
export const TAG_SIZE = TAG;
/** Bytes a segment adds to its plaintext. */
export const SEGMENT_OVERHEAD = NONCE + TAG;
export const RECORD_SIZE = SEGMENT_SIZE + SEGMENT_OVERHEAD;
const MAGIC = Buffer.from('BERTHENC', 'latin1');
const VERSION = 1;
const FILE_ID = 16;
const SLOT_SIZE = 240;
const SLOT_OFFSETS = [32, 32 + SLOT_SIZE] as const;
const KEY_ID_MAX = 64;
export const DATA_KEY_SIZE = 32;


export interface Slot { index: 0 | 1; seq: number; keyId: string; wrapped: Buffer }
export interface Header { fileId: Buffer; slots: Slot[] }

/** AAD of the data-key wrap: binds a wrapped key to the file it belongs to. */
export const wrapAad = (fileId: Buffer): Buffer => Buffer.concat([Buffer.from('berth/data-key/v1\0', 'latin1'), fileId]);

export function newFileId(): Buffer {
  return randomBytes(FILE_ID);
}

export function encodeSlot(seq: number, keyId: string, wrapped: Buffer): Buffer {
  if (!KEY_ID.test(keyId)) throw new Error(`invalid key id ${JSON.stringify(keyId)}`);
  if (wrapped.length > MAX_WRAPPED) throw new Error(`wrapped data key too long (${wrapped.length} bytes)`);
  const s = Buffer.alloc(SLOT_SIZE);
  s.writeUInt32BE(seq, 0);
  s[4] = keyId.length;
  s.write(keyId, 5, 'latin1');
  s[5 + KEY_ID_MAX] = wrapped.length;
  wrapped.copy(s, 6 + KEY_ID_MAX);
  s.writeUInt32BE(crc32(s.subarray(0, SLOT_SIZE - 4)), SLOT_SIZE - 4);
  return s;
}

export function slotOffset(index: 0 | 1): number {
  return SLOT_OFFSETS[index];
}

export function encodeHeader(fileId: Buffer, slot0: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(h, 0);
  h[8] = VERSION;
  h[9] = SEGMENT_LOG2;
  fileId.copy(h, 16);
  slot0.copy(h, SLOT_OFFSETS[0]);
  return h;
}

/** The header's valid slots, newest first; throws UnreadableDataError when it is no header of ours. */
export function parseHeader(path: string, h: Buffer): Header {
  if (h.length < HEADER_SIZE || !h.subarray(0, 8).equals(MAGIC)) throw new UnreadableDataError(path, 'no encryption header');
  if (h[8] !== VERSION || h[9] !== SEGMENT_LOG2) throw new UnreadableDataError(path, `unknown header version ${h[8]}/${h[9]}`);
  const fileId = Buffer.from(h.subarray(16, 16 + FILE_ID));
  const slots: Slot[] = [];
  for (const index of [0, 1] as const) {
    const s = h.subarray(SLOT_OFFSETS[index], SLOT_OFFSETS[index] + SLOT_SIZE);
    const seq = s.readUInt32BE(0);
    if (seq === 0 || s.readUInt32BE(SLOT_SIZE - 4) !== crc32(s.subarray(0, SLOT_SIZE - 4))) continue;
    const idLen = s[4];
    const wrappedLen = s[5 + KEY_ID_MAX];
    if (idLen === 0 || idLen > KEY_ID_MAX || wrappedLen === 0 || wrappedLen > MAX_WRAPPED) continue;
    const keyId = s.toString('latin1', 5, 5 + idLen);
    if (!KEY_ID.test(keyId)) continue;
    slots.push({ index, seq, keyId, wrapped: Buffer.from(s.subarray(6 + KEY_ID_MAX, 6 + KEY_ID_MAX + wrappedLen)) });
  }
  if (slots.length === 0) throw new UnreadableDataError(path, 'no valid key slot in the header');
  slots.sort((a, b) => b.seq - a.seq);
  return { fileId, slots };
}

/** Segments a file of `plain` bytes has: at least one, so that even an empty file ends with a last segment. */
export function segmentCount(plain: number): number {
  return Math.max(1, Math.ceil(plain / SEGMENT_SIZE));
}

export function storedSize(plain: number): number {
  return HEADER_SIZE + plain + segmentCount(plain) * SEGMENT_OVERHEAD;
}

/** Plaintext size of a stored file of `stored` bytes, or -1 when no file of ours has that size. */
export function plainSize(stored: number): number {
  const body = stored - HEADER_SIZE;
  if (body < SEGMENT_OVERHEAD) return -1;
  const n = Math.ceil(body / RECORD_SIZE);
  const lastRecord = body - (n - 1) * RECORD_SIZE;
  if (lastRecord < SEGMENT_OVERHEAD) return -1;
  return body - n * SEGMENT_OVERHEAD;
}

export const recordOffset = (index: number): number => HEADER_SIZE + index * RECORD_SIZE;

function aad(fileId: Buffer, index: number, last: boolean): Buffer {
  const a = Buffer.alloc(FILE_ID + 9);
  fileId.copy(a, 0);
  a.writeBigUInt64BE(BigInt(index), FILE_ID);
  a[FILE_ID + 8] = last ? 1 : 0;
  return a;
}

/** The record of one segment as its three parts (nonce, ciphertext, tag), for writers that avoid joining them. */
export function sealSegmentParts(dataKey: Buffer, fileId: Buffer, index: number, last: boolean, plain: Buffer): [Buffer, Buffer, Buffer] {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', dataKey, nonce);
  c.setAAD(aad(fileId, index, last));
  const body = c.update(plain);
  c.final();
  return [nonce, body, c.getAuthTag()];
}

export function sealSegment(dataKey: Buffer, fileId: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', dataKey, nonce);
  c.setAAD(aad(fileId, index, last));
  const out = Buffer.allocUnsafe(NONCE + plain.length + TAG);
  nonce.copy(out, 0);
  const body = c.update(plain);
  body.copy(out, NONCE);
  c.final();
  c.getAuthTag().copy(out, NONCE + body.length);
  return out;
}

/** The plaintext of one sealed segment, or UnreadableDataError. */
export function openSegment(path: string, dataKey: Buffer, fileId: Buffer, index: number, last: boolean, record: Buffer): Buffer {
  if (record.length < SEGMENT_OVERHEAD || record.length > RECORD_SIZE) throw new UnreadableDataError(path, `segment ${index} has a bad length`);
  const d = createDecipheriv('aes-256-gcm', dataKey, record.subarray(0, NONCE));
  d.setAAD(aad(fileId, index, last));
  d.setAuthTag(record.subarray(record.length - TAG));
  const plain = d.update(record.subarray(NONCE, record.length - TAG));
  try {
    d.final();
  } catch {
    throw new UnreadableDataError(path, `segment ${index} fails authentication${last ? ' as the last segment (truncated?)' : ''}`);
  }
  return plain;
}
