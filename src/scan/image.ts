// What is inside an image: for a manifest, its layers walked once; for an index, every platform's manifest.
// Each package gets its Package URL and the OSV ecosystem its version is matched in, from the distribution
// the image's os-release names.
import type { Readable } from 'node:stream';
import { PackageURL } from 'packageurl-js';
import { isNondistributable } from '../oci/media-types.js';
import { isManifestProblem, parseManifest, type Descriptor } from '../oci/manifest.js';
import type { Distribution } from './catalog/os-release.js';
import { OS_RELEASE_PATHS } from './catalog/os-release.js';
import type { Cataloger } from './catalog/types.js';
import { walkLayers, type CatalogIssue, type LayerPackage, type LayerStats } from './layers.js';
import { debianEcosystem } from './vulndb/debian-releases.js';

/** A failure another attempt cannot mend: the manifest is gone or is not valid. */
export class PermanentScanError extends Error {}

/** Where the scanner reads an image from (the registry's own store, or a directory in tests). */
export interface ImageContent {
  manifest(digest: string): Promise<{ mediaType: string; content: Buffer }>;
  blob(digest: string, size: number): Promise<Readable>;
}

/** The distribution an image's os-release (or a fallback file) names, once it names an ID. */
export type Distro = Distribution & { id: string };

export interface ImagePackage extends LayerPackage {
  purl: string;
  /** the OSV ecosystem its version is compared in ("Debian:12", "Alpine:v3.18", "npm", "Go", …), when known */
  ecosystem?: string;
}

export interface PlatformCatalog {
  /** the image manifest's digest */
  digest: string;
  platform?: { os?: string; architecture?: string; variant?: string };
  distro?: Distro;
  packages: ImagePackage[];
  issues: CatalogIssue[];
  layers: LayerStats[];
  /** why nothing was read (not an image: a signature, an SBOM, a Helm chart) */
  skipped?: string;
}

export interface ImageCatalog { digest: string; mediaType: string; platforms: PlatformCatalog[] }

export interface CatalogImageOptions {
  catalogers: readonly Cataloger[];
  /** the distribution from the final os-release and fallback files (DISTRO_FILES) */
  detectDistro: (files: Map<string, Buffer>) => Distro | undefined;
  signal?: AbortSignal;
}

export const DISTRO_FILES: readonly string[] = [...OS_RELEASE_PATHS.osRelease, ...OS_RELEASE_PATHS.fallbacks];

const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const LAYER_TYPE = /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)(\.gzip|\+gzip|\+zstd)?$/;

export async function catalogImage(content: ImageContent, digest: string, opts: CatalogImageOptions): Promise<ImageCatalog> {
  const top = await content.manifest(digest);
  const parsed = parseManifest(top.content, top.mediaType);
  if (isManifestProblem(parsed)) throw new PermanentScanError(`${digest}: ${parsed.detail}`);
  if (parsed.kind === 'image') return { digest, mediaType: parsed.mediaType, platforms: [await catalogPlatform(content, digest, undefined, opts)] };
  const platforms: PlatformCatalog[] = [];
  for (const m of parsed.manifests) {
    opts.signal?.throwIfAborted();
    const platform = platformOf(m);
    // Attestation manifests that buildkit lists in an index as platform unknown/unknown are not images.
    if (platform?.os === 'unknown' && platform.architecture === 'unknown') continue;
    platforms.push(await catalogPlatform(content, m.digest, platform, opts));
  }
  return { digest, mediaType: parsed.mediaType, platforms };
}

function platformOf(d: Descriptor): PlatformCatalog['platform'] {
  const p = d.platform;
  if (!p) return undefined;
  const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { os: s(p.os), architecture: s(p.architecture), variant: s(p.variant) };
}

async function catalogPlatform(content: ImageContent, digest: string, platform: PlatformCatalog['platform'], opts: CatalogImageOptions): Promise<PlatformCatalog> {
  const m = await content.manifest(digest);
  const parsed = parseManifest(m.content, m.mediaType);
  const empty = (skipped: string): PlatformCatalog => ({ digest, platform, packages: [], issues: [], layers: [], skipped });
  if (isManifestProblem(parsed)) return empty(parsed.detail);
  if (parsed.kind !== 'image') return empty('a nested index');
  if (!parsed.config || !IMAGE_CONFIG_TYPES.has(parsed.config.mediaType)) return empty(`not an image (config ${parsed.config?.mediaType ?? 'missing'})`);
  if (!platform) platform = await configPlatform(content, parsed.config);
  const layers = parsed.layers.filter((l) => LAYER_TYPE.test(l.mediaType) && !isNondistributable(l.mediaType)).map((l) => ({
    digest: l.digest, mediaType: l.mediaType, open: () => content.blob(l.digest, l.size),
  }));
  const walked = await walkLayers(layers, opts.catalogers, { collect: DISTRO_FILES, signal: opts.signal });
  const distro = opts.detectDistro(walked.files);
  const packages = walked.packages.map((p) => ({ ...p, purl: purlOf(p, distro), ecosystem: ecosystemOf(p, distro) }));
  return { digest, platform, distro, packages, issues: walked.issues, layers: walked.layers };
}

