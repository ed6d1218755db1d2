// /token errors: Docker's token endpoint answers in the OCI envelope too (what registry clients parse), with
// /v2's table except where the request is about the token itself (an oversized form is SIZE_INVALID 413).
// 401s carry a challenge only when the error has one (a password login that needs an access token).
import type { BerthError } from '../../errors/berth-error.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { ociAnswer, V2_ERRORS, type OciCode, type OciEnvelope } from './v2-errors.js';
import type { Answer, SerializeContext, Wire } from './wire.js';

export const TOKEN_ERRORS: Record<ErrorCode, Wire<OciCode>> = {
  ...V2_ERRORS,
  PAYLOAD_TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
};

export const tokenError = (e: BerthError, ctx: SerializeContext): Answer<OciEnvelope> => ociAnswer(TOKEN_ERRORS, e, ctx);
