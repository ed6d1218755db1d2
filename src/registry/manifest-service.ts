// Manifests and tags: validation on push, negotiation on pull, deletion.
import { createHash } from 'node:crypto';
import type { MetadataStore } from '../db/database.js';
import { linkedBlobSizes } from '../db/blobs.js';
import { manifestBlobDigests } from '../db/gc-review.js';
import { GcQueue } from './gc-reviewer.js';
import {
  deleteManifestRows, deleteTag, findManifest, findManifestId, insertManifest, ManifestLookups, manifestSizes, referrersOf,
  tagNames, tagsOfManifest, tagTarget, upsertTag,
} from '../db/manifests.js';
import { BerthError } from '../errors/berth-error.js';
import { acceptsManifest } from '../oci/accept.js';
import { ALGORITHMS, parseDigest, type ParsedDigest } from '../oci/digest.js';
import { isManifestProblem, parseManifest, type Descriptor } from '../oci/manifest.js';
import { isNondistributable } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import { ensureRepository, findRepositoryId } from './repositories.js';
import { SYSTEM_CONTEXT, type Journal, type JournalEntry, type RequestContext } from '../audit/journal.js';
import { ManifestDeleted, ManifestPulled, ManifestPushed, TagDeleted, TagUpdated } from '../events/catalogue.js';
import type { NewEvent } from '../events/event.js';
import type { Outbox } from '../events/outbox.js';

export type Reference = { tag: string } | { digest: ParsedDigest };

export interface ManifestHead { digest: string; mediaType: string; size: number }
export interface Manifest extends ManifestHead { content: Buffer }

export interface PutResult { digest: string; subject?: string }

/** Parses a manifest reference: a tag or a digest (TAG_INVALID / DIGEST_INVALID otherwise). */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    const d = parseDigest(reference);
    if (typeof d !== 'object') throw new BerthError('DIGEST_INVALID', { message: d === 'unsupported' ? 'unsupported digest algorithm' : 'invalid digest', detail: { digest: reference } });
    return { digest: d };
  }
  if (!isValidTag(reference)) throw new BerthError('TAG_INVALID', { message: 'invalid tag', detail: { tag: reference } });
  return { tag: reference };
}

export class ManifestService {
  /** The pull's lookups, compiled once. */
  private readonly lookups: ManifestLookups;

  constructor(private readonly meta: MetadataStore, private readonly journal: Journal, private readonly outbox: Outbox, private readonly gcQueue = new GcQueue()) {
    this.lookups = new ManifestLookups(meta.db, meta.invalidations);
  }

  async head(name: string, ref: Reference, accept: string | string[] | undefined): Promise<ManifestHead> {
    const row = await ('tag' in ref ? this.lookups.headByTag(name, ref.tag) : this.lookups.headByDigest(name, ref.digest.digest));
    if (!row) throw unknown(ref);
    negotiate(row.media_type, accept, ref);
    return { digest: row.digest, mediaType: row.media_type, size: Number(row.size) };
  }

  async get(name: string, ref: Reference, accept: string | string[] | undefined): Promise<Manifest> {
    const row = await ('tag' in ref ? this.lookups.getByTag(name, ref.tag) : this.lookups.getByDigest(name, ref.digest.digest));
    if (!row) throw unknown(ref);
    negotiate(row.media_type, accept, ref);
    return { digest: row.digest, mediaType: row.media_type, size: Number(row.size), content: Buffer.from(row.content) };
  }

  /**
   * Puts a manifest GET on record (and its manifest.pulled event) before the caller answers: the pull is
   * on record (in the spool or the chain) before the client has the manifest. A HEAD is not a pull.
   */
  async recordPull(ctx: RequestContext, name: string, ref: Reference, m: ManifestHead): Promise<void> {
    await this.journal.record(ctx, [{
      action: 'manifest.pull', resource: `repository:${name}${'tag' in ref ? `:${ref.tag}` : `@${m.digest}`}`, detail: { digest: m.digest },
    }], [ManifestPulled({ repository: name, digest: m.digest, mediaType: m.mediaType, size: m.size, ...('tag' in ref ? { tag: ref.tag } : {}) })]);
  }

