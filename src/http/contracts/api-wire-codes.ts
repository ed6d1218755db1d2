// The management API's wire codes and their statuses: pure data, shared by the contracts (the OpenAPI
// Error schema lists them) and the API's error serializer (src/http/errors/api-errors.ts).
/** The API's wire codes and their statuses (listed in the OpenAPI document's Error schema). */
export const API_STATUS = {
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  SECOND_FACTOR_REQUIRED: 401,
  DENIED: 403,
  CSRF_FAILED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ApiWireCode = keyof typeof API_STATUS;
export const API_WIRE_CODES = Object.keys(API_STATUS) as [ApiWireCode, ...ApiWireCode[]];
