// Which comparator orders an OSV ecosystem's versions. The part of the ecosystem name before the first ':'
// decides ("Debian:12", "Alpine:v3.18", "Red Hat:rhel_aus:8.4::appstream", "Maven:https://…").
import { apkComparator } from './apk.js';
import type { VersionComparator } from './comparator.js';
import { dpkgComparator } from './dpkg.js';
import { mavenComparator } from './maven.js';
import { packagistComparator } from './packagist.js';
import { pep440Comparator } from './pep440.js';
import { rpmComparator } from './rpm.js';
import { rubygemsComparator } from './rubygems.js';
import { semverComparator } from './semver.js';

const BY_ECOSYSTEM: ReadonlyMap<string, VersionComparator> = new Map([
  ['Debian', dpkgComparator],
  ['Ubuntu', dpkgComparator],
  ['Alpine', apkComparator],
  ['Red Hat', rpmComparator],
  ['AlmaLinux', rpmComparator],
  ['Rocky Linux', rpmComparator],
  ['openSUSE', rpmComparator],
  ['SUSE', rpmComparator],
  ['npm', semverComparator],
  ['Go', semverComparator],
  ['crates.io', semverComparator],
  ['PyPI', pep440Comparator],
  ['Maven', mavenComparator],
  ['Packagist', packagistComparator],
  ['RubyGems', rubygemsComparator],
]);

/** The comparator for an OSV ecosystem name, or undefined for one Berth cannot order. */
export function comparatorFor(ecosystem: string): VersionComparator | undefined {
  const colon = ecosystem.indexOf(':');
  return BY_ECOSYSTEM.get(colon < 0 ? ecosystem : ecosystem.slice(0, colon));
}
