// Berth's SBOM against Trivy's, of the same real Debian image: the minbase bookworm rootfs (mmdebstrap) as a
// one-layer OCI layout. Berth catalogues it in-process (catalogImage over the layout, then cyclonedxSbom);
// Trivy reads the same layout (`trivy image --input DIR --format cyclonedx`) without network (unshare -n,
// no database). Both must name the same OS packages, by (name, version) and by purl once the conventions
// in which they legitimately differ are normalized (each written down below).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { PackageURL } from 'packageurl-js';
import { catalogImage } from '../../src/scan/image.js';
import { defaultCatalogers, detectDistro } from '../../src/scan/catalogers.js';
import { cyclonedxSbom } from '../../src/scan/sbom-cyclonedx.js';
import { tempDir, removeDir } from '../helpers/berth.js';
import { debianLayout, dpkgInstalled, debianRootfsTar, readTarMember } from '../helpers/debian-image.js';
import { layoutContent } from '../helpers/ocilayout.js';
import { trivySbom, trivyBinary, requireUnshare, type TrivyComponent } from '../helpers/trivy.js';

interface CdxComponent { type: string; name: string; version?: string; purl?: string; properties?: { name: string; value: string }[] }

let work: string;
let layer: string;
let berth: CdxComponent[];
let trivy: TrivyComponent[];
let trivyOs: TrivyComponent | undefined;
let installed: string[];

const prop = (c: { properties?: { name: string; value: string }[] }, name: string) => c.properties?.find((p) => p.name === name)?.value;

before(async () => {
  // Fail (with the install command) before the slow parts when a tool is missing.
  trivyBinary();
  requireUnshare();
  const tar = debianRootfsTar();
  installed = await dpkgInstalled(tar);
  work = await tempDir('berth-e2e-trivy-');
  const dir = path.join(work, 'layout');
  const { manifest, rootfsLayer } = await debianLayout(dir);
  layer = rootfsLayer.digest;
  const catalog = await catalogImage(layoutContent(dir), manifest.digest, { catalogers: defaultCatalogers(), detectDistro });
  assert.equal(catalog.platforms.length, 1);
  const doc = JSON.parse(cyclonedxSbom(catalog.platforms[0]!, { repository: 'test/debian', digest: manifest.digest }, { toolVersion: 'test' })) as { components: CdxComponent[] };
  berth = doc.components.filter((c) => c.type === 'library');
  const t = await trivySbom('image', dir);
  trivy = (t.sbom.components ?? []).filter((c) => c.type === 'library');
  trivyOs = (t.sbom.components ?? []).find((c) => c.type === 'operating-system');
});

after(async () => {
  if (work) await removeDir(work);
});

/**
 * Trivy writes a Debian epoch as a qualifier (`login@4.13…?epoch=1`) and leaves it out of the component's
 * version; Berth keeps it in the version (`login@1:4.13…`), as purl-spec's deb examples do
 * (`pkg:deb/debian/attr@1:2.4.47-2?arch=source`) and as dpkg prints it. Normalized: epoch back into the version.
 */
function trivyVersion(c: TrivyComponent): string {
  const epoch = c.purl ? PackageURL.fromString(c.purl).qualifiers?.epoch : undefined;
  return epoch ? `${epoch}:${c.version}` : c.version!;
}

/**
 * One purl spelling for both: qualifiers sorted (packageurl-js sorts them; Trivy writes arch, epoch, distro in
 * that order), the epoch in the version (above), and without the qualifiers only one of them writes:
 * - `distro`: Berth names the release os-release's VERSION_ID gives ("debian-12"); Trivy the point release
 *   /etc/debian_version gives ("debian-12.15"). Both are checked separately below.
 * - `upstream`: Berth names the source package where it differs from the binary (purl-spec's deb qualifier,
 *   what Debian's advisories are filed under); Trivy keeps the source in its own properties (SrcName,
 *   SrcVersion…), compared separately below.
 */
