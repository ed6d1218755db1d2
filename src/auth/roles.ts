// The roles a user or team can hold on an organization or repository, weakest first. Defined here only:
// the policy ranks them, the API contracts validate them, and the web UI (through
// http/contracts/shared.ts) offers them. Imports nothing, so the UI's bundle can include it.
export const ROLES = ['reader', 'developer', 'maintainer', 'admin'] as const;
export type Role = (typeof ROLES)[number];