  /** Puts a manifest pull that a pull rule refused on record, with the rule and its reason. */
  async recordPullRefused(ctx: RequestContext, name: string, ref: Reference, digest: string, refusal: { rule: string; reason: string }): Promise<void> {
    await this.journal.record(ctx, [{
      action: 'manifest.pull', resource: `repository:${name}${'tag' in ref ? `:${ref.tag}` : `@${digest}`}`, outcome: 'denied', detail: { digest, rule: refusal.rule, reason: refusal.reason },
    }]);
  }

  /** Pushes a manifest; `tags` (a digest push's `?tag=` list) are applied in the same transaction. */
  async put(name: string, ref: Reference, content: Buffer, contentType: string | undefined, tags: string[] = [], ctx: RequestContext = SYSTEM_CONTEXT): Promise<PutResult> {
    const parsed = parseManifest(content, contentType);
    if (isManifestProblem(parsed)) throw new BerthError('MANIFEST_INVALID', { detail: { reason: parsed.detail } });
    const algorithm = 'digest' in ref ? ref.digest.algorithm : 'sha256';
    const digest = `${algorithm}:${createHash(ALGORITHMS[algorithm].node).update(content).digest('hex')}`;
    if ('digest' in ref && ref.digest.digest !== digest) {
      throw new BerthError('DIGEST_INVALID', { message: 'manifest digest does not match its content', detail: { expected: ref.digest.digest, actual: digest } });
    }
    const blobs: Descriptor[] = parsed.kind === 'image' ? [parsed.config!, ...parsed.layers.filter((l) => !(isNondistributable(l.mediaType) && l.urls?.length))] : [];
    const now = Date.now();
    await this.meta.transaction(async (tx) => {
      const repositoryId = await ensureRepository(tx, name, now);
      const blobDigests = [...new Set(blobs.map((b) => b.digest))];
      let totalSize = content.length + [...new Map(blobs.map((b) => [b.digest, b.size])).values()].reduce((a, b) => a + b, 0);
      if (blobDigests.length > 0) {
        const sizes = await linkedBlobSizes(tx, repositoryId, blobDigests, this.meta.dialect);
        for (const b of blobs) {
          const size = sizes.get(b.digest);
          if (size === undefined) throw new BerthError('MANIFEST_BLOB_UNKNOWN', { message: 'manifest references a blob unknown to this repository', detail: { digest: b.digest } });
          if (size !== b.size) throw new BerthError('MANIFEST_INVALID', { message: 'descriptor size does not match the blob', detail: { digest: b.digest, descriptorSize: b.size, blobSize: size } });
        }
      }
      const children = [...new Set(parsed.manifests.map((m) => m.digest))];
      if (children.length > 0) {
        const present = await manifestSizes(tx, repositoryId, children);
        const sizes = new Map(present.map((p) => [p.digest, p.size]));
        for (const p of present) totalSize += p.totalSize;
        for (const m of parsed.manifests) {
          const size = sizes.get(m.digest);
          if (size === undefined) throw new BerthError('MANIFEST_BLOB_UNKNOWN', { message: 'index references a manifest unknown to this repository', detail: { digest: m.digest } });
          if (size !== m.size) throw new BerthError('MANIFEST_INVALID', { message: 'descriptor size does not match the manifest', detail: { digest: m.digest, descriptorSize: m.size, manifestSize: size } });
        }
      }
      let manifestId = await findManifestId(tx, repositoryId, digest);
      const isNew = manifestId === undefined;
      if (manifestId === undefined) {
        manifestId = await insertManifest(tx, {
          repositoryId, digest, mediaType: parsed.mediaType, artifactType: parsed.artifactType ?? null,
          subjectDigest: parsed.subject?.digest ?? null, content,
          annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null, createdAt: now, totalSize,
        }, blobDigests, children);
      }
      const allTags = 'tag' in ref ? [ref.tag, ...tags] : tags;
      const moved: { tag: string; from: string | null }[] = [];
      for (const tag of allTags) {
        const before = await tagTarget(tx, repositoryId, tag);
        if (before?.digest !== digest) moved.push({ tag, from: before?.digest ?? null });
        await upsertTag(tx, repositoryId, tag, manifestId, now);
      }
      if (isNew || moved.length > 0) {
        const target = { repository: name, digest, mediaType: parsed.mediaType, size: content.length, ...(children.length ? { references: children } : {}) };
        const entries: JournalEntry[] = [];
        const events: NewEvent[] = [];
        // A new manifest is a push (one event per tag, as Distribution sends them); an existing one that only
        // gained tags is a tag change.
        if (isNew) {
          entries.push({ action: 'manifest.push', resource: `repository:${name}@${digest}`, detail: { mediaType: parsed.mediaType, size: content.length, tags: allTags } });
          if (allTags.length === 0) events.push(ManifestPushed(target));
          for (const tag of allTags) {
            entries.push({ action: 'tag.update', resource: `repository:${name}:${tag}`, detail: { digest, previous: moved.find((m) => m.tag === tag)?.from ?? null } });
            events.push(ManifestPushed({ ...target, tag }));
          }
        } else {
          for (const m of moved) {
            entries.push({ action: 'tag.update', resource: `repository:${name}:${m.tag}`, detail: { digest, previous: m.from } });
            events.push(TagUpdated({ ...target, tag: m.tag }));
          }
        }
        await this.journal.write(tx, ctx, entries);
        await this.outbox.appendAll(tx, ctx, events);
      }
    });
    return { digest, subject: parsed.subject?.digest };
  }

