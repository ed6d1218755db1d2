import type { TokenScope } from './access-tokens.js';
import type { ResourceScope } from './scope.js';

export type Principal =
  | { kind: 'anonymous' }
  | {
    kind: 'user'; id: number; name: string; admin: boolean;
    /** how they authenticated: local (password), token (personal access token), ldap, robot */
    source: string;
    via: 'basic' | 'token' | 'session';
    /** a bearer token's grant */
    grant?: ResourceScope[];
    /** the grant was decided before roles last changed: it bounds the decision, which is taken afresh */
    grantStale?: boolean;
    /** a personal access token's limits: repository patterns and actions */
    limit?: TokenScope[] | null;
    /** the account's credential generation when it authenticated (tokens minted now die when it moves) */
    generation?: number;
    /** the access token (personal or robot) it authenticated with */
    tokenId?: string;
  };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
