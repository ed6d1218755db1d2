// What a cataloger finds and how the layer walker feeds it. A cataloger names the files it needs by path
// (cheap, linear in the path); the walker reads only those, applies whiteouts across layers, and records for
// each package the layer that introduced it. Catalogers parse; they never see layers, digests or tar.
import type { Readable } from 'node:stream';

/** Package URL types Berth catalogs (package-url/purl-spec PURL-TYPES). */
export type PackageType = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven' | 'cargo';

/** One package as a cataloger read it, before the image context (distribution, layer) is added. */
export interface FoundPackage {
  type: PackageType;
  /** purl namespace where the type has one of its own: a Maven groupId, an npm scope ("@scope"), a Go module's path before its last element. OS types get theirs from os-release. */
  namespace?: string;
  name: string;
  /** as the package manager writes it: dpkg "1:2.3-4", rpm "[epoch:]version-release", apk "1.2-r3", Go "v1.2.3", … */
  version: string;
  /** OS packages: the source package (dpkg Source, apk origin, rpm SOURCERPM name) and, when it differs, its version */
  source?: { name: string; version?: string };
  arch?: string;
  licenses?: string[];
  /**
   * How far the version can be trusted for matching: `exact` from a package manager's own record;
   * `version-based` where a builder may patch without changing the version (a Go toolchain or module
   * version in a distribution-built binary); `inferred` from names or manifests that may lie (a jar's
   * MANIFEST.MF without pom.properties).
   */
  confidence: 'exact' | 'version-based' | 'inferred';
  /** small facts worth keeping (Go: goVersion, mainModule; jar: the nesting path) */
  metadata?: Record<string, string>;
}

/** What the walker hands a cataloger for one file. */
export type FileContent =
  /** the whole file, at most Cataloger.maxBytes */
  | { kind: 'buffer'; data: Buffer }
  /** the file as it streams out of the layer; read what you need (the walker drains the rest) */
  | { kind: 'stream'; stream: Readable; size: number };

export interface FileInfo { size: number; mode: number }

export interface Cataloger {
  readonly name: string;
  /**
   * Whether this regular file (path relative to the image root, no leading "/", already normalized) is
   * needed, and how: 'buffer' for small records, 'stream' for files that may be large (binaries, archives,
   * databases). Called for every file of every layer: keep it cheap.
   */
  wants(path: string, info: FileInfo): 'buffer' | 'stream' | false;
  /** Largest file taken as 'buffer'; a bigger one is skipped and reported. */
  readonly maxBytes?: number;
  /** Parses one file. Malformed input yields no packages (or throws a CatalogError), never a crash of the scan. */
  parse(path: string, content: FileContent): Promise<FoundPackage[]>;
}

/** A file a cataloger could not read: reported with the scan, the scan goes on. */
export class CatalogError extends Error {}
