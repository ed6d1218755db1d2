// Who did something, from where, in which request: what audit records and events both carry. Here, in a
// module that imports nothing, so that audit/ and events/ can share it without depending on each other.

/** Who did it, from where, in which request. */
export interface RequestContext {
  actor: string;
  /** local, ldap, token, robot, anonymous, cli, system, directory */
  actorSource: string;
  address: string;
  userAgent: string;
  requestId: string;
  host?: string;
  method?: string;
}

/** Berth itself (start-up work, background jobs). */
export const SYSTEM_CONTEXT: RequestContext = { actor: 'berth', actorSource: 'system', address: '', userAgent: '', requestId: '' };
