// An image's catalog as an SPDX 2.3 JSON document, written to the spec's JSON schema (spdx/spdx-spec
// schemas/spdx-schema-2-3.json; the tests validate against a copy). No SPDX library: the document is a
// handful of flat records, and the JS ones either target SPDX 3 or are unmaintained.
import { randomUUID } from 'node:crypto';
import type { ImagePackage, PlatformCatalog } from './image.js';
import { distinctLicenses, isOsPackage, ociPurl, sbomPackages, spdxLicenseExpression, type SbomOptions, type SbomSubject } from './sbom.js';

/** The parts of the SPDX 2.3 package record Berth writes. */
export interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  downloadLocation: string;
  filesAnalyzed: boolean;
  licenseConcluded: string;
  licenseDeclared: string;
  licenseComments?: string;
  copyrightText: string;
  supplier: string;
  description?: string;
  comment?: string;
  sourceInfo?: string;
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
  primaryPackagePurpose: 'CONTAINER' | 'OPERATING_SYSTEM' | 'LIBRARY';
}

export interface SpdxRelationship { spdxElementId: string; relationshipType: 'DESCRIBES' | 'CONTAINS'; relatedSpdxElement: string }

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  documentDescribes: string[];
  packages: SpdxPackage[];
  relationships: SpdxRelationship[];
}

const NOASSERTION = 'NOASSERTION';
const IMAGE_ID = 'SPDXRef-Image';
const OS_ID = 'SPDXRef-OperatingSystem';

/** The SPDX 2.3 JSON document (documentNamespace and created are the only parts that differ between runs). */
export function spdxSbom(catalog: PlatformCatalog, subject: SbomSubject, opts: SbomOptions): string {
  return JSON.stringify(spdxDocument(catalog, subject, opts), null, 2);
}

function spdxDocument(catalog: PlatformCatalog, subject: SbomSubject, opts: SbomOptions): SpdxDocument {
  const purlRef = (locator: string) => ({ referenceCategory: 'PACKAGE-MANAGER' as const, referenceType: 'purl' as const, referenceLocator: locator });
  const imageNotes = [
    ...(catalog.platform?.os && catalog.platform.architecture ? [`platform: ${[catalog.platform.os, catalog.platform.architecture, catalog.platform.variant].filter(Boolean).join('/')}`] : []),
    ...(subject.tags && subject.tags.length > 0 ? [`tags: ${[...new Set(subject.tags)].sort().join(', ')}`] : []),
  ];
  const packages: SpdxPackage[] = [{
    SPDXID: IMAGE_ID,
    name: subject.repository,
    versionInfo: subject.digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    supplier: NOASSERTION,
    ...(imageNotes.length > 0 ? { comment: imageNotes.join('; ') } : {}),
    externalRefs: [purlRef(ociPurl(subject))],
    primaryPackagePurpose: 'CONTAINER',
  }];
  const relationships: SpdxRelationship[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID }];

  if (catalog.distro) {
    const d = catalog.distro;
    packages.push({
      SPDXID: OS_ID,
      name: d.id,
      ...(d.versionId ? { versionInfo: d.versionId } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      supplier: NOASSERTION,
      ...(d.prettyName ? { description: d.prettyName } : {}),
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    });
    relationships.push({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: OS_ID });
  }

  sbomPackages(catalog).forEach(({ pkg, purl }, i) => {
    // idstring is [A-Za-z0-9.-]+: a counter in the stable package order, not the package name
    const id = `SPDXRef-Package-${i + 1}`;
    const declared = spdxLicenseExpression(pkg.licenses);
    const given = distinctLicenses(pkg.licenses);
    let sourceInfo = `found by the ${pkg.cataloger} cataloger in ${pkg.path} (layer ${pkg.layer})`;
    if (isOsPackage(pkg) && pkg.source) sourceInfo += `; built from source package ${pkg.source.name}${pkg.source.version ? ` ${pkg.source.version}` : ''}`;
    packages.push({
      SPDXID: id,
      name: fullName(pkg),
      versionInfo: pkg.version,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: declared ?? NOASSERTION,
      // keeps what the package said when it is not an SPDX expression, rather than losing it to NOASSERTION
      ...(declared === undefined && given.length > 0 ? { licenseComments: `declared as: ${given.join('; ')}` } : {}),
      copyrightText: NOASSERTION,
      // Berth does not know who supplied a package (a deb may come from any apt repository)
      supplier: NOASSERTION,
      sourceInfo,
      ...(purl ? { externalRefs: [purlRef(pkg.purl)] } : {}),
      primaryPackagePurpose: 'LIBRARY',
    });
    relationships.push({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  });

  const created = (opts.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const host = subject.registry ?? 'berth.invalid';
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.repository}@${subject.digest}`,
    documentNamespace: `https://${host}/spdx/${subject.repository}/${subject.digest}/${randomUUID()}`,
    creationInfo: { created, creators: [`Tool: berth-${opts.toolVersion}`] },
    documentDescribes: [IMAGE_ID],
    packages,
    relationships,
  };
}

/** SPDX 2.3 has no group field: the name is the one its ecosystem writes ("@scope/pkg", "group:artifact", a Go module path). */
function fullName(pkg: ImagePackage): string {
  if (!pkg.namespace) return pkg.name;
  switch (pkg.type) {
    case 'npm':
    case 'golang': return `${pkg.namespace}/${pkg.name}`;
    case 'maven': return `${pkg.namespace}:${pkg.name}`;
    default: return pkg.name;
  }
}
