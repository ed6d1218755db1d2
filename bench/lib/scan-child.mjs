// One Berth scan in a process of its own, so that its peak memory (VmHWM) is the scan's and nothing else's:
// the built scanner (dist/, as `berth serve` runs it; plain JavaScript, so no TypeScript loader sits in the
// measured heap) catalogues an image from an OCI layout on disk and writes its CycloneDX SBOM.
//
//   node bench/lib/scan-child.mjs LAYOUT_DIR MANIFEST_DIGEST [--sbom FILE] [--catalog FILE]
//
// Prints one JSON line: times, bytes read, packages and VmHWM before and after the scan.
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
const load = (p) => import(pathToFileURL(path.join(DIST, p)).href);

const [dir, digest, ...rest] = process.argv.slice(2);
const opt = (name) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };
const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);

const { catalogImage } = await load('scan/image.js');
const { defaultCatalogers, detectDistro } = await load('scan/catalogers.js');
const { cyclonedxSbom } = await load('scan/sbom-cyclonedx.js');
const loadedHwmKiB = kib('VmHWM');

const file = (d) => path.join(dir, 'blobs', ...d.split(':'));
/** the layout as the scanner's ImageContent: blobs streamed from their files */
const content = {
  async manifest(d) {
    const buf = await readFile(file(d));
    return { mediaType: JSON.parse(buf.toString('utf8')).mediaType ?? 'application/vnd.oci.image.manifest.v1+json', content: buf };
  },
  async blob(d) { return createReadStream(file(d), { highWaterMark: 1024 * 1024 }); },
};

const t0 = performance.now();
const catalog = await catalogImage(content, digest, { catalogers: defaultCatalogers(), detectDistro });
const t1 = performance.now();
const platform = catalog.platforms[0];
const sbom = cyclonedxSbom(platform, { repository: 'bench/scan', digest }, { toolVersion: 'bench' });
const t2 = performance.now();
if (opt('--sbom')) writeFileSync(opt('--sbom'), sbom);
if (opt('--catalog')) writeFileSync(opt('--catalog'), JSON.stringify(catalog));
process.stdout.write(`${JSON.stringify({
  catalogMs: t1 - t0, sbomMs: t2 - t1,
  compressedBytes: platform.layers.reduce((n, l) => n + l.compressedBytes, 0),
  entries: platform.layers.reduce((n, l) => n + l.entries, 0),
  packages: platform.packages.length, osPackages: platform.packages.filter((p) => ['deb', 'apk', 'rpm'].includes(p.type)).length,
  issues: platform.issues.length, sbomBytes: Buffer.byteLength(sbom),
  loadedHwmKiB, hwmKiB: kib('VmHWM'), rssKiB: kib('VmRSS'),
})}\n`);
