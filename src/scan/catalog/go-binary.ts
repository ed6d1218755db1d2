// Go executables: the build information the Go linker embeds (Go 1.18+): the toolchain version, the main
// module and every dependency module. Found by its magic ("\xff Go buildinf:", 16-byte aligned) while the
// binary streams past, holding only a small tail between chunks, never the binary.
// Versions here are 'version-based': a distribution may build with a patched toolchain or patched modules
// without changing the version it reports.
// Not read: Go 1.17 and older, whose build info holds pointers into the data segment (the strings may lie
// before the header in the file, already streamed past); such a binary is reported as unreadable.
import { readChunks } from './content.js';
import { CatalogError, type Cataloger, type FileContent, type FoundPackage } from './types.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const ALIGN = 16;
/** flagsVersionInl: the version and module strings follow the header (Go 1.18+). */
const FLAG_INLINE = 0x2;
/** Longest version or module string believed (large binaries' module info is tens of KB). */
const MAX_STRING = 512 * 1024;
/** Most bytes held from a magic on, waiting for both strings. */
const MAX_HOLD = HEADER_SIZE + 2 * (10 + MAX_STRING);
/** Smaller executables are scripts and tiny tools, not Go binaries (the smallest Go binary is ~1 MB). */
const MIN_SIZE = 64 * 1024;

/** cmd/go wraps the module info in these 16-byte sentinels. */
const MOD_START_LEN = 16;
const MOD_END_LEN = 16;

interface Module { path: string; version: string; sum?: string; replace?: Module }
interface BuildInfo { goVersion: string; path?: string; main?: Module; deps: Module[]; settings: Map<string, string> }

type Step<T> = T | 'more' | 'invalid';

/** binary.Uvarint-prefixed string at p. */
function readVarString(buf: Buffer, p: number): Step<{ text: string; next: number }> {
  let len = 0;
  let shift = 1;
  for (let k = 0; k < 10; k++) {
    if (p + k >= buf.length) return 'more';
    const b = buf[p + k];
    len += (b & 0x7f) * shift;
    shift *= 128;
    if (b < 0x80) {
      if (len > MAX_STRING) return 'invalid';
      const start = p + k + 1;
      if (start + len > buf.length) return 'more';
      return { text: buf.toString('utf8', start, start + len), next: start + len };
    }
  }
  return 'invalid';
}

const MODULE_PATH_RE = /^[A-Za-z0-9._~+!\-/]+$/;
const VERSION_RE = /^(v\d+\.\d+\.\d+[0-9A-Za-z.+-]*|\(devel\))$/;
const LOCAL_PATH_RE = /^(\.\.?(\/|$)|\/)/;

function parseModuleInfo(mod: string): Omit<BuildInfo, 'goVersion'> {
  const info: Omit<BuildInfo, 'goVersion'> = { deps: [], settings: new Map() };
  let last: Module | undefined;
  for (const line of mod.split('\n')) {
    const f = line.split('\t');
    const module = (): Module | undefined => {
      const [, path, version = '', sum] = f;
      if (!path) return undefined;
      return { path, version, ...(sum ? { sum } : {}) };
    };
    switch (f[0]) {
      case 'path':
        info.path = f[1];
        break;
      case 'mod':
        last = info.main = module();
        break;
      case 'dep':
        last = module();
        if (last) info.deps.push(last);
        break;
      case '=>':
        // Replaces the module on the line before.
        if (last) last.replace = module();
        last = undefined;
        break;
      case 'build': {
        const setting = f.slice(1).join('\t');
        const eq = setting.indexOf('=');
        if (eq > 0) {
          let value = setting.slice(eq + 1);
          // Values with spaces or quotes are strconv.Quote'd; JSON reads the common cases of Go's quoting.
          if (value.startsWith('"')) {
            try { value = JSON.parse(value) as string; } catch { /* keep as written */ }
          }
          info.settings.set(setting.slice(0, eq), value);
        }
        break;
      }
      default:
        break;
    }
  }
  return info;
}

/** Reads the build info whose magic is at buf[i]. */
function parseAt(buf: Buffer, i: number): Step<BuildInfo | 'pointer-based'> {
  if (buf.length - i < HEADER_SIZE) return 'more';
  const ptrSize = buf[i + 14];
  const flags = buf[i + 15];
  if (ptrSize !== 4 && ptrSize !== 8) return 'invalid';
  if ((flags & FLAG_INLINE) === 0) return flags <= 1 ? 'pointer-based' : 'invalid';
  const vers = readVarString(buf, i + HEADER_SIZE);
  if (typeof vers === 'string') return vers;
  const mod = readVarString(buf, vers.next);
  if (typeof mod === 'string') return mod;
  const goVersion = vers.text;
  if (!/^(go\d|devel )/.test(goVersion) || goVersion.length > 128 || /[\x00-\x1f]/.test(goVersion)) return 'invalid';
  let modText = mod.text;
  // As debug/buildinfo: strip the sentinels when present, else there is no module info (built outside a module).
  if (modText.length >= MOD_START_LEN + MOD_END_LEN + 1 && modText[modText.length - MOD_END_LEN - 1] === '\n') {
    modText = modText.slice(MOD_START_LEN, modText.length - MOD_END_LEN);
  } else {
    modText = '';
  }
  return { goVersion, ...parseModuleInfo(modText) };
}

