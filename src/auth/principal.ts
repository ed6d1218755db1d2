import type { ResourceScope } from './scope.js';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; name: string; admin: boolean; source: string; via: 'basic' | 'token'; grant?: ResourceScope[] };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
