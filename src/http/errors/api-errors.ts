// /api/v1 errors: {"error":{"code","message","detail?","requestId"}}. The management API has its own small
// set of wire codes, each with one status, that clients branch on; every catalogue code maps to one of them.
import type { BerthError } from '../../errors/berth-error.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { allowHeader, retryAfterHeader, type Answer, type SerializeContext, type Wire } from './wire.js';

export { API_STATUS, API_WIRE_CODES, type ApiWireCode } from '../contracts/api-wire-codes.js';
import { API_STATUS, type ApiWireCode } from '../contracts/api-wire-codes.js';

export interface ApiEnvelope { error: { code: ApiWireCode; message: string; detail?: unknown; requestId: string } }

const w = (code: ApiWireCode, more: Omit<Wire<ApiWireCode>, 'status' | 'code'> = {}): Wire<ApiWireCode> => ({ status: API_STATUS[code], code, ...more });

export const API_ERRORS: Record<ErrorCode, Wire<ApiWireCode>> = {
  BLOB_UNKNOWN: w('NOT_FOUND'),
  BLOB_UPLOAD_UNKNOWN: w('NOT_FOUND'),
  BLOB_IN_USE: w('CONFLICT'),
  BLOB_COLLECTED: w('UNAVAILABLE'),
  BLOB_UNREADABLE: w('INTERNAL'),
  DIGEST_INVALID: w('INVALID_REQUEST'),
  SIZE_INVALID: w('INVALID_REQUEST'),
  RANGE_INVALID: w('INVALID_REQUEST'),
  CONTENT_RANGE_INVALID: w('INVALID_REQUEST'),
  RANGE_NOT_SATISFIABLE: w('INVALID_REQUEST'),
  MANIFEST_BLOB_UNKNOWN: w('INVALID_REQUEST'),
  MANIFEST_INVALID: w('INVALID_REQUEST'),
  MANIFEST_TOO_LARGE: w('PAYLOAD_TOO_LARGE'),
  MANIFEST_UNKNOWN: w('NOT_FOUND'),
  NAME_INVALID: w('INVALID_REQUEST'),
  NAME_UNKNOWN: w('NOT_FOUND'),
  TAG_INVALID: w('INVALID_REQUEST'),
  TOO_MANY_TAGS: w('INVALID_REQUEST'),
  DELETION_DISABLED: w('CONFLICT'),

  ENDPOINT_NOT_FOUND: w('NOT_FOUND'),
  METHOD_NOT_ALLOWED: w('METHOD_NOT_ALLOWED', { headers: allowHeader }),
  INPUT_INVALID: w('INVALID_REQUEST'),
  REQUEST_MALFORMED: w('INVALID_REQUEST'),
  PAYLOAD_TOO_LARGE: w('PAYLOAD_TOO_LARGE'),
  URI_TOO_LONG: w('INVALID_REQUEST'),
  UNSUPPORTED_MEDIA_TYPE: w('UNSUPPORTED_MEDIA_TYPE'),
  REQUEST_ABORTED: w('INVALID_REQUEST'),
  SERVICE_UNKNOWN: w('INVALID_REQUEST'),

  AUTHENTICATION_REQUIRED: w('UNAUTHORIZED'),
  CREDENTIALS_INVALID: w('UNAUTHORIZED'),
  AUTH_SCHEME_UNSUPPORTED: w('UNAUTHORIZED'),
  TOKEN_INVALID: w('UNAUTHORIZED'),
  ACCESS_TOKEN_REQUIRED: w('UNAUTHORIZED'),
  SECOND_FACTOR_REQUIRED: w('SECOND_FACTOR_REQUIRED'),
  SECOND_FACTOR_NOT_STARTED: w('CONFLICT'),
  LOGIN_LOCKED: w('TOO_MANY_REQUESTS', { headers: retryAfterHeader }),
  CSRF_FAILED: w('CSRF_FAILED'),
  DENIED: w('DENIED'),
  DATABASE_UNAVAILABLE: w('UNAVAILABLE', { headers: retryAfterHeader }),
  STORAGE_FULL: w('UNAVAILABLE', { headers: retryAfterHeader }),
  STORAGE_UNAVAILABLE: w('UNAVAILABLE', { headers: retryAfterHeader }),
  AUDIT_UNAVAILABLE: w('UNAVAILABLE', { headers: retryAfterHeader }),
  DIRECTORY_UNAVAILABLE: w('UNAVAILABLE', { headers: retryAfterHeader }),

  NOT_FOUND: w('NOT_FOUND'),
  SCAN_PENDING: w('NOT_FOUND'),
  CONFLICT: w('CONFLICT'),

  INTERNAL: w('INTERNAL'),
};

/**
 * An error in the API's shape. An error that names the request field at fault carries the detail a body
 * failing its schema has: [{ path, message }].
 */
export function apiError(e: BerthError, ctx: SerializeContext): Answer<ApiEnvelope> {
  const wire = API_ERRORS[e.code];
  const detail = e.detail !== undefined ? e.detail
    : e.field !== undefined ? [{ path: e.field, message: e.message }]
    : wire.detail?.(e, ctx);
  return {
    status: wire.status,
    headers: wire.headers?.(e) ?? {},
    body: { error: { code: wire.code, message: e.message, ...(detail === undefined ? {} : { detail }), requestId: ctx.requestId } },
  };
}
