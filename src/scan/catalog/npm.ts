// npm packages: lockfiles (package-lock.json, npm-shrinkwrap.json; v1 `dependencies` tree, v2/v3 `packages`)
// and installed packages (node_modules/<name>/package.json, node_modules/@scope/<name>/package.json).
// An image often holds both for the same package; each is reported with metadata.source so that whoever
// merges them can tell a lockfile's promise from what is on disk.
import { contentBuffer } from './content.js';
import type { Cataloger, FileContent, FoundPackage } from './types.js';

const MAX_BYTES = 64 * 1024 * 1024;
/** npm's own limit on a package name. */
const MAX_NAME = 214;
const NAME_RE = /^(?:@[a-z0-9][\w.~-]*\/)?[a-z0-9_.~-][\w.~-]*$/i;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function lockfileKind(path: string): boolean {
  const parts = path.split('/');
  const base = parts[parts.length - 1];
  if (base !== 'package-lock.json' && base !== 'npm-shrinkwrap.json') return false;
  // A lockfile shipped inside an installed package describes that package's own development tree, not what
  // was installed here (what was installed is in node_modules/ itself).
  return !parts.includes('node_modules');
}

function installedKind(path: string): boolean {
  const parts = path.split('/');
  const n = parts.length;
  if (parts[n - 1] !== 'package.json' || n < 3) return false;
  const name = parts[n - 2];
  if (name.startsWith('.') || name.startsWith('@')) return false;
  if (parts[n - 3] === 'node_modules') return true;
  return n >= 4 && parts[n - 3].startsWith('@') && parts[n - 3].length > 1 && parts[n - 4] === 'node_modules';
}

/** "@scope/name" → namespace "@scope", name "name". */
function splitName(full: string): { namespace?: string; name: string } {
  if (full.startsWith('@')) {
    const slash = full.indexOf('/');
    return { namespace: full.slice(0, slash), name: full.slice(slash + 1) };
  }
  return { name: full };
}

const validName = (name: string): boolean => name.length <= MAX_NAME && NAME_RE.test(name);
/** A registry version (semver, possibly with prerelease/build); git URLs, file: and tarball URLs are not. */
const validVersion = (v: string): boolean => v.length <= 256 && /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/.test(v);

/** npm license fields: "MIT", {type: "MIT"}, or the legacy licenses: [{type}]. */
function licensesOf(pkg: JsonObject): string[] | undefined {
  const out: string[] = [];
  const add = (v: Json | undefined) => {
    if (typeof v === 'string' && v.length > 0 && v.length <= 256) out.push(v);
    else if (isObject(v) && typeof v.type === 'string' && v.type.length <= 256) out.push(v.type);
  };
  add(pkg.license);
  if (Array.isArray(pkg.licenses)) for (const l of pkg.licenses.slice(0, 16)) add(l);
  return out.length > 0 ? out : undefined;
}

/** Removes user:password@ from a URL (lockfiles of private git dependencies carry tokens). */
function withoutCredentials(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)[^/@]*@/i, '$1');
}

/** What a lockfile says about one package, before deduplication. */
interface LockEntry {
  fullName: string;
  version: string;
  dev: boolean;
  optional: boolean;
  devOptional: boolean;
  alias?: string;
  resolved?: string;
  licenses?: string[];
}

/** A git-resolved dependency's commit, or undefined for registry ones. */
function gitCommit(resolved: string | undefined): string | undefined {
  if (!resolved || !/^(git\+|git:|github:|gitlab:|bitbucket:)/.test(resolved)) return undefined;
  const m = /#([0-9a-f]{7,64})$/i.exec(resolved);
  return m ? m[1].toLowerCase() : undefined;
}

/** v2/v3: packages["node_modules/a/node_modules/@s/b"]. */
function fromPackages(packages: JsonObject): LockEntry[] {
  const out: LockEntry[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    // "" is the project itself; keys without node_modules/ are workspace or file: directories (the project's
    // own code); link entries point at one of those.
    const at = key.lastIndexOf('node_modules/');
    if (at < 0 || !isObject(entry) || entry.link === true) continue;
    const installedAs = key.slice(at + 'node_modules/'.length);
    // An alias (npm install a@npm:b) is installed under its alias; `name` says which package it is.
    const fullName = str(entry.name) ?? installedAs;
    const version = str(entry.version);
    if (!version || !validName(fullName) || !validVersion(version)) continue;
    out.push({
      fullName,
      version,
      dev: entry.dev === true,
      optional: entry.optional === true,
      devOptional: entry.devOptional === true,
      alias: fullName !== installedAs && validName(installedAs) ? installedAs : undefined,
      resolved: str(entry.resolved),
      licenses: licensesOf(entry),
    });
  }
  return out;
}