  /** DELETE by digest removes the manifest and its tags; DELETE by tag removes only the tag. */
  async delete(name: string, ref: Reference, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.meta.transaction(async (tx) => {
      const repositoryId = await findRepositoryId(tx, name);
      if (repositoryId === undefined) throw unknown(ref);
      if ('tag' in ref) {
        const before = await tagTarget(tx, repositoryId, ref.tag);
        if (!(await deleteTag(tx, repositoryId, ref.tag))) throw unknown(ref);
        await this.journal.write(tx, ctx, [{ action: 'tag.delete', resource: `repository:${name}:${ref.tag}`, detail: { digest: before?.digest } }]);
        await this.outbox.append(tx, ctx, TagDeleted({ repository: name, tag: ref.tag, digest: before?.digest, mediaType: before?.mediaType, size: before?.size }));
        return;
      }
      const row = await findManifest(tx, repositoryId, ref.digest.digest);
      if (!row) throw unknown(ref);
      const tags = await tagsOfManifest(tx, row.id);
      await this.journal.write(tx, ctx, [{ action: 'manifest.delete', resource: `repository:${name}@${ref.digest.digest}`, detail: { tags } }]);
      await this.outbox.append(tx, ctx, ManifestDeleted({ repository: name, digest: ref.digest.digest, mediaType: row.mediaType, size: row.size }));
      await this.gcQueue.manifestDeleted(tx, repositoryId, await manifestBlobDigests(tx, row.id));
      await deleteManifestRows(tx, row.id);
    });
  }

  async tags(name: string, n: number, last: string | undefined): Promise<{ tags: string[]; more: boolean }> {
    const repositoryId = await findRepositoryId(this.meta.db, name);
    if (repositoryId === undefined) throw new BerthError('NAME_UNKNOWN', { detail: { name } });
    if (n === 0) return { tags: [], more: false };
    const names = await tagNames(this.meta.db, repositoryId, n + 1, last);
    return { tags: names.slice(0, n), more: names.length > n };
  }

  /**
   * Manifests in the repository whose subject is `digest` (OCI 1.1 referrers), in digest order, at most
   * `n` after the cursor `last`; `more` says whether another page follows.
   */
  async referrers(name: string, digest: ParsedDigest, artifactType: string | undefined, n: number, last?: string): Promise<{ manifests: Descriptor[]; more: boolean }> {
    const repositoryId = await findRepositoryId(this.meta.db, name);
    if (repositoryId === undefined || n === 0) return { manifests: [], more: false };
    const rows = await referrersOf(this.meta.db, repositoryId, digest.digest, artifactType, n + 1, last);
    const manifests = rows.slice(0, n).map((r) => {
      const d: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size };
      if (r.artifactType) d.artifactType = r.artifactType;
      if (r.annotations) d.annotations = JSON.parse(r.annotations);
      return d;
    });
    return { manifests, more: rows.length > n };
  }
}

function unknown(ref: Reference): BerthError {
  return new BerthError('MANIFEST_UNKNOWN', { detail: 'tag' in ref ? { tag: ref.tag } : { digest: ref.digest.digest } });
}

function negotiate(mediaType: string, accept: string | string[] | undefined, ref: Reference): void {
  if (!acceptsManifest(accept, mediaType)) {
    throw new BerthError('MANIFEST_UNKNOWN', {
      message: `manifest is stored as ${mediaType}, which the Accept header does not allow`,
      detail: { ...('tag' in ref ? { tag: ref.tag } : { digest: ref.digest.digest }), mediaType },
    });
  }
}
