// Alpine packages: apk's database `lib/apk/db/installed`, one record per package, records separated by a
// blank line, each line "X:value" with a one-letter key (P name, V version, A arch, o origin, L licence).
// The file also lists every installed file (F:/R: lines), so it is read as a stream.
import { boundedLines } from './dpkg-lines.js';
import type { Cataloger, FileContent, FoundPackage } from './types.js';

const INSTALLED = 'lib/apk/db/installed';
const WANTED = new Set(['P', 'V', 'A', 'o', 'L']);
/** apk names and versions hold no whitespace or control characters. */
const TOKEN = /^[^\s\x00-\x1f\x7f]{1,512}$/;

function toPackage(fields: Map<string, string>): FoundPackage | undefined {
  const name = fields.get('P');
  const version = fields.get('V');
  if (!name || !version || !TOKEN.test(name) || !TOKEN.test(version)) return undefined;
  const pkg: FoundPackage = { type: 'apk', name, version, confidence: 'exact' };
  const arch = fields.get('A');
  if (arch && TOKEN.test(arch)) pkg.arch = arch;
  // The origin is the aport the package was built from, at the same version (apk has no separate one).
  const origin = fields.get('o');
  if (origin && TOKEN.test(origin)) pkg.source = { name: origin };
  // An SPDX expression as the APKBUILD wrote it ("MIT AND BSD-2-Clause"): kept whole, not split.
  const license = fields.get('L');
  if (license) pkg.licenses = [license];
  return pkg;
}

/** The packages of an apk `installed` database. Malformed records are skipped, never fatal. */
export async function parseApkInstalled(content: FileContent): Promise<FoundPackage[]> {
  const found: FoundPackage[] = [];
  let fields = new Map<string, string>();
  const flush = () => {
    const pkg = fields.size > 0 ? toPackage(fields) : undefined;
    if (pkg) found.push(pkg);
    fields = new Map();
  };
  for await (const { text, cut } of boundedLines(content)) {
    if (text.trim() === '') { flush(); continue; }
    if (cut || text[1] !== ':') continue;
    const key = text[0];
    if (WANTED.has(key) && !fields.has(key)) fields.set(key, text.slice(2).trim());
  }
  flush();
  return found;
}

export const apkCataloger: Cataloger = {
  name: 'apk',
  wants: (path) => (path === INSTALLED ? 'stream' : false),
  parse: (_path, content) => parseApkInstalled(content),
};
