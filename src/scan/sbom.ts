// What the two SBOM writers (sbom-cyclonedx.ts, sbom-spdx.ts) share: the subject image, its Package URL, one
// stable order of the packages with unique references, and the reading of a package's license strings as an
// SPDX expression. Both formats are built from these so that they name the same things the same way.
import { createRequire } from 'node:module';
import { fixupSpdxId } from '@cyclonedx/cyclonedx-library/SPDX';
import { PackageURL } from 'packageurl-js';
import type { ImagePackage, PlatformCatalog } from './image.js';

/** The image an SBOM describes. */
export interface SbomSubject {
  /** repository name, e.g. "acme/web" */
  repository: string;
  /** the image manifest digest */
  digest: string;
  /** host[:port] the image is served from: the OCI purl's repository_url */
  registry?: string;
  tags?: string[];
}

export interface SbomOptions {
  /** Berth's version, named as the tool that wrote the SBOM */
  toolVersion: string;
  /** defaults to now */
  created?: Date;
}

// spdx-expression-parse ships no types; it throws on anything that is not a valid expression.
const parseSpdx = createRequire(import.meta.url)('spdx-expression-parse') as (source: string) => unknown;

/** Throws unless `source` is a valid SPDX license expression (the validator the CycloneDX license factory takes). */
export function validateSpdxExpression(source: string): void {
  parseSpdx(source);
}

function isSpdxExpression(source: string): boolean {
  try {
    parseSpdx(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * purl-spec's oci type: the name is the repository's last path element, the version the manifest digest, and
 * repository_url the full repository (host and path) when the registry is known.
 */
export function ociPurl(subject: SbomSubject): string {
  const name = subject.repository.slice(subject.repository.lastIndexOf('/') + 1).toLowerCase();
  const qualifiers = subject.registry ? { repository_url: `${subject.registry}/${subject.repository}` } : null;
  return new PackageURL('oci', null, name, subject.digest, qualifiers, null).toString();
}

/** A package in SBOM order, with its reference (unique within the document) and its parsed purl. */
export interface SbomPackage {
  pkg: ImagePackage;
  /** the package's purl when it parses (else undefined: left out rather than written malformed) */
  purl?: PackageURL;
  /** the purl, suffixed with the path (and a counter) where the same purl occurs more than once */
  ref: string;
}

const OS_TYPES = new Set(['deb', 'apk', 'rpm']);
export const isOsPackage = (p: ImagePackage): boolean => OS_TYPES.has(p.type);

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The packages in a total order that depends only on their content (not on the order the walker found them),
 * so equal catalogs give equal documents. The first of several packages with the same purl keeps the bare
 * purl as its reference, so a reference by purl still resolves.
 */
export function sbomPackages(catalog: PlatformCatalog): SbomPackage[] {
  const key = (p: ImagePackage): string[] => [p.purl, p.path, p.layer, p.cataloger, p.type, p.namespace ?? '', p.name, p.version, p.arch ?? ''];
  const sorted = [...catalog.packages].sort((a, b) => {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const c = compare(ka[i]!, kb[i]!);
      if (c !== 0) return c;
    }
    return 0;
  });
  const taken = new Set<string>();
  return sorted.map((pkg) => {
    let purl: PackageURL | undefined;
    try {
      purl = PackageURL.fromString(pkg.purl);
    } catch {
      purl = undefined;
    }
    const base = purl ? pkg.purl : `berth:${pkg.type}/${pkg.namespace ? `${pkg.namespace}/` : ''}${pkg.name}@${pkg.version}`;
    let ref = base;
    if (taken.has(ref)) ref = `${base}|${pkg.path}`;
    for (let n = 2; taken.has(ref); n++) ref = `${base}|${pkg.path}|${n}`;
    taken.add(ref);
    return { pkg, purl, ref };
  });
}

/**
 * A package's license strings as one SPDX expression, or undefined when any of them is not one (a free-text
 * "GPLv2+ and BSD-like" is not guessed at). Identifiers are fixed up as the CycloneDX library does ("mit" →
 * "MIT"); several strings are joined with AND, as the package declares all of them.
 */
export function spdxLicenseExpression(licenses: readonly string[] | undefined): string | undefined {
  const parts = distinctLicenses(licenses).map((l) => fixupSpdxId(l) ?? (isSpdxExpression(l) ? l : undefined));
  if (parts.length === 0 || parts.some((p) => p === undefined)) return undefined;
  if (parts.length === 1) return parts[0];
  return parts.map((p) => (/\s/.test(p!) ? `(${p})` : p)).join(' AND ');
}

/** The license strings, trimmed, empty ones dropped, each once, in their declared order. */
export function distinctLicenses(licenses: readonly string[] | undefined): string[] {
  return [...new Set((licenses ?? []).map((l) => l.trim()).filter((l) => l.length > 0))];
}