async function configPlatform(content: ImageContent, config: Descriptor): Promise<PlatformCatalog['platform']> {
  try {
    const stream = await content.blob(config.digest, config.size);
    const chunks: Buffer[] = [];
    let len = 0;
    for await (const c of stream) {
      chunks.push(c as Buffer);
      if ((len += (c as Buffer).length) > 4 * 1024 * 1024) { stream.destroy(); return undefined; }
    }
    const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { os: s(j.os), architecture: s(j.architecture), variant: s(j.variant) };
  } catch {
    return undefined;
  }
}

/** rpm-based distributions by os-release ID, as purl-spec names their namespaces. */
const RPM_VENDORS: Record<string, string> = { rhel: 'redhat', centos: 'centos', fedora: 'fedora', rocky: 'rocky', almalinux: 'almalinux', ol: 'oracle', amzn: 'amazon', 'opensuse-leap': 'opensuse', sles: 'suse', mariner: 'mariner', azurelinux: 'azurelinux' };

export function purlOf(p: LayerPackage, distro: Distro | undefined): string {
  const q: Record<string, string> = {};
  if (p.arch) q.arch = p.arch;
  let namespace = p.namespace;
  let version = p.version;
  switch (p.type) {
    case 'deb':
      namespace = distro?.id === 'ubuntu' ? 'ubuntu' : 'debian';
      if (distro?.versionId) q.distro = `${distro.id}-${distro.versionId}`;
      else if (distro?.versionCodename) q.distro = distro.versionCodename;
      if (p.source && p.source.name !== p.name) q.upstream = p.source.version ? `${p.source.name}@${p.source.version}` : p.source.name;
      break;
    case 'apk':
      namespace = distro?.id && distro.id !== 'alpine' ? distro.id : 'alpine';
      if (distro?.versionId) q.distro = distro.versionId;
      break;
    case 'rpm': {
      namespace = (distro && RPM_VENDORS[distro.id]) ?? distro?.id ?? 'redhat';
      if (distro?.versionId) q.distro = `${distro.id}-${distro.versionId}`;
      // purl-spec: the epoch is a qualifier, the version is version-release
      const colon = version.indexOf(':');
      if (colon > 0 && /^\d+$/.test(version.slice(0, colon))) { q.epoch = version.slice(0, colon); version = version.slice(colon + 1); }
      break;
    }
    case 'pypi':
      namespace = undefined;
      break;
    default:
  }
  const name = p.type === 'pypi' ? p.name.toLowerCase().replace(/[-_.]+/g, '-') : p.name;
  return new PackageURL(p.type, namespace ?? null, name, version, Object.keys(q).length > 0 ? q : null, null).toString();
}

/** The OSV ecosystem (ossf/osv-schema ecosystems list) a package's advisories are filed under. */
export function ecosystemOf(p: LayerPackage, distro: Distro | undefined): string | undefined {
  switch (p.type) {
    case 'deb': {
      if (distro?.id === 'ubuntu') return distro.versionId ? `Ubuntu:${distro.versionId}` : 'Ubuntu';
      const major = distro?.versionId?.split('.')[0];
      if (major) return `Debian:${major}`;
      // Testing and unstable have no VERSION_ID; their os-release names the release being prepared.
      return (distro?.versionCodename && debianEcosystem(distro.versionCodename)) || 'Debian';
    }
    case 'apk': {
      const mm = distro?.versionId?.split('.').slice(0, 2).join('.');
      return mm ? `Alpine:v${mm}` : 'Alpine';
    }
    case 'rpm': {
      const names: Record<string, string> = { rhel: 'Red Hat', rocky: 'Rocky Linux', almalinux: 'AlmaLinux', 'opensuse-leap': 'openSUSE', sles: 'SUSE', mariner: 'Mariner', azurelinux: 'Azure Linux' };
      const name = distro ? names[distro.id] : undefined;
      return name && distro?.versionId && name !== 'Red Hat' ? `${name}:${distro.versionId.split('.')[0]}` : name;
    }
    case 'npm': return 'npm';
    case 'pypi': return 'PyPI';
    case 'golang': return 'Go';
    case 'maven': return 'Maven';
    case 'cargo': return 'crates.io';
    default: return undefined;
  }
}
