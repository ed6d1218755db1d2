// The one authorization decision for every /v2 route (from what its resource declares it needs), the
// claim of an unowned namespace on push, and the second decision on a manifest pull once its digest is known.
import type { FastifyRequest } from 'fastify';
import type { Authorizer } from '../../../auth/authorizer.js';
import { grantNames } from '../../../auth/policy.js';
import { ANONYMOUS } from '../../../auth/principal.js';
import { BerthError, isBerthError } from '../../../errors/berth-error.js';
import { namespaceOf } from '../../../oci/reference.js';
import type { Reference } from '../../../registry/manifest-service.js';
import { challenge, identify } from '../../authenticate.js';
import { requestContext } from '../../request-context.js';
import type { Services } from '../../services.js';
import type { V2Route } from './path.js';
import type { V2Context, V2Need } from './route.js';

/** The caller for a request that needs `need`, or a 401/403 thrown. */
export async function authorize(s: Services, need: V2Need, req: FastifyRequest): Promise<Authorizer> {
  const p = await identify(req, s);
  const az = s.auth.authorizer(p);
  if (need === 'authenticated') {
    // A valid token (even an anonymous one) or an account; nobody at all gets the challenge.
    if (p.kind === 'anonymous' && !/^bearer\s/i.test(req.headers.authorization ?? '')) throw challenge(req, s);
    return az;
  }
  const scope = { type: need.resource.type, name: need.resource.name, actions: need.action === 'push' ? ['pull', 'push'] : [need.action] };
  // A mount reads its source: the challenge asks for both, so that a client following it can mount.
  const from = need.mountFrom ?? null;
  const scopes = from ? [scope, { type: 'repository', name: from, actions: ['pull'] }] : [scope];
  if (await az.allows(need.resource, need.action)) {
    if (need.action === 'push' && need.resource.type === 'repository') await ensureOwned(s, az, need.resource.name, req);
    // A token that never asked for the mount's source is told to; one that asked and was refused pull there uploads instead.
    if (from && p.kind === 'user' && p.via === 'token' && !grantNames(p, { type: 'repository', name: from })) {
      throw challenge(req, s, scopes, 'insufficient_scope', 'a cross-repository mount needs pull access to its source');
    }
    return az;
  }
  const unowned = need.resource.type === 'repository' && (await az.context(need.resource.name)).namespace === 'none';
  const message = unowned
    ? `the namespace ${namespaceOf(need.resource.name)} has no owner: a system administrator must create the organization ${namespaceOf(need.resource.name)} first`
    : 'access to the resource requires (more) authorization';
  // Anonymous callers are challenged as part of the normal flow; an account being refused is on record.
  if (p.kind === 'user') {
    await s.journal.record(requestContext(req, p), [{ action: 'access.denied', resource: `${need.resource.type}:${need.resource.name}`, outcome: 'denied', detail: { action: need.action, via: p.via, ...(unowned ? { reason: 'namespace has no owner' } : {}) } }]);
  }
  if (p.kind === 'anonymous' || (p.kind === 'user' && p.via === 'token')) {
    throw challenge(req, s, scopes, p.kind === 'anonymous' ? undefined : 'insufficient_scope', message);
  }
  throw new BerthError('DENIED', { message: unowned ? message : undefined, detail: [{ Type: need.resource.type, Name: need.resource.name, Action: need.action }] });
}

/**
 * A push may go only into a namespace somebody owns. Into one nobody owns, the policy allows it only to a
 * pusher who may claim it (auth.pushCreatesOrganization), asked on the roles and settings of now (not on a
 * token's grant, which may predate the namespace losing its owner): the organization is created now, owned
 * by the pusher. Whoever wins a race to create it, the push is decided again against the namespace as it now is.
 */
async function ensureOwned(s: Services, az: Authorizer, name: string, req: FastifyRequest): Promise<void> {
  if ((await az.context(name)).namespace !== 'none') return;
  const p = az.principal;
  const ns = namespaceOf(name);
  if (p.kind === 'user' && (await az.can({ type: 'repository', name }, 'push'))) {
    try {
      await s.organizations.create(ns, { owner: p.name }, { ...requestContext(req, p) });
    } catch (e) {
      if (!isBerthError(e, 'INPUT_INVALID', 'NOT_FOUND', 'CONFLICT')) throw e;
    }
  }
  if (!(await s.auth.authorizer(p).can({ type: 'repository', name }, 'push'))) {
    throw new BerthError('DENIED', { message: `the namespace ${ns} has no owner that lets you push`, detail: [{ Type: 'repository', Name: name, Action: 'push' }] });
  }
}

/**
 * A manifest GET that a pull rule refuses: 403 DENIED naming the rule's reason (and its details, such as the
 * blocking vulnerability ids), and a denied manifest.pull on record with the reason. HEAD is never refused:
 * it hands out no content, and signers and scanners need it. With authentication off the rules still hold
 * (for anonymous).
 */
export async function decideManifestPull(c: V2Context<Extract<V2Route, { kind: 'manifest' }>>, ref: Reference, digest: string): Promise<void> {
  const { s, az, route, req } = c;
  const d = await (az ?? s.auth.authorizer(ANONYMOUS)).pullManifest(route.name, digest);
  if (d.allow) return;
  await s.manifests.recordPullRefused(requestContext(req, az?.principal ?? null), route.name, ref, digest, d);
  throw new BerthError('DENIED', { message: `pull of ${digest} refused: ${d.reason}`, detail: { name: route.name, digest, rule: d.rule, reason: d.reason, ...d.detail } });
}
