// A refused bearer or refresh token (TOKEN_INVALID), with the reason the surfaces quote.
import { BerthError } from './berth-error.js';

export class TokenError extends BerthError {
  constructor(readonly reason: string) {
    super('TOKEN_INVALID', { message: `invalid token: ${reason}` });
    this.name = 'TokenError';
  }
}
