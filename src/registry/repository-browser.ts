// What people browse (the web UI, the API): tags with size, push time and platforms; a manifest with its
// configuration, layers, children and referrers; storage used per organization and repository.
import { sql } from 'kysely';
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
    const base = () => {
      let b = this.db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').where('t.repository_id', '=', repositoryId);
      // A case-sensitive substring, as before (LIKE would ignore ASCII case on SQLite).
      if (opts.q) b = b.where(sql<boolean>`instr(t.name, ${opts.q}) > 0`);
      return b;
    };
    // Without a search the repository's own count; a search counts its matches.
    const count = async () => Number(opts.q
      ? (await base().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
      : (await this.db.selectFrom('repositories').select('tag_count').where('id', '=', repositoryId).executeTakeFirstOrThrow()).tag_count);
    const keyColumn = opts.sort === 'pushed' ? 't.updated_at' : opts.sort === 'size' ? 't.size' : undefined;
    let after = parseCursor(opts.last, opts.sort);
    if (after && keyColumn && after.key === undefined) {
      // A tag name from an older client: continue after that tag's key, if it is still there.
      const at = await this.db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').select(['t.updated_at'])
        .select('t.size').where('t.repository_id', '=', repositoryId).where('t.name', '=', after.name).executeTakeFirst();
      if (!at) return { items: [], next: null, total: await count() };
      after = { name: after.name, key: Number(opts.sort === 'pushed' ? at.updated_at : at.size) };
    }
    let query = base().select(['t.name', 't.updated_at', 't.size', 'm.id', 'm.digest', 'm.media_type', 'm.artifact_type', 'm.content']);
    const desc = opts.order === 'desc';
    if (after) {
      const cmp = desc ? '<' : '>';
      query = keyColumn && after.key !== undefined
        ? query.where((eb) => eb.or([eb(keyColumn, cmp, after.key!), eb.and([eb(keyColumn, '=', after.key!), eb('t.name', cmp, after.name)])]))
        : query.where('t.name', cmp, after.name);
    }
    const dir = desc ? 'desc' : 'asc';
    if (keyColumn) query = query.orderBy(keyColumn, dir);
    const rows = await query.orderBy('t.name', dir).limit(opts.n + 1).execute();
    const total = await count();
    const page = rows.slice(0, opts.n);
    const items: TagInfo[] = [];
    for (const r of page) {
      const content = Buffer.from(r.content);
      // Platforms: an index lists them; an image's come from its configuration.
      const platforms = INDEX_TYPES.has(r.media_type) ? platformsOf(content)
        : IMAGE_CONFIG_TYPES.has(r.artifact_type ?? '') ? await this.imagePlatform(content) : [];
      items.push({ name: r.name, digest: r.digest, mediaType: r.media_type, artifactType: r.artifact_type, size: Number(r.size), pushedAt: Number(r.updated_at), platforms });
    }
    const lastRow = page[page.length - 1];
    const next = rows.length > opts.n && lastRow
      ? (keyColumn ? `~${opts.sort === 'pushed' ? Number(lastRow.updated_at) : Number(lastRow.size)}~${lastRow.name}` : lastRow.name) : null;
    return { items, next, total };
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
