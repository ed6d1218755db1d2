// Storage layout: where each kind of content lives in the driver's namespace.
import type { ParsedDigest } from '../oci/digest.js';

export const blobPath = (d: ParsedDigest): string => `blobs/${d.algorithm}/${d.encoded.slice(0, 2)}/${d.encoded}`;
export const uploadPath = (id: string): string => `uploads/${id}`;
export const trashPath = (d: ParsedDigest, token: string): string => `trash/${d.algorithm}-${d.encoded}-${token}`;

/** The 1 MiB file readiness writes and removes to see whether the store takes writes. */
export const probePath = (processId: string): string => `${PROBES_PREFIX}/readyz-${processId}`;

export const UPLOADS_PREFIX = 'uploads';
export const BLOBS_PREFIX = 'blobs';
export const TRASH_PREFIX = 'trash';
export const PROBES_PREFIX = 'probes';
