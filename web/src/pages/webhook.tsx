// One webhook endpoint: its settings and its deliveries with every attempt; redeliver, ping.
import { Fragment, useState } from 'react';
import { useParams } from 'react-router-dom';
import { api, query } from '../api';
import type { Webhook, WebhookDelivery, WebhookDeliveryPage } from '../api-types';
import { Button } from '../components/button';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Badge, Facts, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { useToast } from '../components/toast';
import { formatAgo, formatTime } from '../format';
import { useLoad } from '../hooks';
import { orgUrl } from '../links';
import { webhookBase } from './webhooks';

const STATE_TONE = { pending: 'warning', delivered: 'success', dead: 'danger' } as const;

export function WebhookPage() {
  const { org, id } = useParams() as { org?: string; id: string };
  const base = `${webhookBase(org ?? null)}/${encodeURIComponent(id)}`;
  const hook = useLoad((signal) => api.get<Webhook>(base, { signal }), [base]);
  const [before, setBefore] = useState<(string | number | undefined)[]>([undefined]);
  const cursor = before[before.length - 1];
  const deliveries = useLoad((signal) => api.get<WebhookDeliveryPage>(`${base}/deliveries${query({ n: 25, before: cursor })}`, { signal }), [base, cursor]);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState<string | null>(null);
  const toast = useToast();
  const w = hook.data;
  const ping = async () => {
    setBusy('ping');
    try {
      const r = await api.post<{ deliveryId: number }>(`${base}/ping`);
      toast.success(`Test event sent (delivery #${r.deliveryId}).`);
      setBefore([undefined]);
      window.setTimeout(deliveries.reload, 800);
    } catch (e) { toast.error(e); } finally { setBusy(null); }
  };
  const redeliver = async (d: WebhookDelivery) => {
    setBusy(`re-${d.id}`);
    try {
      await api.post(`${base}/deliveries/${d.id}/redeliver`);
      toast.success(`Delivery #${d.id} queued again.`);
      window.setTimeout(deliveries.reload, 800);
    } catch (e) { toast.error(e); } finally { setBusy(null); }
  };
  const toggle = (id: number) => setOpen((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; });
  const crumbs = org
    ? [{ label: 'Organizations', to: '/organizations' }, { label: org, to: orgUrl(org, 'webhooks') }, { label: w?.name ?? `#${id}` }]
    : [{ label: 'Webhooks', to: '/admin/webhooks' }, { label: w?.name ?? `#${id}` }];
  return (
    <>
      <PageHeader title={w ? `Webhook ${w.name}` : 'Webhook'} crumbs={crumbs}
        actions={<><Button onClick={() => void ping()} busy={busy === 'ping'}>Send test ping</Button><Button onClick={deliveries.reload}>Refresh</Button></>} />
      <ErrorBanner error={hook.error} onRetry={hook.reload} />
      {w ? (
        <Section title="Endpoint">
          <Facts items={[
            ['URL', <code className="wrap">{w.url}</code>],
            ['State', w.enabled ? <Badge tone="success">enabled</Badge> : <Badge tone="warning">disabled: deliveries are held</Badge>],
            ['Events', <span className="chips">{w.events.map((e) => <span key={e} className="chip">{e}</span>)}</span>],
            ['Format', w.format],
            ['Repositories', w.repositoryPattern ? <code>{w.repositoryPattern}</code> : 'all'],
            ['TLS verification', w.tlsVerify ? 'on' : 'off'],
            ['Created', `${formatTime(w.createdAt)} by ${w.createdBy}`],
          ]} />
        </Section>
      ) : hook.loading ? <Loading /> : null}
      <Section title="Deliveries" description="Newest first. Each delivery is retried with backoff until it is accepted or dead-lettered; its id is stable across attempts.">
        <ErrorBanner error={deliveries.error} onRetry={deliveries.reload} />
        {deliveries.loading && !deliveries.data ? <Loading /> : deliveries.data?.items.length === 0 ? (
          <EmptyState title="No deliveries yet" icon="send" action={<Button onClick={() => void ping()}>Send a test ping</Button>}>Deliveries appear when a subscribed event happens.</EmptyState>
        ) : deliveries.data ? (
          <div className="table-wrap">
            <table className="table deliveries">
              <caption className="visually-hidden">Deliveries</caption>
              <thead><tr><th scope="col">Delivery</th><th scope="col">Event</th><th scope="col">State</th><th scope="col" className="num">Attempts</th><th scope="col" className="optional">Last answer</th><th scope="col" className="optional">Created</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
              <tbody>
                {deliveries.data.items.map((d) => (
                  <Fragment key={d.id}>
                    <tr>
                      <td>
                        <button type="button" className="disclosure" aria-expanded={open.has(d.id)} aria-controls={`attempts-${d.id}`} onClick={() => toggle(d.id)}>
                          <span aria-hidden="true">{open.has(d.id) ? '▾' : '▸'}</span> #{d.id}
                        </button>
                      </td>
                      <td><code className="small">{d.eventType}</code></td>
                      <td><Badge tone={STATE_TONE[d.state]}>{d.state}</Badge></td>
                      <td className="num">{d.attempts}</td>
                      <td className="optional">{d.lastStatus ? `HTTP ${d.lastStatus}` : d.lastError ? <span className="text-danger">{d.lastError}</span> : '—'}</td>
                      <td className="optional"><span title={formatTime(d.createdAt, true)}>{formatAgo(d.createdAt)}</span></td>
                      <td className="num"><Button size="sm" onClick={() => void redeliver(d)} busy={busy === `re-${d.id}`} aria-label={`Redeliver #${d.id}`}>Redeliver</Button></td>
                    </tr>
                    {open.has(d.id) ? (
                      <tr id={`attempts-${d.id}`} className="attempts-row">
                        <td colSpan={7}>
                          <p className="small muted">Event id <code>{d.eventId}</code>{d.state === 'pending' ? ` · next attempt ${formatAgo(d.nextAttemptAt)}` : d.finishedAt ? ` · finished ${formatTime(d.finishedAt, true)}` : ''}</p>
                          {d.history.length === 0 ? <p className="muted">No attempt yet.</p> : (
                            <table className="table table-compact">
                              <caption className="visually-hidden">Attempts of delivery {d.id}</caption>
                              <thead><tr><th scope="col">Attempt</th><th scope="col">At</th><th scope="col">Status</th><th scope="col" className="num">Latency</th><th scope="col">Error or answer</th></tr></thead>
                              <tbody>
                                {d.history.map((a) => (
                                  <tr key={a.attempt}>
                                    <td>{a.attempt}</td>
                                    <td>{formatTime(a.at, true)}</td>
                                    <td>{a.status ? <Badge tone={a.status < 300 ? 'success' : 'danger'}>{a.status}</Badge> : <Badge tone="danger">no answer</Badge>}</td>
                                    <td className="num">{a.latencyMs} ms</td>
                                    <td><code className="wrap small">{a.error ?? a.response ?? ''}</code></td>
                                  </tr>
                                ))}
                              </tbody>
                            </table>
                          )}
                        </td>
                      </tr>
                    ) : null}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <nav className="pager" aria-label="Pages">
          <Button size="sm" disabled={before.length < 2} onClick={() => setBefore((b) => b.slice(0, -1))}>← Newer</Button>
          <Button size="sm" disabled={!deliveries.data?.next} onClick={() => setBefore((b) => [...b, deliveries.data!.next!])}>Older →</Button>
        </nav>
      </Section>
    </>
  );
}
