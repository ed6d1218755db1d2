// The audit log's operations: checkpoints, verification, and retention that archives before it purges,
// so that verification still holds across purges.
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { MetadataStore } from '../db/database.js';
import { jsonLine } from './audit-query.js';
import { loadOrCreateSigningKey, loadPublicKey, signCheckpoint, verifyAudit, writeCheckpoint, type SigningKey, type VerifyResult } from './audit-verifier.js';
import { GENESIS, recordHash, toAuditRecord, type AuditRecord } from './journal.js';

export interface ArchiveReport { records: number; file: string | null; upTo: number | null; sha256: string | null }

export class AuditService {
  private signing?: SigningKey;

  constructor(private readonly meta: MetadataStore, private readonly opts: { signingKeyFile: string; trustedKeyFiles: string[]; archiveDir: string }) {}

  key(): SigningKey {
    this.signing ??= loadOrCreateSigningKey(this.opts.signingKeyFile);
    return this.signing;
  }

  trusted(): KeyObject[] {
    return [this.key().publicKey, ...this.opts.trustedKeyFiles.map(loadPublicKey)];
  }

  checkpoint(): Promise<{ seq: number; hash: string } | null> {
    return writeCheckpoint(this.meta, this.key());
  }

  verify(progress?: (seq: number) => void): Promise<VerifyResult> {
    return verifyAudit(this.meta.db, this.trusted(), progress);
  }

  /**
   * Archives every record older than `before` (ms) to a JSON Lines file (fsynced), signs a checkpoint at
   * the last archived record marked with the file's SHA-256, and purges the archived records, in that order.
   */
  async archive(before: number): Promise<ArchiveReport> {
    const db = this.meta.db;
    const lastArchived = await db.selectFrom('audit_checkpoints').select('seq').where('archived', 'is not', null).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const from = lastArchived ? Number(lastArchived.seq) + 1 : 1;
    const upToRow = await db.selectFrom('audit_log').select((eb) => eb.fn.max('seq').as('seq')).where('at', '<', before).executeTakeFirst();
    const upTo = upToRow?.seq === null || upToRow?.seq === undefined ? null : Number(upToRow.seq);
    if (upTo === null || upTo < from) return { records: 0, file: null, upTo: null, sha256: null };
    mkdirSync(this.opts.archiveDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.opts.archiveDir, `audit-${String(from).padStart(12, '0')}-${String(upTo).padStart(12, '0')}.jsonl`);
    const fh = await open(file, 'w', 0o600);
    const hash = createHash('sha256');
    let records = 0;
    let last: AuditRecord | undefined;
    try {
      for (let after = from - 1; after < upTo;) {
        const rows = await db.selectFrom('audit_log').selectAll().where('seq', '>', after).where('seq', '<=', upTo).orderBy('seq').limit(1000).execute();
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
      const existing = await tx.selectFrom('audit_checkpoints').select('seq').where('seq', '=', end.seq).executeTakeFirst();
      if (existing) await tx.updateTable('audit_checkpoints').set({ archived: marker }).where('seq', '=', end.seq).execute();
      else {
        const at = Date.now();
        const signature = signCheckpoint(key, end.seq, end.hash, at);
        await tx.insertInto('audit_checkpoints').values({ seq: end.seq, hash: end.hash, at, key_id: key.keyId, signature, archived: marker }).execute();
      }
      await tx.deleteFrom('audit_log').where('seq', '<=', end.seq).execute();
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
