// Deleting a whole repository or one tag, for the management API and the CLI (the /v2 API deletes one
// manifest or tag at a time). Blobs are never removed here: a deleted repository's links to them go, so
// garbage collection frees those no other repository links.
import type { MetadataStore, Tx } from '../db/database.js';
import { BerthError, isBerthError } from '../errors/berth-error.js';
import { isValidName, isValidTag } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import type { Journal, RequestContext } from '../audit/journal.js';
import { RepositoryDeleted } from '../events/catalogue.js';
import type { Outbox } from '../events/outbox.js';
import type { ManifestService } from './manifest-service.js';
import { uploadPath } from './paths.js';
import { GcQueue } from './gc-reviewer.js';
import { repositoryLinkDigests } from '../db/gc-review.js';
import { deleteRepositoryRows, findRepositoryId, repositoriesInNamespace, repositoryContents } from '../db/repositories.js';

export interface RepositoryDeleted { tags: number; manifests: number; blobLinks: number }

export class RepositoryDeletion {
  constructor(
    private readonly meta: MetadataStore,
    private readonly store: StorageDriver,
    private readonly manifests: ManifestService,
    private readonly journal: Journal,
    private readonly outbox: Outbox,
    private readonly opts: { deleteEnabled: boolean; gcQueue?: GcQueue },
  ) {}

  private check(name: string): void {
    if (!this.opts.deleteEnabled) throw new BerthError('DELETION_DISABLED', { message: 'deletion is disabled on this registry (registry.deleteEnabled: false)' });
    if (!isValidName(name)) throw new BerthError('NAME_INVALID', { message: `invalid repository name ${JSON.stringify(name.slice(0, 256))}` });
  }

  /**
   * Removes the repository: its tags, manifests (referrers among them), blob links, unfinished uploads,
   * visibility and roles, with its audit record and event, in one transaction.
   */
  async deleteRepository(name: string, ctx: RequestContext): Promise<RepositoryDeleted> {
    this.check(name);
    const { result, uploads } = await this.meta.transaction(async (tx) => {
      const id = await findRepositoryId(tx, name);
      if (id === undefined) throw new BerthError('NAME_UNKNOWN', { message: `no repository ${name}` });
      return this.removeIn(tx, id, name, ctx);
    });
    // Their rows are gone; the files would otherwise wait for garbage collection's upload expiry.
    for (const u of uploads) await this.store.delete(uploadPath(u)).catch(() => undefined);
    return result;
  }

  /**
   * Deletes every repository of a namespace inside the caller's transaction (a user deleted with their
   * repositories); returns how many. Their upload files are left to garbage collection's upload expiry.
   */
  async deleteNamespace(tx: Tx, ns: string, ctx: RequestContext): Promise<number> {
    if (!this.opts.deleteEnabled) throw new BerthError('DELETION_DISABLED', { message: 'deletion is disabled on this registry (registry.deleteEnabled: false)' });
    const repos = await repositoriesInNamespace(tx, ns);
    for (const r of repos) await this.removeIn(tx, r.id, r.name, ctx);
    return repos.length;
  }

  /** One repository's rows, with its audit record and event, inside `tx`. */
  private async removeIn(tx: Tx, id: number, name: string, ctx: RequestContext): Promise<{ result: RepositoryDeleted; uploads: string[] }> {
    const { uploads, ...result } = await repositoryContents(tx, id);
    await this.journal.write(tx, ctx, [{ action: 'repository.delete', resource: `repository:${name}`, detail: { ...result, uploads: uploads.length } }]);
    await this.outbox.append(tx, ctx, RepositoryDeleted(name));
    // Its blobs are reviewed once their links are gone: those no other repository links are garbage.
    await (this.opts.gcQueue ?? new GcQueue()).unlinked(tx, await repositoryLinkDigests(tx, id), 'repository.delete');
    await deleteRepositoryRows(tx, id, name);
    return { result, uploads };
  }

  /** Removes one tag; its manifest stays, reachable by digest. The same as a /v2 DELETE by tag. */
  async deleteTag(name: string, tag: string, ctx: RequestContext): Promise<void> {
    this.check(name);
    if (!isValidTag(tag)) throw new BerthError('TAG_INVALID', { message: `invalid tag ${JSON.stringify(tag.slice(0, 128))}` });
    try {
      await this.manifests.delete(name, { tag }, ctx);
    } catch (e) {
      if (isBerthError(e, 'MANIFEST_UNKNOWN')) throw new BerthError('MANIFEST_UNKNOWN', { message: `no tag ${tag} in ${name}` });
      throw e;
    }
  }
}
