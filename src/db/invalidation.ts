// Caches of database rows in a process, kept exact across processes. On PostgreSQL, triggers on the
// cached tables (migration 0019) announce every change with NOTIFY, delivered when its transaction
// commits; each process LISTENs on one connection of its own (dialects/postgres.ts) and drops what
// changed. While that connection is down nothing is served from a cache. SQLite has no such channel and
// needs none (its reads are in-process): it has no Invalidations, and the caches stay empty.
//
// Topics: `u:NAME` a user row; `a` the access generation; `r:ID` a repository's tags and manifests;
// `b:DIGEST` a blob and its links (removals only).

export interface Invalidations {
  /** whether announcements are being received: a cache is used only while they are */
  readonly live: boolean;
  /** moves on every announcement and on every loss of the channel: a fill from a read begun before a move is dropped */
  readonly epoch: number;
  /** `topic` changed; `*`: anything may have changed (the channel was lost or is back) */
  subscribe(fn: (topic: string) => void): void;
}

export interface CacheOptions {
  maxEntries?: number;
  /** with `sizeOf`: the bytes the values may hold together */
  maxBytes?: number;
  sizeOf?: (v: unknown) => number;
  /** an entry older than this is read again (a bound should an announcement ever be lost) */
  maxAgeMs?: number;
}

interface Entry<V> { value: V; topics: string[]; at: number; bytes: number }

/**
 * A bounded cache (least recently filled goes first) whose entries name the topics they depend on. Use:
 * `const e = cache.epoch(); const v = await read(); cache.fill(key, v, topics, e)`.
 */
export class InvalidatedCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly byTopic = new Map<string, Set<string>>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;

  constructor(private readonly inv: Invalidations | undefined, private readonly opts: CacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxBytes = opts.maxBytes ?? Infinity;
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
    inv?.subscribe((topic) => {
      if (topic === '*') this.clear();
      else this.drop(topic);
    });
  }

  get(key: string): V | undefined {
    if (!this.inv?.live) return undefined;
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > this.maxAgeMs) { this.remove(key); return undefined; }
    return e.value;
  }

  /** The epoch to pass to fill, taken before the read. */
  epoch(): number {
    return this.inv?.epoch ?? -1;
  }

  /** Keeps what a read begun at `epoch` found, unless something changed meanwhile (or caching is off). */
  fill(key: string, value: V, topics: string[], epoch: number): void {
    if (!this.inv?.live || this.inv.epoch !== epoch) return;
    const bytes = this.opts.sizeOf?.(value) ?? 0;
    if (bytes > this.maxBytes / 8) return; // one huge value does not empty the cache
    this.remove(key);
    this.entries.set(key, { value, topics, at: Date.now(), bytes });
    this.bytes += bytes;
    for (const t of topics) {
      let keys = this.byTopic.get(t);
      if (!keys) this.byTopic.set(t, (keys = new Set()));
      keys.add(key);
    }
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) this.remove(this.entries.keys().next().value!);
  }

  /** Drops every entry that depends on `topic`. */
  drop(topic: string): void {
    const keys = this.byTopic.get(topic);
    if (!keys) return;
    for (const k of [...keys]) this.remove(k);
    this.byTopic.delete(topic);
  }

  clear(): void {
    this.entries.clear();
    this.byTopic.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    for (const t of e.topics) {
      const keys = this.byTopic.get(t);
      keys?.delete(key);
      if (keys?.size === 0) this.byTopic.delete(t);
    }
  }
}
