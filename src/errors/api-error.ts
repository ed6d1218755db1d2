// The management API's one error shape: {"error":{"code","message","detail?","requestId"}}.
// Codes are stable strings clients branch on; messages are for people.

export const API_ERRORS = {
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

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;
  readonly detail?: unknown;
  readonly headers: Record<string, string>;

  constructor(readonly code: ApiErrorCode, message: string, opts: { detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = API_ERRORS[code];
    this.detail = opts.detail;
    this.headers = opts.headers ?? {};
  }

  toJSON(requestId: string): { error: { code: string; message: string; detail?: unknown; requestId: string } } {
    return { error: { code: this.code, message: this.message, ...(this.detail === undefined ? {} : { detail: this.detail }), requestId } };
  }
}
