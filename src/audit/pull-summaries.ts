// Blob downloads are summarized, not recorded one by one: a pull of an image with 30 layers is one
// manifest.pull record plus one blob.pull record per caller and repository per window, with counts and bytes.
// In a server each download is first a line in a spool of its own, summarized when the window closes, so
// a crash loses none of them; without a spool (the CLI, some tests) the window gathers in memory.
import type { Tx } from '../db/database.js';
import type { Journal, RequestContext } from './journal.js';
import type { Spool } from './spool.js';

interface Download { at: number; ctx: RequestContext; repository: string; digest: string; bytes: number }
interface Summary { ctx: RequestContext; repository: string; blobs: number; bytes: number; digests: string[]; first: number; last: number }

export class PullSummaries {
  private pending: Download[] = [];
  private timer?: NodeJS.Timeout;
  private spool?: Spool<Download>;

  constructor(private readonly journal: Journal, private readonly windowMs = 5000, private readonly onError: (e: unknown) => void = () => undefined) {}

  /** Gathers downloads in the journal's spool folder (servers). */
  async open(): Promise<void> {
    this.spool ??= await this.journal.openSpool<Download>('blob-pulls', this.windowMs, (tx, items) => this.commit(tx, items));
  }

  /**
   * Puts a download on record for its window. Resolves once it is safe from a crash; rejects with
   * AUDIT_UNAVAILABLE when it cannot be (and audit.failClosed is on), so the caller refuses the download.
   */
  async add(ctx: RequestContext, repository: string, digest: string, bytes: number): Promise<void> {
    const d: Download = { at: Date.now(), ctx, repository, digest, bytes };
    if (this.spool) {
      try {
        return await this.spool.append(d);
      } catch {
        // The spool cannot take it (its disk is full): a record of its own, which the journal writes
        // where it can, or refuses under audit.failClosed.
        const [s] = summarize([d]);
        return this.journal.record(ctx, [entry(s)]);
      }
    }
    this.pending.push(d);
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /** Writes the summaries gathered in memory so far, and what the spool holds (also at shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    await Promise.all(summarize(batch).map((s) => this.journal.record(s.ctx, [entry(s)]).catch(this.onError)));
    await this.spool?.settle(5000);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.spool?.close();
    this.spool = undefined;
  }

  private async commit(tx: Tx, items: Download[]): Promise<void> {
    const sums = summarize(items);
    await this.journal.writeMany(tx, sums.map((s) => ({ ctx: s.ctx, at: s.last, entry: entry(s) })));
  }
}

function summarize(items: Download[]): Summary[] {
  const by = new Map<string, Summary>();
  for (const d of items) {
    const key = `${d.ctx.actor}\u0000${d.ctx.actorSource}\u0000${d.ctx.address}\u0000${d.repository}`;
    let s = by.get(key);
    if (!s) by.set(key, (s = { ctx: d.ctx, repository: d.repository, blobs: 0, bytes: 0, digests: [], first: d.at, last: d.at }));
    s.blobs++;
    s.bytes += d.bytes;
    s.first = Math.min(s.first, d.at);
    s.last = Math.max(s.last, d.at);
    if (s.digests.length < 50) s.digests.push(d.digest);
  }
  return [...by.values()];
}

const entry = (s: Summary) => ({
  action: 'blob.pull', resource: `repository:${s.repository}`,
  detail: { blobs: s.blobs, bytes: s.bytes, digests: s.digests, first: new Date(s.first).toISOString(), last: new Date(s.last).toISOString() },
});
