// /api/v1 webhooks: an organization's (its admins) and global ones (system administrators), with test
// pings, delivery history and redelivery.
import type { Resource } from '../../../auth/policy.js';
import { BerthError } from '../../../errors/berth-error.js';
import * as C from '../../contracts/api.js';
import { route, type ApiRoute, type Needs } from './framework.js';

function idOf(v: string, what: string): number {
  if (!/^\d{1,15}$/.test(v)) throw new BerthError('NOT_FOUND', { message: `no ${what} ${v.slice(0, 40)}` });
  return Number(v);
}

/** The same routes twice: below /organizations/:org (org admins) and below / (system administrators). */
function scoped(prefix: string, tag: string, needs: Needs, orgOf: (p: Record<string, string>) => string | null): ApiRoute<any, any>[] {
  return [
    route({
      method: 'GET', path: `${prefix}/webhooks`, tag, summary: 'Webhook endpoints', response: C.Items(C.Webhook), needs,
      async handle(c) { return { items: await c.s.webhooks.list(orgOf(c.params)) }; },
    }),
    route({
      method: 'POST', path: `${prefix}/webhooks`, tag, summary: 'Add a webhook endpoint; its signing secret is in this response only',
      body: C.WebhookCreate, response: C.CreatedWebhook, status: 201, needs,
      async handle(c) {
        const { endpoint, secret } = await c.s.webhooks.create(orgOf(c.params), c.body, c.ctx);
        return { webhook: endpoint, secret };
      },
    }),
    route({
      method: 'GET', path: `${prefix}/webhooks/:id`, tag, summary: 'One webhook endpoint', response: C.Webhook, needs,
      async handle(c) { return c.s.webhooks.get(orgOf(c.params), idOf(c.params.id, 'webhook'), true); },
    }),
    route({
      method: 'PATCH', path: `${prefix}/webhooks/:id`, tag, summary: 'Change a webhook endpoint (events, URL, format, headers, secret, enabled)',
      body: C.WebhookUpdate, response: C.Webhook, needs,
      async handle(c) { return c.s.webhooks.update(orgOf(c.params), idOf(c.params.id, 'webhook'), c.body, c.ctx); },
    }),
    route({
      method: 'DELETE', path: `${prefix}/webhooks/:id`, tag, summary: 'Remove a webhook endpoint and its delivery history', needs,
      async handle(c) { await c.s.webhooks.remove(orgOf(c.params), idOf(c.params.id, 'webhook'), c.ctx); },
    }),
    route({
      method: 'POST', path: `${prefix}/webhooks/:id/ping`, tag, summary: 'Send a test event (webhook.ping) to this endpoint', response: C.PingResult, status: 202, needs,
      async handle(c) { return c.s.webhooks.ping(orgOf(c.params), idOf(c.params.id, 'webhook'), c.ctx); },
    }),
    route({
      method: 'GET', path: `${prefix}/webhooks/:id/deliveries`, tag, summary: 'Deliveries, newest first, with every attempt (status, latency, error)',
      query: C.DeliveryQuery, response: C.Page(C.WebhookDelivery), needs,
      async handle(c) { return c.s.webhooks.deliveries(orgOf(c.params), idOf(c.params.id, 'webhook'), c.query.n ?? 50, c.query.before); },
    }),
    route({
      method: 'POST', path: `${prefix}/webhooks/:id/deliveries/:delivery/redeliver`, tag, summary: 'Send a delivery again (also a dead-lettered one)', status: 202, needs,
      async handle(c) {
        await c.s.webhooks.redeliver(orgOf(c.params), idOf(c.params.id, 'webhook'), idOf(c.params.delivery, 'delivery'), c.ctx);
      },
    }),
  ];
}

export const webhookRoutes: ApiRoute<any, any>[] = [
  ...scoped('/organizations/:org', 'webhooks', (p) => ({ resource: { type: 'organization', name: p.org } as Resource, action: 'admin' }), (p) => p.org),
  ...scoped('', 'webhooks', () => ({ resource: { type: 'system', name: 'webhooks' } as Resource, action: 'admin' }), () => null),
];
