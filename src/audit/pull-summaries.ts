// Blob downloads are summarized, not recorded one by one: a pull of an image with 30 layers is one
// manifest.pull record plus one blob.pull record per caller and repository per window, with counts and bytes.
import type { Journal, RequestContext } from './journal.js';

interface Summary { ctx: RequestContext; repository: string; blobs: number; bytes: number; digests: string[]; first: number; last: number }

export class PullSummaries {
  private pending = new Map<string, Summary>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly journal: Journal, private readonly windowMs = 5000, private readonly onError: (e: unknown) => void = () => undefined) {}

  add(ctx: RequestContext, repository: string, digest: string, bytes: number): void {
    const key = `${ctx.actor}\u0000${ctx.actorSource}\u0000${ctx.address}\u0000${repository}`;
    const now = Date.now();
    let s = this.pending.get(key);
    if (!s) {
      s = { ctx, repository, blobs: 0, bytes: 0, digests: [], first: now, last: now };
      this.pending.set(key, s);
    }
    s.blobs++;
    s.bytes += bytes;
    s.last = now;
    if (s.digests.length < 50) s.digests.push(digest);
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /** Writes the summaries gathered so far (also at shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    await Promise.all(batch.map((s) => this.journal.record(s.ctx, [{
      action: 'blob.pull', resource: `repository:${s.repository}`,
      detail: { blobs: s.blobs, bytes: s.bytes, digests: s.digests, first: new Date(s.first).toISOString(), last: new Date(s.last).toISOString() },
    }]).catch(this.onError)));
  }
}
