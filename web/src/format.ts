// Formatting helpers: sizes, times, digests, platforms, media types.
import type { Platform } from './api-types';

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateTimeSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatTime(ms: number | null | undefined, seconds = false): string {
  if (ms === null || ms === undefined) return '—';
  return (seconds ? dateTimeSeconds : dateTime).format(new Date(ms));
}

export function formatAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return 'never';
  const diff = (ms - now) / 1000;
  const abs = Math.abs(diff);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [['year', 31557600], ['month', 2629800], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [unit, seconds] of units) if (abs >= seconds) return relative.format(Math.round(diff / seconds), unit);
  return diff > 0 ? 'in a moment' : 'just now';
}

/** sha256:0123456789ab… */
export const shortDigest = (d: string, n = 12) => {
  const i = d.indexOf(':');
  return i < 0 ? d.slice(0, n) : `${d.slice(0, i + 1)}${d.slice(i + 1, i + 1 + n)}`;
};

export const formatPlatform = (p: Platform | null | undefined) => (p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : 'unknown');

const MEDIA_TYPES: Record<string, string> = {
  'application/vnd.oci.image.manifest.v1+json': 'OCI image',
  'application/vnd.oci.image.index.v1+json': 'OCI index (multi-platform)',
  'application/vnd.docker.distribution.manifest.v2+json': 'Docker image',
  'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list (multi-platform)',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'layer (tar+gzip)',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'layer (tar+zstd)',
  'application/vnd.oci.image.layer.v1.tar': 'layer (tar)',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'layer (tar+gzip)',
  'application/vnd.oci.image.config.v1+json': 'image configuration',
  'application/vnd.docker.container.image.v1+json': 'image configuration',
};
export const mediaTypeLabel = (t: string | null | undefined) => (t ? MEDIA_TYPES[t] ?? t : '—');
/** The artifactType of an artifact; null for plain images (whose "artifact type" is just their config's media type). */
export function artifactTypeOf(artifactType: string | null | undefined): string | null {
  if (!artifactType) return null;
  return artifactType === 'application/vnd.oci.image.config.v1+json' || artifactType === 'application/vnd.docker.container.image.v1+json' ? null : artifactType;
}
export const isIndex = (t: string) => t === 'application/vnd.oci.image.index.v1+json' || t === 'application/vnd.docker.distribution.manifest.list.v2+json';

/** What kind of referrer an artifactType is, for grouping: signature, SBOM, attestation, other. */
export function referrerKind(artifactType: string | null | undefined): 'signature' | 'sbom' | 'attestation' | 'other' {
  const t = (artifactType ?? '').toLowerCase();
  if (/signature|cosign\.sig|notary|notation|\.sig\b/.test(t)) return 'signature';
  if (/spdx|cyclonedx|sbom|syft/.test(t)) return 'sbom';
  if (/in-toto|attestation|provenance|slsa|vex|dsse/.test(t)) return 'attestation';
  return 'other';
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
/** Commands that fetch a tag or digest: docker and podman for images, helm for charts, oras for other artifacts. */
export function pullCommands(host: string, name: string, ref: string, artifactType: string | null | undefined): { label: string; command: string }[] {
  const sep = ref.includes(':') ? '@' : ':';
  if (artifactType === HELM_CONFIG) {
    return [{ label: 'Helm', command: sep === ':' ? `helm pull oci://${host}/${name} --version ${ref}` : `helm pull oci://${host}/${name}@${ref}` }];
  }
  if (artifactTypeOf(artifactType)) return [{ label: 'ORAS', command: `oras pull ${host}/${name}${sep}${ref}` }];
  return [{ label: 'Docker', command: `docker pull ${host}/${name}${sep}${ref}` }, { label: 'Podman', command: `podman pull ${host}/${name}${sep}${ref}` }];
}
