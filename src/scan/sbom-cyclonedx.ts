// An image's catalog as a CycloneDX 1.6 JSON SBOM, built with the CycloneDX project's own library (its
// normalizer writes what the 1.6 schema allows; sorted lists make equal catalogs give equal output).
// Berth's own facts (layer, file, cataloger, confidence, source package) are component properties in the
// "berth:" namespace, as the CycloneDX property taxonomy asks of names outside its registered ones.
import { randomUUID } from 'node:crypto';
import { ComponentType } from '@cyclonedx/cyclonedx-library/Enums';
import { Factories } from '@cyclonedx/cyclonedx-library/Contrib/License';
import { Bom, Component, ComponentRepository, LicenseExpression, LicenseRepository, Metadata, Property, PropertyRepository, Tools, type License } from '@cyclonedx/cyclonedx-library/Models';
import { JSON as CdxJson, JsonSerializer } from '@cyclonedx/cyclonedx-library/Serialize';
import { fixupSpdxId } from '@cyclonedx/cyclonedx-library/SPDX';
import { Spec1dot6 } from '@cyclonedx/cyclonedx-library/Spec';
import type { PlatformCatalog } from './image.js';
import { distinctLicenses, isOsPackage, ociPurl, sbomPackages, spdxLicenseExpression, validateSpdxExpression, type SbomOptions, type SbomSubject } from './sbom.js';

const licenseFactory = new Factories.LicenseFactory(validateSpdxExpression);

/** purl types whose namespace is the package's own group (purl-spec): an npm scope, a Maven groupId, a Go module path prefix. */
const GROUPED_TYPES = new Set(['npm', 'maven', 'golang']);

/** The CycloneDX 1.6 JSON document (serialNumber and timestamp are the only parts that differ between runs). */
export function cyclonedxSbom(catalog: PlatformCatalog, subject: SbomSubject, opts: SbomOptions): string {
  const image = new Component(ComponentType.Container, subject.repository, {
    bomRef: ociPurl(subject),
    version: subject.digest,
    purl: ociPurl(subject),
    properties: new PropertyRepository([
      ...[...new Set(subject.tags ?? [])].map((t) => new Property('berth:tag', t)),
      ...(platformOf(catalog) ? [new Property('berth:platform', platformOf(catalog)!)] : []),
    ]),
  });
  const tool = new Component(ComponentType.Application, 'berth', { version: opts.toolVersion });
  // whole seconds, as the SPDX writer has to (its created has no fraction), so both documents agree
  const timestamp = new Date(Math.floor((opts.created ?? new Date()).getTime() / 1000) * 1000);
  const bom = new Bom({
    serialNumber: `urn:uuid:${randomUUID()}`,
    metadata: new Metadata({ timestamp, tools: new Tools({ components: new ComponentRepository([tool]) }), component: image }),
  });

  if (catalog.distro) {
    const d = catalog.distro;
    const os = new Component(ComponentType.OperatingSystem, d.id, {
      bomRef: `berth:os:${d.id}${d.versionId ? `@${d.versionId}` : ''}`,
      version: d.versionId,
      description: d.prettyName,
      properties: new PropertyRepository(d.versionCodename ? [new Property('berth:codename', d.versionCodename)] : []),
    });
    bom.components.add(os);
    image.dependencies.add(os.bomRef);
  }

  for (const { pkg, purl, ref } of sbomPackages(catalog)) {
    const props = [
      new Property('berth:layer', pkg.layer),
      new Property('berth:path', pkg.path),
      new Property('berth:cataloger', pkg.cataloger),
      new Property('berth:confidence', pkg.confidence),
    ];
    if (isOsPackage(pkg) && pkg.source) {
      props.push(new Property('berth:source', pkg.source.name));
      if (pkg.source.version) props.push(new Property('berth:sourceVersion', pkg.source.version));
    }
    // The group is the purl's namespace where that namespace is the publisher's (not the distribution's
    // vendor that deb/apk/rpm purls carry), and the name its last part, as CycloneDX's npm tools write "@scope".
    const group = GROUPED_TYPES.has(pkg.type) ? (purl?.namespace ?? pkg.namespace) : undefined;
    const c = new Component(ComponentType.Library, pkg.name, {
      bomRef: ref,
      group: group || undefined,
      version: pkg.version,
      purl: purl ? pkg.purl : undefined,
      licenses: new LicenseRepository(licensesOf(pkg.licenses)),
      properties: new PropertyRepository(props),
    });
    bom.components.add(c);
    image.dependencies.add(c.bomRef);
  }

  const serializer = new JsonSerializer(new CdxJson.Normalize.Factory(Spec1dot6));
  return serializer.serialize(bom, { sortLists: true, space: 2 });
}

/**
 * CycloneDX takes either license objects or one expression, never both (the library's normalizer would keep
 * only the first expression and drop the rest): one string is an SPDX id, an expression or a named license;
 * several are a list of ids and named licenses, unless one is an expression beyond a listed id ("GPL-2.0+",
 * "MIT OR X") and all are valid: then one AND-ed expression.
 */
function licensesOf(licenses: readonly string[] | undefined): License[] {
  const all = distinctLicenses(licenses);
  if (all.length <= 1) return all.map((l) => licenseFactory.makeFromString(l));
  const disjunctive = all.map((l) => licenseFactory.makeDisjunctive(l));
  const expression = spdxLicenseExpression(all);
  const needsExpression = all.some((l) => fixupSpdxId(l) === undefined);
  return expression && needsExpression ? [new LicenseExpression(expression)] : disjunctive;
}

function platformOf(catalog: PlatformCatalog): string | undefined {
  const p = catalog.platform;
  if (!p?.os || !p.architecture) return undefined;
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
