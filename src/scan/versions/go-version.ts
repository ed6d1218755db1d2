// Go toolchain versions as the Go vulnerability database writes them: SemVer without "v" ("go1.19.8" is
// 1.19.8, "go1.21rc2" is 1.21.0-rc.2, "go1.20" is 1.20.0). Module versions are already SemVer ("v1.2.3").
const TOOLCHAIN = /^go([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:(beta|rc)([0-9]+))?$/;

/**
 * The SemVer form of a Go toolchain version (from buildinfo, `go version`, a GOTOOLCHAIN name), or
 * undefined when it is not one ("devel +abc", "go1.0" which never existed). Extra words ("go1.22.1
 * X:boringcrypto") are ignored.
 */
export function goToolchainSemver(version: string): string | undefined {
  const first = version.trim().split(/\s+/)[0];
  if (first === 'go1') return '1.0.0';
  const m = TOOLCHAIN.exec(first);
  if (!m || (m[1] === '1' && m[2] === '0' && m[3] === undefined)) return undefined;
  const [, major, minor = '0', patch = '0', pre, n] = m;
  return `${major}.${minor}.${patch}${pre ? `-${pre}.${n}` : ''}`;
}