function isExecutable(head: Buffer): boolean {
  if (head.length < 4) return false;
  const m = head.readUInt32BE(0);
  return m === 0x7f454c46 // ELF
    || m === 0xfeedface || m === 0xfeedfacf || m === 0xcefaedfe || m === 0xcffaedfe || m === 0xcafebabe // Mach-O
    || head[0] === 0x4d && head[1] === 0x5a; // PE ("MZ")
}

/** Streams the binary until its build info is read; undefined for binaries that have none. */
async function findBuildInfo(content: FileContent): Promise<BuildInfo | 'pointer-based' | undefined> {
  let buf: Buffer = Buffer.alloc(0);
  let base = 0; // offset in the file of buf[0]
  let found: BuildInfo | undefined;
  let pointerBased = false;
  let first = true;
  const onChunk = (chunk: Buffer): boolean => {
    if (first) {
      first = false;
      if (!isExecutable(chunk)) return false;
    }
    buf = buf.length > 0 ? Buffer.concat([buf, chunk]) : chunk;
    let from = 0;
    for (;;) {
      const i = buf.indexOf(MAGIC, from);
      if (i < 0) break;
      from = i + 1;
      if ((base + i) % ALIGN !== 0) continue;
      const r = parseAt(buf, i);
      if (r === 'more' && buf.length - i < MAX_HOLD) {
        // Hold from the magic on until the strings are complete.
        base += i;
        buf = buf.subarray(i);
        return true;
      }
      if (r === 'more' || r === 'invalid') continue;
      if (r === 'pointer-based') {
        pointerBased = true;
        continue;
      }
      found = r;
      return false;
    }
    // Keep only what could be the start of a magic split across chunks (copied, so the chunk can go).
    const keep = Math.min(buf.length, MAGIC.length - 1);
    base += buf.length - keep;
    buf = Buffer.from(buf.subarray(buf.length - keep));
    return true;
  };
  if (content.kind === 'buffer') onChunk(content.data);
  else await readChunks(content.stream, onChunk);
  return found ?? (pointerBased ? 'pointer-based' : undefined);
}

/**
 * go1.19.8 → v1.19.8, go1.20 → v1.20.0, go1.21rc2 → v1.21.0-rc.2; experiments after a space or "-X:" do not
 * change it. Undefined for devel and vendor snapshot builds ("go1.25-20250209-RC00"): no release to match.
 */
function toolchainVersion(goVersion: string): string | undefined {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?(?=$|\s|-X:)/.exec(goVersion);
  if (!m) return undefined;
  return `v${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
}

/** github.com/foo/bar → namespace github.com/foo, name bar. */
function splitPath(path: string): { namespace?: string; name: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { name: path } : { namespace: path.slice(0, slash), name: path.slice(slash + 1) };
}

function toPackages(info: BuildInfo): FoundPackage[] {
  const common: Record<string, string> = { goVersion: info.goVersion };
  const mainPath = info.main?.path ?? info.path;
  if (mainPath) common.mainModule = mainPath;
  for (const [setting, key] of [['GOOS', 'goos'], ['GOARCH', 'goarch'], ['vcs.revision', 'vcsRevision']] as const) {
    const v = info.settings.get(setting);
    if (v) common[key] = v;
  }
  const out: FoundPackage[] = [];
  const stdlib = toolchainVersion(info.goVersion);
  if (stdlib) out.push({ type: 'golang', name: 'stdlib', version: stdlib, confidence: 'version-based', metadata: { ...common } });

  const add = (m: Module, extra: Record<string, string>) => {
    let { path, version } = m;
    const metadata = { ...common, ...extra };
    let confidence: FoundPackage['confidence'] = 'version-based';
    if (m.replace) {
      if (LOCAL_PATH_RE.test(m.replace.path)) {
        // Built from a local directory: the required version names code that was not used.
        metadata.replace = m.replace.path;
        confidence = 'inferred';
      } else {
        // Built from another module: that is the code in the binary.
        metadata.replaces = `${path}@${version}`;
        ({ path, version } = m.replace);
      }
    }
    if (!MODULE_PATH_RE.test(path) || !VERSION_RE.test(version) || version === '(devel)') return;
    out.push({ type: 'golang', ...splitPath(path), version, confidence, metadata });
  };
  // The main module is a package only when built at a version (go install m@v); "(devel)" says nothing.
  if (info.main) add(info.main, { main: 'true' });
  for (const dep of info.deps) add(dep, {});
  return out;
}

export const goBinaryCataloger: Cataloger = {
  name: 'go-binary',
  wants(path, info) {
    if (info.size < MIN_SIZE) return false;
    // Executables, and shared objects (Go's c-shared build mode), which distributions install without x bits.
    return (info.mode & 0o111) !== 0 || /\.so(\.\d+)*$/.test(path) ? 'stream' : false;
  },
  async parse(_path: string, content: FileContent) {
    const info = await findBuildInfo(content);
    if (info === undefined) return [];
    if (info === 'pointer-based') throw new CatalogError('Go build info of Go 1.17 or older (pointer-based) is not read');
    return toPackages(info);
  },
};
