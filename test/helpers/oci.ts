// A minimal OCI Distribution client for black-box tests (plain fetch, no registry code imported).
import { createHash, randomBytes } from 'node:crypto';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Descriptor { mediaType: string; digest: string; size: number; [k: string]: unknown }

export async function pushBlob(base: string, name: string, data: Buffer, headers: Record<string, string> = {}): Promise<Descriptor & { location: string }> {
  const digest = sha256(data);
  const start = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`POST upload ${name}: ${start.status} ${await start.text()}`);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(data), headers: { 'content-type': 'application/octet-stream', ...headers } });
  if (put.status !== 201) throw new Error(`PUT upload ${name}: ${put.status} ${await put.text()}`);
  return { mediaType: 'application/octet-stream', digest, size: data.length, location: put.headers.get('location')! };
}

export async function pushManifest(base: string, name: string, reference: string, manifest: object | Buffer, mediaType: string, headers: Record<string, string> = {}): Promise<{ digest: string; res: Response; body: Buffer }> {
  const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`${base}/v2/${name}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': mediaType, ...headers } });
  return { digest: sha256(body), res, body };
}

export interface Image { manifest: Record<string, unknown>; manifestBytes: Buffer; digest: string; config: Buffer; layers: Buffer[] }

/** Builds (and optionally pushes) a small random OCI image. */
export async function pushRandomImage(base: string, name: string, tag: string, opts: { layers?: number; layerSize?: number; mediaType?: string; extra?: Record<string, unknown> } = {}): Promise<Image> {
  const layers = Array.from({ length: opts.layers ?? 2 }, () => randomBytes(opts.layerSize ?? 1024));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, config: {} }));
  const docker = opts.mediaType === MT.dockerManifest;
  for (const b of [config, ...layers]) await pushBlob(base, name, b);
  const manifest = {
    schemaVersion: 2,
    mediaType: opts.mediaType ?? MT.ociManifest,
    config: { mediaType: docker ? MT.dockerConfig : MT.ociConfig, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: docker ? MT.dockerLayer : MT.ociLayer, digest: sha256(l), size: l.length })),
    ...opts.extra,
  };
  const { digest, res, body } = await pushManifest(base, name, tag, manifest, manifest.mediaType);
  if (res.status !== 201) throw new Error(`PUT manifest ${name}:${tag}: ${res.status} ${await res.text()}`);
  return { manifest, manifestBytes: body, digest, config, layers };
}

/**
 * Pushes a tiny image with the given headers (credentials). When the upload cannot even start (401/403),
 * answers that status without pushing; otherwise the manifest PUT's status, digest and request id.
 */
export async function tryPushImage(base: string, name: string, tag: string, headers: Record<string, string>): Promise<{ status: number; digest: string; requestId: string | null }> {
  const start = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) return { status: start.status, digest: '', requestId: null };
  await fetch(new URL(start.headers.get('location')!, base), { method: 'DELETE', headers });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
  await pushBlob(base, name, config, headers);
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [] };
  const r = await pushManifest(base, name, tag, m, MT.ociManifest, headers);
  return { status: r.res.status, digest: r.digest, requestId: r.res.headers.get('x-request-id') };
}
