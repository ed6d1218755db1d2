// Debian packages: dpkg's database `var/lib/dpkg/status`, and the per-package files distroless images write
// to `var/lib/dpkg/status.d/` instead (same stanza format; they have no Status field, being installed by
// construction). Licences are not in the status file (only in /usr/share/doc/*/copyright): none reported.
import { boundedLines } from './dpkg-lines.js';
import type { Cataloger, FileContent, FoundPackage } from './types.js';

const STATUS = 'var/lib/dpkg/status';
const STATUS_D = 'var/lib/dpkg/status.d/';

/** The fields a stanza is read for (deb822 field names are case-insensitive). */
const WANTED = new Set(['package', 'version', 'source', 'architecture', 'status']);

/** A value fit to be a package name or version: dpkg allows no whitespace or control characters in either. */
const TOKEN = /^[^\s\x00-\x1f\x7f]{1,512}$/;

export interface DpkgParseOptions {
  /**
   * true for `status`: a stanza counts only with Status "install ok installed" (or "hold ok installed": a held
   * package is installed too). false for `status.d/*`: no Status means installed; one that is there still counts.
   */
  statusRequired: boolean;
}

/** Whether a Status value ("want flag status") says the package's files are in place and meant to stay. */
function installed(status: string): boolean {
  const [want, flag, state, ...rest] = status.trim().split(/\s+/);
  return rest.length === 0 && (want === 'install' || want === 'hold') && flag === 'ok' && state === 'installed';
}

function toPackage(fields: Map<string, string>, options: DpkgParseOptions): FoundPackage | undefined {
  const name = fields.get('package');
  const version = fields.get('version');
  if (!name || !version || !TOKEN.test(name) || !TOKEN.test(version)) return undefined;
  const status = fields.get('status');
  if (status === undefined ? options.statusRequired : !installed(status)) return undefined;
  const pkg: FoundPackage = { type: 'deb', name, version, confidence: 'exact' };
  const arch = fields.get('architecture');
  if (arch && TOKEN.test(arch)) pkg.arch = arch;
  // Source: "name" or "name (version)" when the source version differs from the binary's (binNMUs, +bN).
  const source = /^(\S+)(?:\s+\((\S+)\))?$/.exec(fields.get('source') ?? '');
  if (source && TOKEN.test(source[1])) {
    pkg.source = { name: source[1] };
    if (source[2] && source[2] !== version) pkg.source.version = source[2];
  }
  return pkg;
}

/** The installed packages of a dpkg status-format file. Malformed stanzas are skipped, never fatal. */
export async function parseDpkgStatus(content: FileContent, options: DpkgParseOptions): Promise<FoundPackage[]> {
  const found: FoundPackage[] = [];
  let fields = new Map<string, string>();
  const flush = () => {
    const pkg = fields.size > 0 ? toPackage(fields, options) : undefined;
    if (pkg) found.push(pkg);
    fields = new Map();
  };
  for await (const { text, cut } of boundedLines(content)) {
    if (text.trim() === '') { flush(); continue; }
    // Continuation lines (leading space or tab) belong to multi-line fields, none of which are read here.
    if (text[0] === ' ' || text[0] === '\t' || cut) continue;
    const colon = text.indexOf(':');
    if (colon <= 0) continue;
    const key = text.slice(0, colon).toLowerCase();
    if (WANTED.has(key) && !fields.has(key)) fields.set(key, text.slice(colon + 1).trim());
  }
  flush();
  return found;
}

export const dpkgCataloger: Cataloger = {
  name: 'dpkg',
  wants(path) {
    if (path === STATUS) return 'stream';
    if (path.startsWith(STATUS_D)) {
      const base = path.slice(STATUS_D.length);
      if (base !== '' && !base.includes('/') && !base.endsWith('.md5sums')) return 'stream';
    }
    return false;
  },
  parse(path, content) {
    return parseDpkgStatus(content, { statusRequired: !path.startsWith(STATUS_D) });
  },
};
