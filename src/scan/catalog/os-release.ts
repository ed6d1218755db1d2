// Which distribution an image is: os-release(5), with /etc/os-release taking precedence over
// /usr/lib/os-release, and the older single-value files (/etc/alpine-release, /etc/debian_version) for
// images that lack both. Yields no packages: the walker reads these files and gives OS packages their
// purl namespace and distro qualifier from the result.

export interface Distribution {
  /** ID: lower-case distribution id, "debian", "alpine", "rhel", … */
  id?: string;
  /** VERSION_ID: "12", "3.18.4", "9.4"; absent on rolling or testing releases */
  versionId?: string;
  /** VERSION_CODENAME: "bookworm" */
  versionCodename?: string;
  prettyName?: string;
  /** ID_LIKE: the ids of distributions this one derives from, closest first */
  idLike?: string[];
}

/** The files the distribution is read from, in precedence order, and how the walker should hand them over. */
export const OS_RELEASE_PATHS = {
  name: 'os-release',
  osRelease: ['etc/os-release', 'usr/lib/os-release'] as const,
  fallbacks: ['etc/alpine-release', 'etc/debian_version'] as const,
  /** os-release files are a few hundred bytes; anything far bigger is not one */
  maxBytes: 64 * 1024,
  wants(path: string): 'buffer' | false {
    return (OS_RELEASE_PATHS.osRelease as readonly string[]).includes(path)
      || (OS_RELEASE_PATHS.fallbacks as readonly string[]).includes(path) ? 'buffer' : false;
  },
};

/** A shell-style assignment value: double quotes (with \" \\ \$ \` escapes), single quotes, or bare word. */
function unquote(raw: string): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i];
    if (c === '"') {
      for (i++; i < raw.length && raw[i] !== '"'; i++) {
        if (raw[i] === '\\' && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1])) i++;
        out += raw[i];
      }
      i++;
    } else if (c === "'") {
      for (i++; i < raw.length && raw[i] !== "'"; i++) out += raw[i];
      i++;
    } else if (c === '\\' && i + 1 < raw.length) {
      out += raw[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t') {
      break; // a bare word ends at whitespace
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Parses an os-release file. Unknown keys, comments and malformed lines are ignored. */
export function parseOsRelease(buf: Buffer | string): Distribution {
  const text = typeof buf === 'string' ? buf : buf.toString('utf8');
  const values = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m && !values.has(m[1])) values.set(m[1], unquote(m[2]).trim());
  }
  const d: Distribution = {};
  const get = (key: string) => { const v = values.get(key); return v ? v : undefined; };
  if (get('ID')) d.id = get('ID');
  if (get('VERSION_ID')) d.versionId = get('VERSION_ID');
  if (get('VERSION_CODENAME')) d.versionCodename = get('VERSION_CODENAME');
  if (get('PRETTY_NAME')) d.prettyName = get('PRETTY_NAME');
  const like = get('ID_LIKE')?.split(/\s+/).filter(Boolean);
  if (like && like.length > 0) d.idLike = like;
  return d;
}

/** Plain release strings hold no spaces or control characters ("3.18.4", "12.11", "trixie/sid"). */
const RELEASE = /^[0-9A-Za-z][0-9A-Za-z.~+/_-]{0,63}$/;

const firstLine = (buf: Buffer | string) => (typeof buf === 'string' ? buf : buf.toString('utf8')).split(/\r?\n/, 1)[0].trim();

/** /etc/debian_version: "12.11" (a point release: VERSION_ID is the major, "12") or "trixie/sid" (testing). */
function fromDebianVersion(buf: Buffer | string): Distribution | undefined {
  const v = firstLine(buf);
  if (!RELEASE.test(v)) return undefined;
  const numeric = /^(\d+)(?:\.\d+)*$/.exec(v);
  if (numeric) return { id: 'debian', versionId: numeric[1] };
  const codename = /^([a-z]+)\/sid$/.exec(v);
  return codename ? { id: 'debian', versionCodename: codename[1] } : { id: 'debian' };
}

/**
 * The distribution from whichever of the OS_RELEASE_PATHS files are present (path → content): the first
 * os-release that names an ID, else /etc/alpine-release, else /etc/debian_version. A Debian os-release without
 * VERSION_ID takes it from debian_version when that names a numbered release (testing and sid say
 * "trixie/sid" there and stay without). Undefined when nothing identifies the distribution.
 */
export function distributionFrom(files: ReadonlyMap<string, Buffer | string> | Readonly<Record<string, Buffer | string | undefined>>): Distribution | undefined {
  const get = (p: string) => (files instanceof Map ? files.get(p) : (files as Record<string, Buffer | string | undefined>)[p]);
  const debianVersion = get('etc/debian_version');
  for (const p of OS_RELEASE_PATHS.osRelease) {
    const buf = get(p);
    if (buf === undefined) continue;
    const d = parseOsRelease(buf);
    if (!d.id) continue;
    if (d.id === 'debian' && !d.versionId && debianVersion !== undefined) {
      const fallback = fromDebianVersion(debianVersion);
      if (fallback?.versionId) d.versionId = fallback.versionId;
    }
    return d;
  }
  const alpine = get('etc/alpine-release');
  if (alpine !== undefined) {
    const v = firstLine(alpine);
    if (RELEASE.test(v)) return { id: 'alpine', versionId: v };
  }
  return debianVersion !== undefined ? fromDebianVersion(debianVersion) : undefined;
}
