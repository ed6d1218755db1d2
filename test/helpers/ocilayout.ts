// Builds and reads OCI image layouts on disk (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// with real tar+gzip layers, so external tools (skopeo, podman) can consume them.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import type { ImageContent } from '../../src/scan/image.js';
import { MT, sha256, type Descriptor } from './oci.js';

export interface TarEntry { name: string; data?: Buffer; type?: 'file' | 'dir'; mode?: number }

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A minimal ustar archive (regular files and directories only). */
export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const isDir = e.type === 'dir';
    const data = isDir ? Buffer.alloc(0) : (e.data ?? Buffer.alloc(0));
    const name = isDir && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
    const h = Buffer.alloc(512, 0);
    h.write(name, 0, 100, 'utf8');
    h.write(octal(e.mode ?? (isDir ? 0o755 : 0o644), 8), 100, 8, 'ascii');
    h.write(octal(0, 8), 108, 8, 'ascii'); // uid
    h.write(octal(0, 8), 116, 8, 'ascii'); // gid
    h.write(octal(data.length, 12), 124, 12, 'ascii');
    h.write(octal(1_700_000_000, 12), 136, 12, 'ascii'); // mtime
    h.write('        ', 148, 8, 'ascii'); // checksum placeholder
    h.write(isDir ? '5' : '0', 156, 1, 'ascii');
    h.write('ustar\0', 257, 6, 'ascii');
    h.write('00', 263, 2, 'ascii');
    h.write('root', 265, 32, 'ascii');
    h.write('root', 297, 32, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    parts.push(h, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0)); // two zero blocks
  return Buffer.concat(parts);
}

export interface BuiltLayer { tar: Buffer; gz: Buffer; diffId: string; desc: Descriptor }
export interface BuiltImage {
  config: Buffer; configDesc: Descriptor;
  layers: BuiltLayer[];
  manifest: Buffer; manifestDesc: Descriptor;
  arch: string;
}

export function makeLayer(entries: TarEntry[]): BuiltLayer {
  const tar = makeTar(entries);
  const gz = gzipSync(tar, { level: 6 });
  return { tar, gz, diffId: sha256(tar), desc: { mediaType: MT.ociLayer, digest: sha256(gz), size: gz.length } };
}

/** A multi-layer linux image whose content is unique (random bytes) per call. */
export function makeImage(opts: { arch?: string; layers?: number; label?: string; randomSize?: number } = {}): BuiltImage {
  const arch = opts.arch ?? 'amd64';
  const n = opts.layers ?? 3;
  const nonce = randomBytes(8).toString('hex');
  const layers: BuiltLayer[] = [];
  for (let i = 0; i < n; i++) {
    const entries: TarEntry[] = [
      { name: `layer${i}`, type: 'dir' },
      { name: `layer${i}/README.txt`, data: Buffer.from(`berth e2e layer ${i} arch=${arch} nonce=${nonce}\n`) },
      { name: `layer${i}/random.bin`, data: randomBytes(opts.randomSize ?? 4096 * (i + 1)) },
    ];
    if (i === 0) entries.unshift({ name: 'etc', type: 'dir' }, { name: 'etc/os-release', data: Buffer.from(`NAME=berth-e2e\nID=berth\nVERSION_ID=${nonce}\n`) });
    layers.push(makeLayer(entries));
  }
  const config = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z',
    architecture: arch,
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], Labels: { 'org.example.nonce': nonce, ...(opts.label ? { 'org.example.label': opts.label } : {}) } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `berth-e2e layer ${i}` })),
  }));
  const configDesc: Descriptor = { mediaType: MT.ociConfig, digest: sha256(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: configDesc,
    layers: layers.map((l) => l.desc),
  }));
  return { config, configDesc, layers, manifest, manifestDesc: { mediaType: MT.ociManifest, digest: sha256(manifest), size: manifest.length }, arch };
}

export function makeIndex(images: BuiltImage[]): { index: Buffer; desc: Descriptor } {
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: images.map((im) => ({ ...im.manifestDesc, platform: { architecture: im.arch, os: 'linux' } })),
  }));
  return { index, desc: { mediaType: MT.ociIndex, digest: sha256(index), size: index.length } };
}

async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  const file = path.join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  await writeFile(file, data);
  return d;
}

