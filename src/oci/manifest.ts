// Parsing and structural validation of image manifests and indexes (image-spec manifest.md,
// image-index.md, descriptor.md; Docker manifest v2 schema 2 and manifest list). Pure: no I/O.
import { parseDigest } from './digest.js';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType, SCHEMA1_TYPES, baseMediaType } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Record<string, unknown>;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  config?: Descriptor;
  layers: Descriptor[];
  manifests: Descriptor[];
  subject?: Descriptor;
  /** the artifact type a referrers listing reports: artifactType, else the config's media type */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export type ManifestProblem = { reason: 'invalid' | 'unsupported'; detail: string };

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown, where: string): Descriptor | string {
  if (!isObject(v)) return `${where}: descriptor must be an object`;
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) return `${where}.mediaType: missing or malformed`;
  if (typeof digest !== 'string' || typeof parseDigest(digest) !== 'object') return `${where}.digest: missing, malformed or unsupported algorithm`;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return `${where}.size: must be a non-negative integer`;
  if (v.artifactType !== undefined && (typeof v.artifactType !== 'string' || !MEDIA_TYPE.test(v.artifactType))) return `${where}.artifactType: malformed`;
  if (v.annotations !== undefined && !stringMap(v.annotations)) return `${where}.annotations: must map strings to strings`;
  if (v.urls !== undefined && !(Array.isArray(v.urls) && v.urls.every((u) => typeof u === 'string'))) return `${where}.urls: must be strings`;
  return v as unknown as Descriptor;
}

function stringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

function descriptors(v: unknown, where: string): Descriptor[] | string {
  if (!Array.isArray(v)) return `${where}: must be an array`;
  const out: Descriptor[] = [];
  for (let i = 0; i < v.length; i++) {
    const d = descriptor(v[i], `${where}[${i}]`);
    if (typeof d === 'string') return d;
    out.push(d);
  }
  return out;
}

/**
 * Parses manifest bytes sent with `contentType`. The media type is the document's `mediaType` field
 * when present (and must then agree with a specific Content-Type), else the Content-Type.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest | ManifestProblem {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { reason: 'invalid', detail: `manifest is not valid JSON: ${(e as Error).message}` };
  }
  if (!isObject(doc)) return { reason: 'invalid', detail: 'manifest must be a JSON object' };
  const header = contentType ? baseMediaType(contentType) : '';
  if (doc.schemaVersion === 1 || SCHEMA1_TYPES.has(header) || (typeof doc.mediaType === 'string' && SCHEMA1_TYPES.has(doc.mediaType))) {
    return { reason: 'unsupported', detail: 'Docker image manifest schema 1 is deprecated and not supported; push schema 2 or OCI manifests' };
  }
  if (doc.schemaVersion !== 2) return { reason: 'invalid', detail: 'schemaVersion must be 2' };
  let mediaType: string;
  if (doc.mediaType !== undefined) {
    if (typeof doc.mediaType !== 'string') return { reason: 'invalid', detail: 'mediaType must be a string' };
    mediaType = doc.mediaType;
    if (MANIFEST_TYPES.has(header) && header !== mediaType) {
      return { reason: 'invalid', detail: `mediaType "${mediaType}" does not match Content-Type "${header}"` };
    }
  } else if (MANIFEST_TYPES.has(header)) {
    mediaType = header;
  } else if (Array.isArray(doc.manifests)) {
    mediaType = MediaType.ociIndex;
  } else if (isObject(doc.config)) {
    mediaType = MediaType.ociManifest;
  } else {
    return { reason: 'invalid', detail: 'cannot determine the manifest media type: set mediaType or Content-Type' };
  }
  if (!MANIFEST_TYPES.has(mediaType)) {
    return { reason: 'invalid', detail: `unsupported manifest media type "${mediaType}"; expected one of ${[...MANIFEST_TYPES].join(', ')}` };
  }
  const isDocker = mediaType.startsWith('application/vnd.docker.');
  if (isDocker && doc.mediaType === undefined) return { reason: 'invalid', detail: 'Docker manifests must carry their mediaType field' };
  if (doc.artifactType !== undefined && (typeof doc.artifactType !== 'string' || !MEDIA_TYPE.test(doc.artifactType))) {
    return { reason: 'invalid', detail: 'artifactType: malformed media type' };
  }
  if (doc.annotations !== undefined && !stringMap(doc.annotations)) return { reason: 'invalid', detail: 'annotations must map strings to strings' };
  let subject: Descriptor | undefined;
  if (doc.subject !== undefined) {
    const s = descriptor(doc.subject, 'subject');
    if (typeof s === 'string') return { reason: 'invalid', detail: s };
    subject = s;
  }
  const common = { mediaType, subject, annotations: doc.annotations as Record<string, string> | undefined };
  if (INDEX_TYPES.has(mediaType)) {
    if (doc.config !== undefined || doc.layers !== undefined) return { reason: 'invalid', detail: 'an index has no config or layers' };
    const manifests = descriptors(doc.manifests, 'manifests');
    if (typeof manifests === 'string') return { reason: 'invalid', detail: manifests };
    return { ...common, kind: 'index', layers: [], manifests, artifactType: doc.artifactType as string | undefined };
  }
  if (doc.manifests !== undefined) return { reason: 'invalid', detail: 'an image manifest has no manifests list' };
  const config = descriptor(doc.config, 'config');
  if (typeof config === 'string') return { reason: 'invalid', detail: config };
  const layers = descriptors(doc.layers ?? (isDocker ? undefined : []), 'layers');
  if (typeof layers === 'string') return { reason: 'invalid', detail: layers };
  if (doc.artifactType === undefined && config.mediaType === MediaType.ociEmpty && layers.length === 0) {
    // image-spec: an artifact with the empty config SHOULD have artifactType; tolerated, reported as the config type
  }
  return {
    ...common, kind: 'image', config, layers, manifests: [],
    artifactType: (doc.artifactType as string | undefined) ?? config.mediaType,
  };
}

export function isManifestProblem(v: ParsedManifest | ManifestProblem): v is ManifestProblem {
  return 'reason' in v;
}
