// A refused change to accounts, memberships or other managed records (webhook endpoints): `kind` tells
// callers how to answer (an HTTP status in the API). Here, not in auth/, so that any service may refuse a
// change the same way without importing the accounts service.
export class AccountError extends Error {
  /** field: the request field at fault, for forms that show the message next to it */
  constructor(message: string, readonly kind: 'invalid' | 'not_found' | 'conflict' = 'invalid', readonly field?: string) { super(message); }
}
