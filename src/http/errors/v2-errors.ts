// /v2 errors: the OCI envelope {"errors":[{"code","message","detail"}]} with the codes of the distribution
// spec (and Distribution's TAG_INVALID, UNAVAILABLE, UNKNOWN), from every catalogue code.
import type { BerthError } from '../../errors/berth-error.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { allowHeader, challengeHeader, retryAfterHeader, unsatisfiedRangeHeader, uploadHeaders, type Answer, type SerializeContext, type Wire } from './wire.js';

export const OCI_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'TAG_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED',
  'TOOMANYREQUESTS', 'UNAVAILABLE', 'UNKNOWN',
] as const;
export type OciCode = typeof OCI_CODES[number];

export interface OciEnvelope { errors: { code: OciCode; message: string; detail?: unknown }[] }

/** Codes the spec's closed list has no word for are UNSUPPORTED with the status that fits. */
export const V2_ERRORS: Record<ErrorCode, Wire<OciCode>> = {
  BLOB_UNKNOWN: { status: 404, code: 'BLOB_UNKNOWN' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
  BLOB_IN_USE: { status: 405, code: 'UNSUPPORTED' },
  BLOB_COLLECTED: { status: 503, code: 'UNAVAILABLE' },
  BLOB_UNREADABLE: { status: 500, code: 'UNKNOWN' },
  DIGEST_INVALID: { status: 400, code: 'DIGEST_INVALID' },
  SIZE_INVALID: { status: 400, code: 'SIZE_INVALID' },
  // The spec has no RANGE_INVALID code: a chunk or range that does not fit is a BLOB_UPLOAD_INVALID.
  RANGE_INVALID: { status: 416, code: 'BLOB_UPLOAD_INVALID', headers: uploadHeaders },
  CONTENT_RANGE_INVALID: { status: 400, code: 'BLOB_UPLOAD_INVALID' },
  RANGE_NOT_SATISFIABLE: { status: 416, code: 'BLOB_UPLOAD_INVALID', headers: unsatisfiedRangeHeader },
  MANIFEST_BLOB_UNKNOWN: { status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
  MANIFEST_INVALID: { status: 400, code: 'MANIFEST_INVALID' },
  MANIFEST_TOO_LARGE: { status: 413, code: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, code: 'MANIFEST_UNKNOWN' },
  NAME_INVALID: { status: 400, code: 'NAME_INVALID' },
  NAME_UNKNOWN: { status: 404, code: 'NAME_UNKNOWN' },
  TAG_INVALID: { status: 400, code: 'TAG_INVALID' },
  TOO_MANY_TAGS: { status: 414, code: 'UNSUPPORTED' },
  DELETION_DISABLED: { status: 405, code: 'UNSUPPORTED' },

  ENDPOINT_NOT_FOUND: { status: 404, code: 'UNSUPPORTED' },
  METHOD_NOT_ALLOWED: { status: 405, code: 'UNSUPPORTED', headers: allowHeader },
  INPUT_INVALID: { status: 400, code: 'UNSUPPORTED' },
  REQUEST_MALFORMED: { status: 400, code: 'UNSUPPORTED' },
  PAYLOAD_TOO_LARGE: { status: 413, code: 'UNSUPPORTED' },
  URI_TOO_LONG: { status: 414, code: 'UNSUPPORTED' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED' },
  REQUEST_ABORTED: { status: 400, code: 'UNKNOWN' },
  SERVICE_UNKNOWN: { status: 400, code: 'DENIED' },

  AUTHENTICATION_REQUIRED: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  CREDENTIALS_INVALID: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  AUTH_SCHEME_UNSUPPORTED: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  TOKEN_INVALID: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  ACCESS_TOKEN_REQUIRED: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  SECOND_FACTOR_REQUIRED: { status: 401, code: 'UNAUTHORIZED', headers: challengeHeader },
  SECOND_FACTOR_NOT_STARTED: { status: 409, code: 'UNSUPPORTED' },
  LOGIN_LOCKED: { status: 429, code: 'TOOMANYREQUESTS', headers: retryAfterHeader, detail: (e) => ({ retryAfter: e.retryAfterSeconds }) },
  CSRF_FAILED: { status: 403, code: 'DENIED' },
  DENIED: { status: 403, code: 'DENIED' },
  DATABASE_UNAVAILABLE: { status: 503, code: 'UNAVAILABLE', headers: retryAfterHeader },
  STORAGE_FULL: { status: 503, code: 'UNAVAILABLE', headers: retryAfterHeader },
  STORAGE_UNAVAILABLE: { status: 503, code: 'UNAVAILABLE', headers: retryAfterHeader },
  AUDIT_UNAVAILABLE: { status: 503, code: 'UNAVAILABLE', headers: retryAfterHeader },
  DIRECTORY_UNAVAILABLE: { status: 503, code: 'UNAVAILABLE', headers: retryAfterHeader },

  NOT_FOUND: { status: 404, code: 'UNSUPPORTED' },
  SCAN_PENDING: { status: 404, code: 'UNSUPPORTED' },
  CONFLICT: { status: 409, code: 'UNSUPPORTED' },

  INTERNAL: { status: 500, code: 'UNKNOWN', detail: (_e, ctx) => ({ requestId: ctx.requestId }) },
};

/** Headers every /v2 answer carries, errors included. */
export const V2_HEADERS = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/** An error in the OCI envelope, with the wire table of a surface that speaks it (/v2, /token). */
export function ociAnswer(table: Record<ErrorCode, Wire<OciCode>>, e: BerthError, ctx: SerializeContext): Answer<OciEnvelope> {
  const w = table[e.code];
  const detail = e.detail !== undefined ? e.detail : w.detail?.(e, ctx);
  return {
    status: w.status,
    headers: { ...(w.headers?.(e) ?? {}), ...V2_HEADERS },
    body: { errors: [{ code: w.code, message: e.message, ...(detail === undefined ? {} : { detail }) }] },
  };
}

export const v2Error = (e: BerthError, ctx: SerializeContext): Answer<OciEnvelope> => ociAnswer(V2_ERRORS, e, ctx);