/**
 * Writes an OCI layout at dir. `refs` maps a ref name (org.opencontainers.image.ref.name)
 * to either an image or an index of images.
 */
export async function writeLayout(dir: string, refs: Record<string, BuiltImage | { images: BuiltImage[] }>): Promise<Record<string, Descriptor>> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const top: Descriptor[] = [];
  const out: Record<string, Descriptor> = {};
  const writeImage = async (im: BuiltImage) => {
    await writeBlob(dir, im.config);
    for (const l of im.layers) await writeBlob(dir, l.gz);
    await writeBlob(dir, im.manifest);
  };
  for (const [ref, v] of Object.entries(refs)) {
    if ('images' in v) {
      for (const im of v.images) await writeImage(im);
      const { index, desc } = makeIndex(v.images);
      await writeBlob(dir, index);
      out[ref] = desc;
    } else {
      await writeImage(v);
      out[ref] = v.manifestDesc;
    }
    top.push({ ...out[ref], annotations: { 'org.opencontainers.image.ref.name': ref } });
  }
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: top }));
  return out;
}

export interface LayoutView {
  index: { manifests: Array<Descriptor & { annotations?: Record<string, string> }> };
  blob(digest: string): Promise<Buffer>;
  blobDigests(): Promise<string[]>;
  /** descriptor of the ref (by org.opencontainers.image.ref.name), or the only entry when ref is undefined */
  ref(ref?: string): Descriptor;
}

export async function readLayout(dir: string): Promise<LayoutView> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  return {
    index,
    blob: (digest: string) => readFile(path.join(dir, 'blobs', ...digest.split(':'))),
    blobDigests: async () => (await readdir(path.join(dir, 'blobs', 'sha256'))).map((h) => `sha256:${h}`).sort(),
    ref(ref?: string) {
      const m = index.manifests as Array<Descriptor & { annotations?: Record<string, string> }>;
      const found = ref === undefined ? (m.length === 1 ? m[0] : undefined) : m.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
      if (!found) throw new Error(`ref ${ref} not in layout ${dir}: ${JSON.stringify(index)}`);
      return found;
    },
  };
}

/** A layer written to a layout's blobs straight from a stream of tar bytes: gzip-compressed, hashed on the way, never held in memory. */
export async function writeGzipLayer(dir: string, tar: Readable, level = 1): Promise<{ desc: Descriptor; diffId: string }> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const diff = createHash('sha256'), blob = createHash('sha256');
  let size = 0;
  const tmp = path.join(blobs, `.layer-${randomBytes(6).toString('hex')}.tmp`);
  await pipeline(
    tar,
    new Transform({ transform(c: Buffer, _e, cb) { diff.update(c); cb(null, c); } }),
    createGzip({ level }),
    new Transform({ transform(c: Buffer, _e, cb) { blob.update(c); size += c.length; cb(null, c); } }),
    createWriteStream(tmp),
  );
  const digest = `sha256:${blob.digest('hex')}`;
  await rename(tmp, path.join(blobs, digest.slice(7)));
  return { desc: { mediaType: MT.ociLayer, digest, size }, diffId: `sha256:${diff.digest('hex')}` };
}

/** Writes the config, manifest and index.json of a one-platform image of `layers` (already in the layout's blobs) under `ref`. */
export async function writeImageLayout(dir: string, layers: { desc: Descriptor; diffId: string }[], ref: string, arch = 'amd64'): Promise<Descriptor> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, config: {} }));
  const configDesc: Descriptor = { mediaType: MT.ociConfig, digest: await writeBlob(dir, config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: layers.map((l) => l.desc) }));
  const desc: Descriptor = { mediaType: MT.ociManifest, digest: await writeBlob(dir, manifest), size: manifest.length };
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
  return desc;
}

/** An OCI layout on disk as the scanner reads an image (catalogImage's ImageContent): blobs streamed from their files. */
export function layoutContent(dir: string): ImageContent {
  const file = (digest: string) => path.join(dir, 'blobs', ...digest.split(':'));
  return {
    async manifest(digest) {
      const content = await readFile(file(digest));
      const mediaType = (JSON.parse(content.toString('utf8')) as { mediaType?: string }).mediaType ?? MT.ociManifest;
      return { mediaType, content };
    },
    async blob(digest) {
      return createReadStream(file(digest), { highWaterMark: 1024 * 1024 });
    },
  };
}
