// What a /v2 resource declares: the routes it answers (a kind of path.ts), what a request needs
// (one resource and action, or any authenticated caller), an optional parse step that runs before the
// method is looked at (as the spec's error order wants), and a thin handler per method.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../../audit/journal.js';
import type { Authorizer } from '../../../auth/authorizer.js';
import type { Resource } from '../../../auth/policy.js';
import type { Services } from '../../services.js';
import type { V2Route } from './path.js';

export type V2Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One (resource, action); `mountFrom`: a repository the request also reads (a cross-repository mount's
 * source), which a challenge asks for too. 'authenticated': any caller with credentials or a token.
 */
export type V2Need = { resource: Resource; action: string; mountFrom?: string | null } | 'authenticated';

export interface V2Context<R extends V2Route> {
  s: Services;
  route: R;
  query: URLSearchParams;
  req: FastifyRequest;
  reply: FastifyReply;
  /** the caller's authorizer; null with authentication off */
  az: Authorizer | null;
  /** who is asking, for the audit records of the services */
  ctx(): RequestContext;
}

export type V2Handler<R extends V2Route, P> = (c: V2Context<R>, parsed: P) => Promise<unknown>;

export interface V2Resource<R extends V2Route, P = void> {
  kind: R['kind'];
  needs(route: R, method: string, query: URLSearchParams): V2Need;
  /** runs after authorization and before the method is looked at */
  parse?(c: V2Context<R>): P;
  /** in the order the Allow header lists them */
  methods: Partial<Record<V2Method, V2Handler<R, P>>>;
}

export const v2Resource = <R extends V2Route, P = void>(r: V2Resource<R, P>): V2Resource<R, P> => r;

/** The route of one kind. */
export type RouteOf<K extends V2Route['kind']> = Extract<V2Route, { kind: K }>;

/** The repository a route names, as a policy resource. */
export const repository = (name: string): Resource => ({ type: 'repository', name });
