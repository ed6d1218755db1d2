// What people browse (the web UI, the API): tags with size, push time and platforms; a manifest with its
// configuration, layers, children and referrers; storage used per organization and repository.
import type { Db } from '../db/database.js';
import { parseDigest } from '../oci/digest.js';
import { namespaceOf } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobPath } from './paths.js';
import { findRepositoryId } from './repositories.js';

export interface Platform { os: string; architecture: string; variant?: string }
export interface TagInfo { name: string; digest: string; mediaType: string; artifactType: string | null; size: number; pushedAt: number; platforms: Platform[] }
export type TagSort = 'name' | 'pushed' | 'size';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
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

  /** Bytes per manifest of a repository: its own size plus its blobs (an index: plus its children's). */
  private async sizes(repositoryId: number): Promise<Map<number, number>> {
    const own = await this.db.selectFrom('manifests').select(['id', 'digest', 'size']).where('repository_id', '=', repositoryId).execute();
    const blobs = await this.db.selectFrom('manifest_blobs as mb').innerJoin('blobs as b', 'b.digest', 'mb.digest')
      .select(['mb.manifest_id', (eb) => eb.fn.sum<number>('b.size').as('bytes')]).where('mb.repository_id', '=', repositoryId).groupBy('mb.manifest_id').execute();
    const children = await this.db.selectFrom('manifest_children').select(['manifest_id', 'child_digest']).where('repository_id', '=', repositoryId).execute();
    const sizes = new Map(own.map((m) => [Number(m.id), Number(m.size)]));
    for (const b of blobs) sizes.set(Number(b.manifest_id), (sizes.get(Number(b.manifest_id)) ?? 0) + Number(b.bytes));
    const byDigest = new Map(own.map((m) => [m.digest, Number(m.id)]));
    const total = new Map(sizes);
    for (const c of children) {
      const child = byDigest.get(c.child_digest);
      if (child !== undefined) total.set(Number(c.manifest_id), (total.get(Number(c.manifest_id)) ?? 0) + (sizes.get(child) ?? 0));
    }
    return total;
  }

  /** A page of tags, sorted; `last` is the name of the previous page's last tag. */
  async tags(name: string, opts: { n: number; last?: string; sort: TagSort; order: 'asc' | 'desc'; q?: string }): Promise<{ items: TagInfo[]; next: string | null; total: number } | null> {
    const repositoryId = await findRepositoryId(this.db, name);
    if (repositoryId === undefined) return null;
    const rows = await this.db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['t.name', 't.updated_at', 'm.id', 'm.digest', 'm.media_type', 'm.artifact_type'])
      .where('t.repository_id', '=', repositoryId).execute();
    const sizes = await this.sizes(repositoryId);
    const ids = new Map<string, number>();
    const all: TagInfo[] = rows.filter((r) => !opts.q || r.name.includes(opts.q)).map((r) => {
      ids.set(r.name, Number(r.id));
      return { name: r.name, digest: r.digest, mediaType: r.media_type, artifactType: r.artifact_type, size: sizes.get(Number(r.id)) ?? 0, pushedAt: Number(r.updated_at), platforms: [] };
    });
    const key = (t: TagInfo) => (opts.sort === 'pushed' ? t.pushedAt : opts.sort === 'size' ? t.size : 0);
    all.sort((a, b) => (key(a) - key(b)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (opts.order === 'desc') all.reverse();
    const start = opts.last === undefined ? 0 : all.findIndex((t) => t.name === opts.last) + 1;
    const items = all.slice(start, start + opts.n);
    // Platforms only for the page shown: an index lists them; an image's come from its configuration.
    const pageIds = [...new Set(items.filter((t) => INDEX_TYPES.has(t.mediaType) || IMAGE_CONFIG_TYPES.has(t.artifactType ?? '')).map((t) => ids.get(t.name)!))];
    const contents = new Map<number, Buffer>();
    for (let i = 0; i < pageIds.length; i += 500) {
      for (const m of await this.db.selectFrom('manifests').select(['id', 'content']).where('id', 'in', pageIds.slice(i, i + 500)).execute()) contents.set(Number(m.id), Buffer.from(m.content));
    }
    for (const t of items) {
      const content = contents.get(ids.get(t.name)!);
      if (!content) continue;
      t.platforms = INDEX_TYPES.has(t.mediaType) ? platformsOf(content) : await this.imagePlatform(content);
    }
    return { items, next: start + opts.n < all.length ? items[items.length - 1].name : null, total: all.length };
  }

  /** A manifest as a person reads it: parsed, with its image configuration, layers, children and referrers. */
  async manifest(name: string, reference: string) {
    const repositoryId = await findRepositoryId(this.db, name);
    if (repositoryId === undefined) return null;
    let row = reference.includes(':')
      ? await this.db.selectFrom('manifests').selectAll().where('repository_id', '=', repositoryId).where('digest', '=', reference).executeTakeFirst()
      : await this.db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').selectAll('m')
        .where('t.repository_id', '=', repositoryId).where('t.name', '=', reference).executeTakeFirst();
    if (!row) return null;
    row = { ...row };
    const manifest = JSON.parse(Buffer.from(row.content).toString('utf8')) as {
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
    const referrers = await this.db.selectFrom('manifests').select(['digest', 'artifact_type', 'media_type', 'size', 'annotations'])
      .where('repository_id', '=', repositoryId).where('subject_digest', '=', row.digest).orderBy('created_at').limit(500).execute();
    const tags = (await this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('manifest_id', '=', row.id).orderBy('name').execute()).map((t) => t.name);
    return {
      digest: row.digest, mediaType: row.media_type, artifactType: row.artifact_type, size: Number(row.size), pushedAt: Number(row.created_at), manifest, config,
      layers: (manifest.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, annotations: l.annotations ?? null })),
      children: (manifest.manifests ?? []).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, platform: m.platform ?? null, artifactType: m.artifactType ?? null })),
      referrers: referrers.map((r) => ({ digest: r.digest, artifactType: r.artifact_type ?? r.media_type, mediaType: r.media_type, size: Number(r.size), annotations: r.annotations ? JSON.parse(r.annotations) as Record<string, string> : null })),
      tags,
    };
  }

  /** Bytes stored per repository and per organization (blobs shared within an organization counted once). */
  async storage(visible: (repository: string) => Promise<boolean>) {
    const rows = await this.db.selectFrom('repository_blobs as rb').innerJoin('repositories as r', 'r.id', 'rb.repository_id').innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['r.name', 'b.digest', 'b.size']).execute();
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
    const rows = await this.db.selectFrom('audit_log').select(['at', 'action', 'resource']).where('at', '>=', since)
      .where('action', 'in', ['manifest.push', 'manifest.pull']).where('outcome', '=', 'success').execute();
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
