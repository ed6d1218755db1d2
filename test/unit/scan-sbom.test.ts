// The SBOM writers: CycloneDX 1.6 checked by the CycloneDX library's own strict validator, SPDX 2.3 by the
// SPDX project's JSON schema (test/fixtures/spdx); the image, the distribution and each package appear once
// with Berth's facts, references are unique, and equal catalogs give equal documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { PackageURL } from 'packageurl-js';
import { JsonStrictValidator } from '@cyclonedx/cyclonedx-library/Validation';
import { Version } from '@cyclonedx/cyclonedx-library/Spec';
import { purlOf, type Distro, type ImagePackage, type PlatformCatalog } from '../../src/scan/image.js';
import type { LayerPackage } from '../../src/scan/layers.js';
import { cyclonedxSbom } from '../../src/scan/sbom-cyclonedx.js';
import { spdxSbom } from '../../src/scan/sbom-spdx.js';
import type { SbomSubject } from '../../src/scan/sbom.js';

const DIGEST = `sha256:${'1'.repeat(64)}`;
const BASE = `sha256:${'2'.repeat(64)}`;
const APP = `sha256:${'3'.repeat(64)}`;
const distro: Distro = { id: 'debian', versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' };
const subject = { repository: 'acme/web', digest: DIGEST, registry: 'registry.example:5000', tags: ['latest', '1.4'] };
const created = new Date('2025-03-04T05:06:07.890Z');

type Found = Omit<LayerPackage, 'cataloger' | 'path' | 'layerIndex' | 'layer' | 'confidence'> & Partial<LayerPackage>;
// purls come from the image cataloger's own purlOf, as a real scan makes them
const pkg = (p: Found, cataloger: string, path: string, layer = APP): ImagePackage => {
  const lp: LayerPackage = { confidence: 'exact', cataloger, path, layerIndex: layer === BASE ? 0 : 1, layer, ...p };
  return { ...lp, purl: purlOf(lp, distro) };
};

const packages: ImagePackage[] = [
  pkg({ type: 'deb', name: 'libssl3', version: '3.0.15-1~deb12u1', arch: 'amd64', source: { name: 'openssl', version: '3.0.15-1~deb12u1' }, licenses: ['Apache-2.0'] }, 'dpkg', 'var/lib/dpkg/status', BASE),
  pkg({ type: 'npm', namespace: '@babel', name: 'core', version: '7.24.0', licenses: ['MIT'] }, 'npm', 'app/node_modules/@babel/core/package.json'),
  pkg({ type: 'pypi', name: 'Requests', version: '2.32.3', licenses: ['Apache-2.0'] }, 'python', 'usr/lib/python3/dist-packages/requests-2.32.3.dist-info/METADATA'),
  pkg({ type: 'golang', namespace: 'github.com/spf13', name: 'cobra', version: 'v1.8.1', confidence: 'version-based', licenses: ['Apache-2.0'] }, 'go-binary', 'usr/local/bin/tool'),
  pkg({ type: 'maven', namespace: 'org.apache.commons', name: 'commons-lang3', version: '3.14.0', confidence: 'inferred', licenses: ['Apache-2.0'] }, 'java', 'app/lib/commons-lang3-3.14.0.jar'),
  pkg({ type: 'deb', name: 'tzdata', version: '2024a-0+deb12u1', arch: 'all', licenses: ['GPLv2+ and BSD-like'] }, 'dpkg', 'var/lib/dpkg/status', BASE),
  pkg({ type: 'npm', name: 'dual', version: '1.0.0', licenses: ['MIT OR Apache-2.0'] }, 'npm', 'app/node_modules/dual/package.json'),
  pkg({ type: 'npm', name: 'lodash', version: '4.17.21', licenses: ['MIT'] }, 'npm', 'app/node_modules/lodash/package.json'),
  pkg({ type: 'npm', name: 'lodash', version: '4.17.21', licenses: ['MIT'] }, 'npm', 'app/tools/node_modules/lodash/package.json'),
];
const catalog: PlatformCatalog = { digest: DIGEST, platform: { os: 'linux', architecture: 'amd64' }, distro, packages, issues: [], layers: [] };
const LODASH = 'pkg:npm/lodash@4.17.21';
const IMAGE_PURL = 'pkg:oci/web@sha256:1111111111111111111111111111111111111111111111111111111111111111?repository_url=registry.example%3A5000%2Facme%2Fweb';

type Json = Record<string, any>;
const cdx = (c = catalog, s: SbomSubject = subject, when = created): Json => JSON.parse(cyclonedxSbom(c, s, { toolVersion: '0.1.0', created: when })) as Json;
const spdx = (c = catalog, s: SbomSubject = subject, when = created): Json => JSON.parse(spdxSbom(c, s, { toolVersion: '0.1.0', created: when })) as Json;
const prop = (c: Json, name: string): string[] => (c.properties ?? []).filter((p: Json) => p.name === name).map((p: Json) => p.value as string);
const countOf = <T>(xs: T[], x: T): number => xs.filter((y) => y === x).length;

test('the image purl is purl-spec oci: last path element, digest, repository_url', () => {
  const p = PackageURL.fromString(cdx().metadata.component.purl as string);
  assert.equal(p.type, 'oci');
  assert.equal(p.name, 'web');
  assert.equal(p.version, DIGEST);
  assert.deepEqual({ ...p.qualifiers }, { repository_url: 'registry.example:5000/acme/web' });
  assert.equal(p.toString(), IMAGE_PURL);
  // without a registry there is no repository_url to name
  assert.equal(cdx(catalog, { repository: 'acme/web', digest: DIGEST }).metadata.component.purl, `pkg:oci/web@${DIGEST}`);
});

test('CycloneDX 1.6: the strict validator of the CycloneDX library accepts it, and rejects a broken one', async () => {
  const text = cyclonedxSbom(catalog, subject, { toolVersion: '0.1.0', created });
  const validator = new JsonStrictValidator(Version.v1dot6);
  assert.equal(await validator.validate(text) ?? null, null);
  const broken = JSON.parse(text) as Json;
  broken.components[0].type = 'nonsense';
  assert.notEqual(await validator.validate(JSON.stringify(broken)) ?? null, null);
  const noName = JSON.parse(text) as Json;
  delete noName.components[1].name;
  assert.notEqual(await validator.validate(JSON.stringify(noName)) ?? null, null);
});

test('CycloneDX: metadata, the OS, each package with its Berth facts, a flat dependency on all of them', () => {
  const bom = cdx();
  assert.equal(bom.specVersion, '1.6');
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(bom.metadata.timestamp, '2025-03-04T05:06:07.000Z');
  assert.deepEqual(bom.metadata.tools.components.map((t: Json) => [t.name, t.version]), [['berth', '0.1.0']]);
  const image = bom.metadata.component;
  assert.deepEqual([image.type, image.name, image.version, image['bom-ref']], ['container', 'acme/web', DIGEST, IMAGE_PURL]);
  assert.deepEqual(prop(image, 'berth:tag').sort(), ['1.4', 'latest']);
  assert.deepEqual(prop(image, 'berth:platform'), ['linux/amd64']);

  const components = bom.components as Json[];
  const os = components.filter((c) => c.type === 'operating-system');
  assert.deepEqual(os.map((c) => [c.name, c.version]), [['debian', '12']]);
  const libs = components.filter((c) => c.type === 'library');
  assert.equal(libs.length, packages.length);

  const byPurl = (purl: string): Json[] => libs.filter((c) => c.purl === purl);
  for (const p of packages) assert.equal(byPurl(p.purl).length, p.purl === LODASH ? 2 : 1, p.purl);
  const refs = components.map((c) => c['bom-ref'] as string);
  assert.equal(new Set([...refs, image['bom-ref']]).size, refs.length + 1, 'bom-refs are unique');
  const lodash = byPurl(LODASH);
  assert.deepEqual(lodash.map((c) => prop(c, 'berth:path')[0]).sort(), ['app/node_modules/lodash/package.json', 'app/tools/node_modules/lodash/package.json']);
  assert.ok(lodash.some((c) => c['bom-ref'] === LODASH), 'one of the two keeps the bare purl as its ref');

  const ssl = byPurl(packages[0]!.purl)[0]!;
  assert.equal(ssl.name, 'libssl3');
  assert.equal(ssl.group, undefined, 'the distribution vendor is no group');
  assert.deepEqual(prop(ssl, 'berth:layer'), [BASE]);
  assert.deepEqual(prop(ssl, 'berth:path'), ['var/lib/dpkg/status']);
  assert.deepEqual(prop(ssl, 'berth:cataloger'), ['dpkg']);
  assert.deepEqual(prop(ssl, 'berth:confidence'), ['exact']);
  assert.deepEqual(prop(ssl, 'berth:source'), ['openssl']);
  assert.deepEqual(prop(ssl, 'berth:sourceVersion'), ['3.0.15-1~deb12u1']);
  assert.deepEqual(ssl.licenses, [{ license: { id: 'Apache-2.0' } }]);

  const babel = byPurl('pkg:npm/%40babel/core@7.24.0')[0]!;
  assert.deepEqual([babel.group, babel.name, babel.version], ['@babel', 'core', '7.24.0']);
  assert.deepEqual(prop(babel, 'berth:source'), [], 'no source package for a language package');
  const cobra = byPurl('pkg:golang/github.com/spf13/cobra@v1.8.1')[0]!;
  assert.deepEqual([cobra.group, cobra.name], ['github.com/spf13', 'cobra']);
  assert.deepEqual(prop(cobra, 'berth:confidence'), ['version-based']);
  const lang3 = byPurl('pkg:maven/org.apache.commons/commons-lang3@3.14.0')[0]!;
  assert.deepEqual([lang3.group, lang3.name], ['org.apache.commons', 'commons-lang3']);
  assert.equal(byPurl('pkg:pypi/requests@2.32.3')[0]!.group, undefined);

  assert.deepEqual(libs.find((c) => c.name === 'tzdata')!.licenses, [{ license: { name: 'GPLv2+ and BSD-like' } }]);
  assert.deepEqual(libs.find((c) => c.name === 'dual')!.licenses, [{ expression: 'MIT OR Apache-2.0' }]);

  const deps = bom.dependencies as Json[];
  const top = deps.find((d) => d.ref === image['bom-ref'])!;
  assert.deepEqual([...top.dependsOn].sort(), [...refs].sort());
  for (const d of deps) if (d !== top) assert.equal(d.dependsOn, undefined, `${d.ref as string} depends on nothing`);
});

test('SPDX 2.3: the SPDX JSON schema accepts it, and rejects a broken one', () => {
  const schema = JSON.parse(readFileSync(new URL('../fixtures/spdx/spdx-schema-2.3.json', import.meta.url), 'utf8')) as Json;
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const doc = spdx();
  assert.equal(validate(doc), true, JSON.stringify(validate.errors));
  const broken = structuredClone(doc);
  broken.relationships[0].relationshipType = 'NONSENSE';
  assert.equal(validate(broken), false);
  const noDownload = structuredClone(doc);
  delete noDownload.packages[2].downloadLocation;
  assert.equal(validate(noDownload), false);
});

test('SPDX: ids, relationships, purls, licenses and creation info', () => {
  const doc = spdx();
  assert.deepEqual([doc.spdxVersion, doc.dataLicense, doc.SPDXID], ['SPDX-2.3', 'CC0-1.0', 'SPDXRef-DOCUMENT']);
  assert.equal(doc.name, `acme/web@${DIGEST}`);
  assert.equal(doc.creationInfo.created, '2025-03-04T05:06:07Z');
  assert.deepEqual(doc.creationInfo.creators, ['Tool: berth-0.1.0']);
  const ns = new URL(doc.documentNamespace as string);
  assert.equal(ns.protocol, 'https:');
  assert.equal(ns.host, 'registry.example:5000');
  assert.match(ns.pathname, new RegExp(`^/spdx/acme/web/${DIGEST}/[0-9a-f-]{36}$`));
  assert.equal(new URL(spdx(catalog, { repository: 'acme/web', digest: DIGEST }).documentNamespace as string).host, 'berth.invalid');
  assert.notEqual(spdx().documentNamespace, doc.documentNamespace, 'each document has its own namespace');
  assert.deepEqual(doc.documentDescribes, ['SPDXRef-Image']);

  const pkgs = doc.packages as Json[];
  const ids = pkgs.map((p) => p.SPDXID as string);
  for (const id of ids) assert.match(id, /^SPDXRef-[A-Za-z0-9.-]+$/);
  assert.equal(new Set(ids).size, ids.length, 'SPDXIDs are unique');
  const image = pkgs.find((p) => p.SPDXID === 'SPDXRef-Image')!;
  assert.deepEqual([image.name, image.versionInfo, image.primaryPackagePurpose], ['acme/web', DIGEST, 'CONTAINER']);
  assert.deepEqual(image.externalRefs, [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: IMAGE_PURL }]);
  const os = pkgs.filter((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM');
  assert.deepEqual(os.map((p) => [p.name, p.versionInfo]), [['debian', '12']]);
  const libs = pkgs.filter((p) => p.primaryPackagePurpose === 'LIBRARY');
  assert.equal(libs.length, packages.length);
  for (const p of libs) {
    assert.match(p.SPDXID, /^SPDXRef-Package-\d+$/);
    assert.equal(p.downloadLocation, 'NOASSERTION');
    assert.equal(p.filesAnalyzed, false);
    assert.equal(p.licenseConcluded, 'NOASSERTION');
    assert.equal(p.supplier, 'NOASSERTION');
    assert.equal(p.externalRefs.length, 1);
    assert.equal(p.externalRefs[0].referenceCategory, 'PACKAGE-MANAGER');
    assert.equal(p.externalRefs[0].referenceType, 'purl');
  }
  const locators = libs.map((p) => p.externalRefs[0].referenceLocator as string);
  for (const p of packages) assert.equal(countOf(locators, p.purl), p.purl === LODASH ? 2 : 1, p.purl);
  const lodash = libs.filter((p) => p.externalRefs[0].referenceLocator === LODASH);
  assert.notEqual(lodash[0].SPDXID, lodash[1].SPDXID);
  assert.deepEqual(lodash.map((p) => (p.sourceInfo as string).includes('app/tools/node_modules/lodash/package.json')).sort(), [false, true]);

  const ssl = libs.find((p) => p.name === 'libssl3')!;
  assert.equal(ssl.licenseDeclared, 'Apache-2.0');
  assert.ok(ssl.sourceInfo.includes(BASE) && ssl.sourceInfo.includes('var/lib/dpkg/status') && ssl.sourceInfo.includes('openssl'), ssl.sourceInfo);
  assert.equal(libs.find((p) => p.name === '@babel/core')!.versionInfo, '7.24.0');
  assert.ok(libs.some((p) => p.name === 'github.com/spf13/cobra'));
  assert.ok(libs.some((p) => p.name === 'org.apache.commons:commons-lang3'));
  const tz = libs.find((p) => p.name === 'tzdata')!;
  assert.equal(tz.licenseDeclared, 'NOASSERTION');
  assert.match(tz.licenseComments, /GPLv2\+ and BSD-like/);
  assert.equal(libs.find((p) => p.name === 'dual')!.licenseDeclared, 'MIT OR Apache-2.0');

  const rels = (doc.relationships as Json[]).map((r) => `${r.spdxElementId as string} ${r.relationshipType as string} ${r.relatedSpdxElement as string}`);
  assert.equal(new Set(rels).size, rels.length);
  assert.deepEqual(rels.sort(), ['SPDXRef-DOCUMENT DESCRIBES SPDXRef-Image', ...ids.filter((id) => id !== 'SPDXRef-Image').map((id) => `SPDXRef-Image CONTAINS ${id}`)].sort());
});

test('equal catalogs give equal documents, whatever the order the packages were found in', () => {
  const shuffled: PlatformCatalog = { ...catalog, packages: [...packages].reverse() };
  const later = new Date('2026-01-01T00:00:00Z');
  const stripCdx = (b: Json): Json => { delete b.serialNumber; delete b.metadata.timestamp; return b; };
  const stripSpdx = (d: Json): Json => { delete d.documentNamespace; delete d.creationInfo.created; return d; };
  const a = cdx(), b = cdx(shuffled, subject, later);
  assert.notEqual(a.serialNumber, b.serialNumber);
  assert.deepEqual(stripCdx(b), stripCdx(a));
  assert.equal(JSON.stringify(stripCdx(cdx(shuffled))), JSON.stringify(stripCdx(cdx())), 'byte-equal, not only deep-equal');
  assert.deepEqual(stripSpdx(spdx(shuffled, subject, later)), stripSpdx(spdx()));
  assert.equal(JSON.stringify(stripSpdx(spdx(shuffled))), JSON.stringify(stripSpdx(spdx())));
});

test('an image without a distribution or packages is still a valid document of both kinds', async () => {
  const bare: PlatformCatalog = { digest: DIGEST, packages: [], issues: [], layers: [] };
  const text = cyclonedxSbom(bare, { repository: 'web', digest: DIGEST }, { toolVersion: '0.1.0' });
  assert.equal(await new JsonStrictValidator(Version.v1dot6).validate(text) ?? null, null);
  assert.deepEqual((JSON.parse(text) as Json).components ?? [], []);
  const schema = JSON.parse(readFileSync(new URL('../fixtures/spdx/spdx-schema-2.3.json', import.meta.url), 'utf8')) as Json;
  const doc = JSON.parse(spdxSbom(bare, { repository: 'web', digest: DIGEST }, { toolVersion: '0.1.0' })) as Json;
  assert.equal(new Ajv().compile(schema)(doc), true);
  assert.deepEqual(doc.packages.map((p: Json) => p.SPDXID), ['SPDXRef-Image']);
});