function normalized(purl: string): string {
  const p = PackageURL.fromString(purl);
  const q = { ...(p.qualifiers ?? {}) } as Record<string, string>;
  let version = p.version;
  if (q.epoch) { version = `${q.epoch}:${version}`; delete q.epoch; }
  delete q.distro;
  delete q.upstream;
  const sorted = Object.fromEntries(Object.entries(q).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return new PackageURL(p.type, p.namespace, p.name, version, Object.keys(sorted).length ? sorted : null, p.subpath).toString();
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

test('Berth and Trivy find the same OS packages: the same (name, version) pairs, and what dpkg says is installed', () => {
  const osPkgs = (cs: { purl?: string }[]) => cs.filter((c) => c.purl?.startsWith('pkg:deb/'));
  assert.equal(osPkgs(berth).length, berth.length, 'a minbase rootfs has only dpkg packages (Berth)');
  assert.equal(osPkgs(trivy).length, trivy.length, 'a minbase rootfs has only dpkg packages (Trivy)');
  const b = sorted(berth.map((c) => `${c.name} ${c.version}`));
  const t = sorted(trivy.map((c) => `${c.name} ${trivyVersion(c)}`));
  assert.ok(b.length > 80, `a minbase system has its ~90 packages (${b.length})`);
  assert.deepEqual(b, t);
  assert.deepEqual(b, installed, 'both are what dpkg-query reports installed');
});

test('Berth and Trivy write the same purls, once qualifier order, the epoch and the distro/upstream qualifiers are normalized', () => {
  assert.deepEqual(sorted(berth.map((c) => normalized(c.purl!))), sorted(trivy.map((c) => normalized(c.purl!))));
  // arch is a qualifier both write; it must agree package by package (not only as a set).
  const archOf = (purl: string) => PackageURL.fromString(purl).qualifiers?.arch;
  const trivyArch = new Map(trivy.map((c) => [c.name, archOf(c.purl!)]));
  for (const c of berth) assert.equal(archOf(c.purl!), trivyArch.get(c.name), c.name);
});

test('the distro qualifiers name the same release: os-release VERSION_ID for Berth, /etc/debian_version for Trivy', async () => {
  const tar = debianRootfsTar();
  // /etc/os-release is a symlink to ../usr/lib/os-release on Debian
  const osRelease = (await readTarMember(tar, './usr/lib/os-release')).toString('utf8');
  const versionId = /^VERSION_ID="?([^"\n]+)"?$/m.exec(osRelease)?.[1];
  const point = (await readTarMember(tar, './etc/debian_version')).toString('utf8').trim();
  assert.equal(versionId, '12');
  assert.ok(point.startsWith(`${versionId}.`), point);
  const distros = (cs: { purl?: string }[]) => new Set(cs.map((c) => PackageURL.fromString(c.purl!).qualifiers?.distro));
  assert.deepEqual([...distros(berth)], [`debian-${versionId}`]);
  assert.deepEqual([...distros(trivy)], [`debian-${point}`]);
  assert.equal(trivyOs?.name, 'debian');
  assert.equal(trivyOs?.version, point);
});

test("Berth's source packages (the upstream qualifier, berth:source) are Trivy's SrcName and version", () => {
  const byName = new Map(trivy.map((c) => [c.name, c]));
  let withSource = 0;
  for (const c of berth) {
    const t = byName.get(c.name)!;
    const srcName = prop(t, 'aquasecurity:trivy:SrcName')!;
    const srcEpoch = prop(t, 'aquasecurity:trivy:SrcEpoch');
    const srcRelease = prop(t, 'aquasecurity:trivy:SrcRelease');
    const srcVersion = `${srcEpoch ? `${srcEpoch}:` : ''}${prop(t, 'aquasecurity:trivy:SrcVersion')}${srcRelease ? `-${srcRelease}` : ''}`;
    const upstream = PackageURL.fromString(c.purl!).qualifiers?.upstream;
    // Berth writes upstream only where the source's name differs, with @version where its version differs.
    if (srcName === c.name) { assert.equal(upstream, undefined, c.name); continue; }
    withSource++;
    assert.equal(prop(c, 'berth:source'), srcName, c.name);
    const [uName, uVersion] = upstream!.split('@');
    assert.equal(uName, srcName, c.name);
    assert.equal(uVersion ?? c.version, srcVersion, `${c.name}: source version`);
  }
  assert.ok(withSource > 20, `many minbase packages are built from a differently named source (${withSource})`);
});

test('both put every package in the one layer of the image', () => {
  for (const c of berth) assert.equal(prop(c, 'berth:layer'), layer, c.name);
  for (const c of trivy) assert.equal(prop(c, 'aquasecurity:trivy:LayerDigest'), layer, c.name);
});
