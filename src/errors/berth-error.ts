// A domain error: a catalogue code, a message for people, an optional detail for clients, and the
// facts a surface needs to answer it (how long to wait, where to get a token, which methods exist).
// Never an HTTP status or header: src/http/errors/ decides those per surface.
import { ERROR_CATALOGUE, type ErrorCode } from './catalogue.js';

/** A scope a client should ask a token for: `repository:acme/app:pull,push`. */
export interface ChallengeScope { type: string; name: string; actions: string[] }

/** Where and how to authenticate, for the 401s of the token protocol (spec/auth/token.md). */
export interface Challenge {
  /** the token endpoint's URL */
  realm: string;
  service: string;
  scopes: ChallengeScope[];
  /** the RFC 6750 error: invalid_token, insufficient_scope */
  error?: string;
}

export interface ErrorFacts {
  /** the caller may try again after this many seconds */
  retryAfterSeconds?: number;
  /** how to authenticate; absent where the surface does not challenge */
  challenge?: Challenge;
  /** the methods the endpoint does take */
  allow?: string[];
  /** the upload session as it stands, so the client can resume it */
  upload?: { name: string; id: string; size: number };
  /** the size of the blob a range was asked of */
  blobSize?: number;
  /** the request field at fault, for forms that show the message next to it */
  field?: string;
}

export interface BerthErrorOptions extends ErrorFacts {
  message?: string;
  detail?: unknown;
  cause?: unknown;
}

export class BerthError extends Error implements ErrorFacts {
  readonly code: ErrorCode;
  readonly detail?: unknown;
  readonly retryAfterSeconds?: number;
  readonly challenge?: Challenge;
  readonly allow?: string[];
  readonly upload?: { name: string; id: string; size: number };
  readonly blobSize?: number;
  readonly field?: string;

  constructor(code: ErrorCode, opts: BerthErrorOptions = {}) {
    super(opts.message ?? ERROR_CATALOGUE[code].message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BerthError';
    this.code = code;
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.retryAfterSeconds !== undefined) this.retryAfterSeconds = opts.retryAfterSeconds;
    if (opts.challenge !== undefined) this.challenge = opts.challenge;
    if (opts.allow !== undefined) this.allow = opts.allow;
    if (opts.upload !== undefined) this.upload = opts.upload;
    if (opts.blobSize !== undefined) this.blobSize = opts.blobSize;
    if (opts.field !== undefined) this.field = opts.field;
  }
}

/** A BerthError, of one of `codes` when any are given. */
export function isBerthError(e: unknown, ...codes: ErrorCode[]): e is BerthError {
  return e instanceof BerthError && (codes.length === 0 || codes.includes(e.code));
}
