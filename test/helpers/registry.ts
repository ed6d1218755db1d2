// Small read-side helpers for black-box checks of a registry over HTTP.
import { MT, sha256 } from './oci.js';

export const ACCEPT_ALL = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Fetched { status: number; body: Buffer; headers: Headers }

export async function getManifest(base: string, name: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Fetched> {
  const res = await fetch(`${base}/v2/${name}/manifests/${ref}`, { method, headers: { accept: ACCEPT_ALL } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

export async function getBlob(base: string, name: string, digest: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Fetched> {
  const res = await fetch(`${base}/v2/${name}/blobs/${digest}`, { method });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Returns a short human description of a blob fetch for assertion messages. */
export function describe(f: Fetched): string {
  const text = f.body.length < 600 ? f.body.toString('utf8') : `<${f.body.length} bytes, ${sha256(f.body)}>`;
  return `${f.status} ${text}`;
}

export function errorCodes(body: Buffer): string[] {
  try {
    const j = JSON.parse(body.toString('utf8'));
    return Array.isArray(j?.errors) ? j.errors.map((e: { code?: string }) => String(e.code)) : [];
  } catch { return []; }
}
