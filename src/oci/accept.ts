// Accept negotiation for manifest GET/HEAD (distribution-spec content-negotiation.md).
import { baseMediaType } from './media-types.js';

/**
 * Whether a stored manifest of `mediaType` may be served for this Accept header. Without Accept, or
 * with a wildcard, anything is served as stored; otherwise the stored type must be listed.
 */
export function acceptsManifest(accept: string | string[] | undefined, mediaType: string): boolean {
  if (accept === undefined) return true;
  const values = (Array.isArray(accept) ? accept : [accept]).flatMap((a) => a.split(','));
  let any = false;
  for (const raw of values) {
    const t = baseMediaType(raw);
    if (!t) continue;
    any = true;
    if (t === '*/*' || t === 'application/*' || t === mediaType) {
      if (/;\s*q=0(?:\.0*)?\s*(?:;|$)/i.test(raw)) continue;
      return true;
    }
  }
  return !any;
}
