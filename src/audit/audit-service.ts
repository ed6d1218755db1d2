// The audit log's operations: checkpoints, verification, and retention that archives before it purges,
// so that verification still holds across purges.
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { MetadataStore } from '../db/database.js';
import { archiveCheckpoints, hasCheckpointAt, insertCheckpoint, lastCheckpointSeq, markCheckpointArchived } from '../db/audit-checkpoints.js';
import { auditRecordsUpTo, lastSeqBefore, purgeAuditRecords } from '../db/audit-log.js';
import { jsonLine, queryAudit, streamAudit, type AuditFilter } from './audit-query.js';
import { loadOrCreateSigningKey, loadPublicKey, signCheckpoint, verifyAudit, writeCheckpoint, type SigningKey, type VerifyResult } from './audit-verifier.js';
import { GENESIS, recordHash, toAuditRecord, type AuditRecord } from './journal.js';

export interface ArchiveReport { records: number; file: string | null; upTo: number | null; sha256: string | null }

export class AuditService {
  private signing?: SigningKey;

  constructor(private readonly meta: MetadataStore, private readonly opts: { signingKeyFile: string; trustedKeyFiles: string[]; archiveDir: string; settle?: () => Promise<unknown> }) {}

  key(): SigningKey {
    this.signing ??= loadOrCreateSigningKey(this.opts.signingKeyFile);
    return this.signing;
  }

  trusted(): KeyObject[] {
    return [this.key().publicKey, ...this.opts.trustedKeyFiles.map(loadPublicKey)];
  }

  // Readers first let this process's spool reach the chain, so that what it has answered is there.
  private async settled(): Promise<void> {
    await this.opts.settle?.();
  }

  async checkpoint(): Promise<{ seq: number; hash: string } | null> {
    return writeCheckpoint(this.meta, this.key());
  }

  async verify(progress?: (seq: number) => void): Promise<VerifyResult> {
    await this.settled();
    return verifyAudit(this.meta.db, this.trusted(), progress);
  }

  /** A page of matching records, newest first; `before` is the previous page's `next`. */
  async query(f: AuditFilter, n: number, before?: number): Promise<{ items: AuditRecord[]; next: string | null }> {
    await this.settled();
    return queryAudit(this.meta.db, f, n, before);
  }

  /** Every matching record, oldest first, read one page at a time. */
  async *stream(f: AuditFilter): AsyncGenerator<AuditRecord> {
    await this.settled();
    yield* streamAudit(this.meta.db, f);
  }

  /** Checks an archive file against the checkpoint that records it (found by the file's name). */
  async verifyArchived(file: string): Promise<VerifyResult> {
    const name = path.basename(file);
    const cps = await archiveCheckpoints(this.meta.db);
    const i = cps.findIndex((c) => c.archived!.startsWith(`${name} `));
    if (i < 0) throw new Error(`no checkpoint records the archive ${name}`);
    return verifyArchive(file, { startHash: i > 0 ? cps[i - 1].hash : undefined, endHash: cps[i].hash });
  }

  /**
   * Archives every record older than `before` (ms) to a JSON Lines file (fsynced), signs a checkpoint at
   * the last archived record marked with the file's SHA-256, and purges the archived records, in that order.
   */
  async archive(before: number): Promise<ArchiveReport> {
    const db = this.meta.db;
    const lastArchived = await lastCheckpointSeq(db, { archived: true });
    const from = lastArchived !== undefined ? lastArchived + 1 : 1;
    const upTo = await lastSeqBefore(db, before);
    if (upTo === null || upTo < from) return { records: 0, file: null, upTo: null, sha256: null };
    mkdirSync(this.opts.archiveDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.opts.archiveDir, `audit-${String(from).padStart(12, '0')}-${String(upTo).padStart(12, '0')}.jsonl`);
    const fh = await open(file, 'w', 0o600);
    const hash = createHash('sha256');
    let records = 0;
    let last: AuditRecord | undefined;
    try {
      for (let after = from - 1; after < upTo;) {
        const rows = await auditRecordsUpTo(db, after, upTo, 1000);
        if (rows.length === 0) break;
        const text = rows.map((row) => { last = toAuditRecord(row); return jsonLine(last); }).join('');
        hash.update(text);
        await fh.write(text);
        records += rows.length;
        after = Number(rows[rows.length - 1].seq);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (!last) return { records: 0, file: null, upTo: null, sha256: null };
    const digest = hash.digest('hex');
    const marker = `${path.basename(file)} sha256:${digest}`;
    const key = this.key();
    const end = last;
    await this.meta.transaction(async (tx) => {
      if (await hasCheckpointAt(tx, end.seq)) await markCheckpointArchived(tx, end.seq, marker);
      else {
        const at = Date.now();
        const signature = signCheckpoint(key, end.seq, end.hash, at);
        await insertCheckpoint(tx, { seq: end.seq, hash: end.hash, at, keyId: key.keyId, signature, archived: marker });
      }
      await purgeAuditRecords(tx, end.seq);
    });
    return { records, file, upTo: end.seq, sha256: digest };
  }
}

/**
 * Checks an archive file on its own: each record's hash and link, starting from `startHash` (the previous
 * archive's end, or the chain's beginning), and, when given, that it ends where a checkpoint says.
 */
export async function verifyArchive(file: string, opts: { startHash?: string; endHash?: string } = {}): Promise<VerifyResult> {
  let prev: string | undefined = opts.startHash;
  let expected: number | undefined;
  let records = 0;
  let head: { seq: number; hash: string } | undefined;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const j = JSON.parse(line) as AuditRecord & { time?: string };
    const r: AuditRecord = { seq: j.seq, at: j.at, actor: j.actor, actorSource: j.actorSource, address: j.address, userAgent: j.userAgent, action: j.action, resource: j.resource, outcome: j.outcome, requestId: j.requestId, detail: j.detail, prevHash: j.prevHash, hash: j.hash };
    if (expected !== undefined && r.seq !== expected) return { ok: false, records, checkpoints: 0, firstBad: { seq: expected, reason: `record ${expected} is missing from the archive` } };
    if (prev === undefined) prev = r.seq === 1 ? GENESIS : r.prevHash;
    if (r.prevHash !== prev) return { ok: false, records, checkpoints: 0, firstBad: { seq: r.seq, reason: `record ${r.seq} does not link to the record before it` } };
    if (recordHash(r) !== r.hash) return { ok: false, records, checkpoints: 0, firstBad: { seq: r.seq, reason: `record ${r.seq} was altered` } };
    prev = r.hash;
    expected = r.seq + 1;
    records++;
    head = { seq: r.seq, hash: r.hash };
  }
  if (opts.endHash && head?.hash !== opts.endHash) return { ok: false, records, checkpoints: 0, head, firstBad: { seq: head?.seq ?? 0, reason: 'the archive does not end where its checkpoint says' } };
  return { ok: true, records, checkpoints: 0, head };
}
