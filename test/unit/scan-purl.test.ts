// Package URLs and OSV ecosystems of catalogued packages, from the image's distribution (purl-spec
// PURL-TYPES; the ecosystem names of ossf/osv-schema).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ecosystemOf, purlOf, type Distro } from '../../src/scan/image.js';
import type { LayerPackage } from '../../src/scan/layers.js';

const pkg = (p: Partial<LayerPackage> & Pick<LayerPackage, 'type' | 'name' | 'version'>): LayerPackage => ({ confidence: 'exact', cataloger: 't', path: 'p', layerIndex: 0, layer: 'sha256:l', ...p });
const debian12: Distro = { id: 'debian', versionId: '12', versionCodename: 'bookworm' };

test('deb: namespace and distro from os-release, the source package as upstream; the ecosystem by major version, or by codename on testing', () => {
  const libc = pkg({ type: 'deb', name: 'libc6', version: '2.36-9+deb12u4', arch: 'amd64', source: { name: 'glibc' } });
  assert.equal(purlOf(libc, debian12), 'pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc');
  assert.equal(ecosystemOf(libc, debian12), 'Debian:12');
  assert.equal(ecosystemOf(libc, { id: 'debian', versionCodename: 'trixie' }), 'Debian:13', 'testing has no VERSION_ID');
  assert.equal(ecosystemOf(libc, { id: 'debian' }), 'Debian');
  assert.equal(ecosystemOf(libc, { id: 'ubuntu', versionId: '22.04' }), 'Ubuntu:22.04');
  assert.match(purlOf(libc, { id: 'ubuntu', versionId: '22.04' }), /^pkg:deb\/ubuntu\/libc6@/);
});

test('apk, rpm (epoch as a qualifier), npm scopes, PyPI names, Go modules, Maven coordinates', () => {
  assert.equal(ecosystemOf(pkg({ type: 'apk', name: 'musl', version: '1.2.4-r2' }), { id: 'alpine', versionId: '3.18.4' }), 'Alpine:v3.18');
  assert.equal(purlOf(pkg({ type: 'apk', name: 'musl', version: '1.2.4-r2', arch: 'x86_64' }), { id: 'alpine', versionId: '3.18.4' }), 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4');
  assert.equal(purlOf(pkg({ type: 'rpm', name: 'bash', version: '1:5.1.8-6.el9', arch: 'x86_64' }), { id: 'rocky', versionId: '9.3' }), 'pkg:rpm/rocky/bash@5.1.8-6.el9?arch=x86_64&distro=rocky-9.3&epoch=1');
  assert.equal(ecosystemOf(pkg({ type: 'rpm', name: 'bash', version: '5.1' }), { id: 'rocky', versionId: '9.3' }), 'Rocky Linux:9');
  assert.equal(purlOf(pkg({ type: 'npm', namespace: '@babel', name: 'core', version: '7.0.0' }), undefined), 'pkg:npm/%40babel/core@7.0.0');
  assert.equal(purlOf(pkg({ type: 'pypi', name: 'PyYAML', version: '5.3' }), undefined), 'pkg:pypi/pyyaml@5.3');
  assert.equal(purlOf(pkg({ type: 'golang', namespace: 'github.com/spf13', name: 'cobra', version: 'v1.8.0' }), undefined), 'pkg:golang/github.com/spf13/cobra@v1.8.0');
  assert.equal(purlOf(pkg({ type: 'maven', namespace: 'org.apache.commons', name: 'commons-text', version: '1.9' }), undefined), 'pkg:maven/org.apache.commons/commons-text@1.9');
  assert.equal(ecosystemOf(pkg({ type: 'cargo', name: 'serde', version: '1.0.0' }), undefined), 'crates.io');
});
