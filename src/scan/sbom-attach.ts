// Attaches Berth's SBOMs to the images it catalogued, as OCI 1.1 referrers (an artifact manifest whose
// subject is the image), so that standard clients find them through the referrers API (`oras discover`,
// `cosign download sbom`-style tools, `regctl artifact list`). Berth's own are marked by an annotation and
// replaced when the packages change; an SBOM a client pushed is another referrer and is never touched.
import { createHash } from 'node:crypto';
import type { Descriptor } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { ImageCatalog, PlatformCatalog } from './image.js';
import { cyclonedxSbom } from './sbom-cyclonedx.js';
import { spdxSbom } from './sbom-spdx.js';
import { SBOM_MEDIA_TYPES, type SbomFormat } from './scan-service.js';

/** The registry as the attacher writes to it (http-free: main wires the registry's services). */
export interface ArtifactStore {
  manifestHead(repository: string, digest: string): Promise<{ mediaType: string; size: number }>;
  putBlob(repository: string, data: Buffer): Promise<{ digest: string; size: number }>;
  putManifest(repository: string, content: Buffer, mediaType: string): Promise<string>;
  referrers(repository: string, subject: string, artifactType: string): Promise<Descriptor[]>;
  deleteManifest(repository: string, digest: string): Promise<void>;
}

/** Annotation naming the generator of an SBOM referrer; Berth replaces only those it made itself. */
export const SBOM_GENERATOR = 'io.berth.sbom.generator';
/** Annotation holding a hash of what the SBOM says: unchanged packages, no new SBOM. */
export const SBOM_CONTENT = 'io.berth.sbom.content';

const EMPTY = Buffer.from('{}');

export interface AttachResult { attached: number; unchanged: number; replaced: number }

export class SbomAttacher {
  constructor(private readonly store: ArtifactStore, private readonly opts: { toolVersion: string; registry?: string; formats?: SbomFormat[] }) {}

  async attach(repository: string, catalog: ImageCatalog, tags?: string[]): Promise<AttachResult> {
    const result: AttachResult = { attached: 0, unchanged: 0, replaced: 0 };
    let emptyConfig: { digest: string; size: number } | undefined;
    for (const p of catalog.platforms) {
      if (p.skipped) continue;
      const head = await this.store.manifestHead(repository, p.digest);
      for (const format of this.opts.formats ?? ['cyclonedx', 'spdx']) {
        const artifactType = SBOM_MEDIA_TYPES[format];
        const key = contentKey(p, format, this.opts.toolVersion);
        const ours = (await this.store.referrers(repository, p.digest, artifactType)).filter((d) => d.annotations?.[SBOM_GENERATOR] === 'berth');
        if (ours.some((d) => d.annotations?.[SBOM_CONTENT] === key)) { result.unchanged++; continue; }
        const subject = { repository, digest: p.digest, registry: this.opts.registry, tags };
        const doc = Buffer.from(format === 'cyclonedx' ? cyclonedxSbom(p, subject, { toolVersion: this.opts.toolVersion }) : spdxSbom(p, subject, { toolVersion: this.opts.toolVersion }));
        emptyConfig ??= await this.store.putBlob(repository, EMPTY);
        const layer = await this.store.putBlob(repository, doc);
        const manifest = Buffer.from(JSON.stringify({
          schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType,
          config: { mediaType: MediaType.ociEmpty, ...emptyConfig },
          layers: [{ mediaType: artifactType, ...layer }],
          subject: { mediaType: head.mediaType, digest: p.digest, size: head.size },
          annotations: { 'org.opencontainers.image.created': new Date().toISOString(), [SBOM_GENERATOR]: 'berth', [SBOM_CONTENT]: key },
        }));
        const digest = await this.store.putManifest(repository, manifest, MediaType.ociManifest);
        result.attached++;
        // The new one is in place before the old ones go: a reader always finds one.
        for (const old of ours) {
          if (old.digest === digest) continue;
          await this.store.deleteManifest(repository, old.digest);
          result.replaced++;
        }
      }
    }
    return result;
  }
}

/** What an SBOM of the platform says, independent of when it was written. */
function contentKey(p: PlatformCatalog, format: SbomFormat, toolVersion: string): string {
  const facts = p.packages.map((x) => [x.purl, x.layer, x.path, x.licenses ?? [], x.source ?? null]).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return `sha256:${createHash('sha256').update(JSON.stringify([format, toolVersion, p.distro ?? null, facts])).digest('hex')}`;
}
