// What the surface serializers share: the shape of one code's answer, and the headers that come from an
// error's facts. Each surface (v2-errors.ts, token-errors.ts, api-errors.ts) maps every catalogue code.
import type { BerthError } from '../../errors/berth-error.js';
import { rangeHeaders } from '../../registry/upload-service.js';

export interface SerializeContext { requestId: string }

/** How one surface answers one catalogue code. */
export interface Wire<C extends string> {
  status: number;
  /** the code in the body */
  code: C;
  /** headers built from the error's facts */
  headers?: (e: BerthError) => Record<string, string>;
  /** the body's detail when the error carries none of its own */
  detail?: (e: BerthError, ctx: SerializeContext) => unknown;
}

/** One error as one surface answers it. */
export interface Answer<B> { status: number; headers: Record<string, string>; body: B }

/** `WWW-Authenticate: Bearer realm=…,service=…,scope=…,error=…` when the error says how to authenticate. */
export function challengeHeader(e: BerthError): Record<string, string> {
  const c = e.challenge;
  if (!c) return {};
  const parts = [`realm="${c.realm}"`, `service="${c.service}"`];
  if (c.scopes.length) parts.push(`scope="${c.scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`).join(' ')}"`);
  if (c.error) parts.push(`error="${c.error}"`);
  return { 'WWW-Authenticate': `Bearer ${parts.join(',')}` };
}

export function retryAfterHeader(e: BerthError): Record<string, string> {
  return e.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(e.retryAfterSeconds) };
}

export function allowHeader(e: BerthError): Record<string, string> {
  return e.allow ? { Allow: e.allow.join(', ') } : {};
}

/** Where the upload stands (Location, Range, Docker-Upload-UUID), so that the client can resume it. */
export function uploadHeaders(e: BerthError): Record<string, string> {
  return e.upload ? rangeHeaders(e.upload) : {};
}

/** RFC 9110's `Content-Range: bytes *\/size` on a 416. */
export function unsatisfiedRangeHeader(e: BerthError): Record<string, string> {
  return e.blobSize === undefined ? {} : { 'Content-Range': `bytes */${e.blobSize}` };
}
