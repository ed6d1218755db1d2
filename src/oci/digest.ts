// Digest grammar and algorithms (OCI image-spec descriptor.md, distribution-spec "Digests").
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Algorithms Berth computes and verifies, with the exact form of their encoded part. */
export const ALGORITHMS = {
  sha256: { node: 'sha256', encoded: /^[a-f0-9]{64}$/ },
  sha512: { node: 'sha512', encoded: /^[a-f0-9]{128}$/ },
} as const;

export type Algorithm = keyof typeof ALGORITHMS;

export interface ParsedDigest { algorithm: Algorithm; encoded: string; digest: string }

export type DigestProblem = 'malformed' | 'unsupported';

/** Parses a digest string; returns the reason it is unusable otherwise. */
export function parseDigest(value: string): ParsedDigest | DigestProblem {
  if (value.length > 256) return 'malformed';
  const m = DIGEST.exec(value);
  if (!m) return 'malformed';
  const algorithm = m[1] as Algorithm;
  const spec = ALGORITHMS[algorithm];
  if (!spec || !Object.hasOwn(ALGORITHMS, algorithm)) return 'unsupported';
  if (!spec.encoded.test(m[2])) return 'malformed';
  return { algorithm, encoded: m[2], digest: value };
}

export function isDigest(value: string): boolean {
  return typeof parseDigest(value) === 'object';
}
