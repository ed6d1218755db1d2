// What people browse (the web UI, the API): tags with size, push time and platforms; a manifest with its
// configuration, layers, children and referrers; storage used per organization and repository.
import type { Db } from '../db/database.js';
import { pushesAndPullsSince } from '../db/audit-log.js';
import { countTags, linkedBlobs, manifestByReference, referrersOf, tagNamesOf, tagPage, tagSortKeys } from '../db/browsing.js';
import { findRepositoryId } from '../db/repositories.js';
import { parseDigest } from '../oci/digest.js';
import { namespaceOf } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobPath } from './paths.js';

export interface Platform { os: string; architecture: string; variant?: string }
export interface TagInfo { name: string; digest: string; mediaType: string; artifactType: string | null; size: number; pushedAt: number; platforms: Platform[] }
export type TagSort = 'name' | 'pushed' | 'size';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
/** The position after which a page starts: a tag name, or a cursor `~key~name` for the other orders. */
function parseCursor(last: string | undefined, sort: TagSort): { key?: number; name: string } | undefined {
  if (last === undefined) return undefined;
  const m = /^~(\d{1,16})~(.*)$/s.exec(last);
  if (m) return sort === 'name' ? { name: m[2] } : { key: Number(m[1]), name: m[2] };
  return { name: last };
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
/** Platforms of image configurations by digest: a blob never changes, so its platform never does. */
const PLATFORM_CACHE_SIZE = 10_000;

function platformsOf(content: Buffer): Platform[] {
  try {
    const m = JSON.parse(content.toString('utf8')) as { manifests?: { platform?: Platform }[] };
    return (m.manifests ?? []).map((c) => c.platform).filter((p): p is Platform => Boolean(p?.os && p?.architecture))
      .map((p) => ({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }));
  } catch {
    return [];
  }
}

export class RepositoryBrowser {
  private readonly configPlatforms = new Map<string, Platform | null>();

  constructor(private readonly db: Db, private readonly store: StorageDriver) {}

  /** os/architecture of an image from its configuration blob (small; read once per digest, then cached). */
  private async imagePlatform(manifest: Buffer): Promise<Platform[]> {
    let config: { digest?: string; size?: number } | undefined;
    try { config = (JSON.parse(manifest.toString('utf8')) as { config?: { digest?: string; size?: number } }).config; } catch { return []; }
    const d = config?.digest ? parseDigest(config.digest) : null;
    if (!d || typeof d !== 'object' || !config?.size || config.size > MAX_CONFIG_BYTES) return [];
    let p = this.configPlatforms.get(d.digest);
    if (p === undefined) {
      try {
        const c = JSON.parse((await this.store.readBuffer(blobPath(d))).toString('utf8')) as Partial<Platform>;
        p = typeof c.os === 'string' && typeof c.architecture === 'string' && c.os && c.architecture
          ? { os: c.os, architecture: c.architecture, ...(typeof c.variant === 'string' && c.variant ? { variant: c.variant } : {}) } : null;
      } catch {
        return []; // unreadable now (e.g. removed meanwhile): not cached
      }
      if (this.configPlatforms.size >= PLATFORM_CACHE_SIZE) this.configPlatforms.delete(this.configPlatforms.keys().next().value!);
      this.configPlatforms.set(d.digest, p);
    }
    return p ? [p] : [];
  }

  /**
   * A page of tags, sorted, paged in the database. `last` is the previous page's `next`: for the name
   * order the last tag's name, otherwise a cursor (`~key~name`; tag names never start with `~`) that
   * carries the sort key, so that a page after a deleted tag still continues after it.
   */
  async tags(name: string, opts: { n: number; last?: string; sort: TagSort; order: 'asc' | 'desc'; q?: string }): Promise<{ items: TagInfo[]; next: string | null; total: number } | null> {
    const repositoryId = await findRepositoryId(this.db, name);
    if (repositoryId === undefined) return null;
    // Without a search the repository's own count; a search counts its matches.
    const count = () => countTags(this.db, repositoryId, opts.q);
    const keyed = opts.sort !== 'name';
    let after = parseCursor(opts.last, opts.sort);
    if (after && keyed && after.key === undefined) {
      // A tag name from an older client: continue after that tag's key, if it is still there.
      const at = await tagSortKeys(this.db, repositoryId, after.name);
      if (!at) return { items: [], next: null, total: await count() };
      after = { name: after.name, key: opts.sort === 'pushed' ? at.pushed : at.size };
    }
    const rows = await tagPage(this.db, repositoryId, { order: opts.sort, desc: opts.order === 'desc', after, q: opts.q, limit: opts.n + 1 });
    const total = await count();
    const page = rows.slice(0, opts.n);
    const items: TagInfo[] = [];
    for (const r of page) {
      // Platforms: an index lists them; an image's come from its configuration.
      const platforms = INDEX_TYPES.has(r.mediaType) ? platformsOf(r.content)
        : IMAGE_CONFIG_TYPES.has(r.artifactType ?? '') ? await this.imagePlatform(r.content) : [];
      items.push({ name: r.name, digest: r.digest, mediaType: r.mediaType, artifactType: r.artifactType, size: r.size, pushedAt: r.updatedAt, platforms });
    }
    const lastRow = page[page.length - 1];
    const next = rows.length > opts.n && lastRow
      ? (keyed ? `~${opts.sort === 'pushed' ? lastRow.updatedAt : lastRow.size}~${lastRow.name}` : lastRow.name) : null;
    return { items, next, total };
  }

  /** A manifest as a person reads it: parsed, with its image configuration, layers, children and referrers. */
  async manifest(name: string, reference: string) {
    const repositoryId = await findRepositoryId(this.db, name);
    if (repositoryId === undefined) return null;
    const row = await manifestByReference(this.db, repositoryId, reference);
    if (!row) return null;
    const manifest = JSON.parse(row.content.toString('utf8')) as {
      config?: { digest: string; mediaType: string; size: number };
      layers?: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[];
      manifests?: { digest: string; mediaType: string; size: number; platform?: Platform; artifactType?: string }[];
    };
    let config: unknown = null;
    const c = manifest.config;
    if (c && c.size <= MAX_CONFIG_BYTES && /json/.test(c.mediaType) && typeof parseDigest(c.digest) === 'object') {
      try {
        config = JSON.parse((await this.store.readBuffer(blobPath(parseDigest(c.digest) as Exclude<ReturnType<typeof parseDigest>, string>))).toString('utf8'));
      } catch {
        config = null;
      }
    }
    const referrers = await referrersOf(this.db, repositoryId, row.digest, 500);
    const tags = await tagNamesOf(this.db, repositoryId, row.id);
    return {
      digest: row.digest, mediaType: row.mediaType, artifactType: row.artifactType, size: row.size, pushedAt: row.createdAt, manifest, config,
      layers: (manifest.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, annotations: l.annotations ?? null })),
      children: (manifest.manifests ?? []).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, platform: m.platform ?? null, artifactType: m.artifactType ?? null })),
      referrers: referrers.map((r) => ({ digest: r.digest, artifactType: r.artifactType ?? r.mediaType, mediaType: r.mediaType, size: r.size, annotations: r.annotations ? JSON.parse(r.annotations) as Record<string, string> : null })),
      tags,
    };
  }

  /** Bytes stored per repository and per organization (blobs shared within an organization counted once). */
  async storage(visible: (repository: string) => Promise<boolean>) {
    const rows = (await linkedBlobs(this.db)).map((b) => ({ name: b.repository, digest: b.digest, size: b.size }));
    const repos = new Map<string, number>();
    const orgs = new Map<string, { digests: Set<string>; bytes: number; repositories: Set<string> }>();
    const all = new Map<string, number>();
    const allowed = new Map<string, boolean>();
    for (const r of rows) {
      let ok = allowed.get(r.name);
      if (ok === undefined) {
        ok = await visible(r.name);
        allowed.set(r.name, ok);
      }
      if (!ok) continue;
      repos.set(r.name, (repos.get(r.name) ?? 0) + Number(r.size));
      const ns = namespaceOf(r.name);
      let o = orgs.get(ns);
      if (!o) {
        o = { digests: new Set(), bytes: 0, repositories: new Set() };
        orgs.set(ns, o);
      }
      o.repositories.add(r.name);
      if (!o.digests.has(r.digest)) {
        o.digests.add(r.digest);
        o.bytes += Number(r.size);
      }
      all.set(r.digest, Number(r.size));
    }
    return {
      totalBytes: [...all.values()].reduce((a, b) => a + b, 0),
      organizations: [...orgs].map(([name, o]) => ({ name, bytes: o.bytes, repositories: o.repositories.size })).sort((a, b) => b.bytes - a.bytes),
      repositories: [...repos].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, 50),
    };
  }

  /** Pushes and pulls per day (UTC), from the audit log, for repositories the caller may see. */
  async activity(days: number, visible: (repository: string) => Promise<boolean>) {
    const since = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - (days - 1) * 86_400_000;
    const rows = await pushesAndPullsSince(this.db, since);
    const out = new Map<string, { pushes: number; pulls: number }>();
    for (let i = 0; i < days; i++) out.set(new Date(since + i * 86_400_000).toISOString().slice(0, 10), { pushes: 0, pulls: 0 });
    const allowed = new Map<string, boolean>();
    for (const r of rows) {
      const repo = /^repository:([^:@]+)/.exec(r.resource)?.[1];
      if (!repo) continue;
      let ok = allowed.get(repo);
      if (ok === undefined) {
        ok = await visible(repo);
        allowed.set(repo, ok);
      }
      if (!ok) continue;
      const d = out.get(new Date(Number(r.at)).toISOString().slice(0, 10));
      if (!d) continue;
      if (r.action === 'manifest.push') d.pushes++;
      else d.pulls++;
    }
    return { days: [...out].map(([date, v]) => ({ date, ...v })) };
  }
}