/** v1: the nested `dependencies` tree, walked with an explicit stack (lockfiles may be hostile and deep). */
function fromDependencies(root: JsonObject): LockEntry[] {
  const out: LockEntry[] = [];
  const stack: JsonObject[] = [root];
  while (stack.length > 0) {
    const deps = stack.pop()!;
    for (const [key, entry] of Object.entries(deps)) {
      if (!isObject(entry)) continue;
      if (isObject(entry.dependencies)) stack.push(entry.dependencies);
      let fullName = key;
      let version = str(entry.version);
      let alias: string | undefined;
      // An alias: "version": "npm:@babel/code-frame@7.0.0".
      const m = version ? /^npm:((?:@[^/@]+\/)?[^@]+)@(.+)$/.exec(version) : null;
      if (m) {
        alias = key;
        fullName = m[1];
        version = m[2];
      }
      // Git, file: and tarball dependencies have no registry version in v1 (only a URL).
      if (!version || !validName(fullName) || !validVersion(version)) continue;
      out.push({
        fullName,
        version,
        dev: entry.dev === true,
        optional: entry.optional === true,
        devOptional: false,
        alias,
        resolved: str(entry.resolved),
      });
    }
  }
  return out;
}

/** The JSON document, or undefined for anything that is not JSON (a BOM is allowed). */
function parseJson(data: Buffer): Json | undefined {
  try {
    return JSON.parse(data.toString('utf8').replace(/^\uFEFF/, '')) as Json;
  } catch {
    return undefined;
  }
}

function parseLockfile(data: Buffer): FoundPackage[] {
  const doc = parseJson(data);
  if (!isObject(doc)) return [];
  const lockfileVersion = typeof doc.lockfileVersion === 'number' ? String(doc.lockfileVersion) : undefined;
  // v2 carries both forms; `packages` is the complete one. Some v2 files (older npm 7) have only `dependencies`.
  const entries = isObject(doc.packages) ? fromPackages(doc.packages) : isObject(doc.dependencies) ? fromDependencies(doc.dependencies) : [];

  // The same name@version is installed in many places of one tree: one package, dev (or optional) only when
  // every copy is.
  const byKey = new Map<string, LockEntry>();
  for (const e of entries) {
    const key = `${e.fullName}@${e.version}@${gitCommit(e.resolved) ?? ''}`;
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, { ...e });
      continue;
    }
    seen.dev &&= e.dev;
    seen.optional &&= e.optional;
    seen.devOptional &&= e.devOptional;
    seen.alias ??= e.alias;
    seen.licenses ??= e.licenses;
  }

  const out: FoundPackage[] = [];
  for (const e of byKey.values()) {
    const metadata: Record<string, string> = { source: 'lockfile' };
    if (lockfileVersion) metadata.lockfileVersion = lockfileVersion;
    if (e.dev) metadata.dev = 'true';
    if (e.optional) metadata.optional = 'true';
    if (e.devOptional) metadata.devOptional = 'true';
    if (e.alias) metadata.alias = e.alias;
    const commit = gitCommit(e.resolved);
    if (commit) {
      metadata.resolved = withoutCredentials(e.resolved!);
      metadata.commit = commit;
    }
    out.push({
      type: 'npm',
      ...splitName(e.fullName),
      version: e.version,
      ...(e.licenses ? { licenses: e.licenses } : {}),
      // A git dependency's version is whatever its package.json said at that commit.
      confidence: commit ? 'inferred' : 'exact',
      metadata,
    });
  }
  return out;
}

function parseInstalled(data: Buffer): FoundPackage[] {
  const doc = parseJson(data);
  if (!isObject(doc)) return [];
  const name = str(doc.name);
  const version = str(doc.version);
  if (!name || !version || !validName(name) || !validVersion(version)) return [];
  const licenses = licensesOf(doc);
  return [{
    type: 'npm',
    ...splitName(name),
    version,
    ...(licenses ? { licenses } : {}),
    confidence: 'exact',
    metadata: { source: 'installed' },
  }];
}

export const npmCataloger: Cataloger = {
  name: 'npm',
  maxBytes: MAX_BYTES,
  wants(path) {
    return lockfileKind(path) || installedKind(path) ? 'buffer' : false;
  },
  async parse(path: string, content: FileContent) {
    const data = await contentBuffer(content, MAX_BYTES);
    return installedKind(path) ? parseInstalled(data) : parseLockfile(data);
  },
};
