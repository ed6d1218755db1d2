// Webhook endpoints of an organization (its admins) or global ones (system administrators): create, edit,
// enable or disable, send a test ping, and open the delivery history.
import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api';
import { EVENT_FAMILIES, type CreatedWebhook, type EventFamily, type Items, type Webhook, type WebhookFormat } from '../api-types';
import { Button } from '../components/button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Checkbox, Input, Select } from '../components/field';
import { Badge, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { SecretOnce } from '../components/secret-once';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { useLoad } from '../hooks';
import { webhookUrl } from '../links';

export const webhookBase = (org: string | null) => (org ? `/organizations/${encodeURIComponent(org)}/webhooks` : '/webhooks');

export function GlobalWebhooksPage() {
  return (
    <>
      <PageHeader title="Webhooks" subtitle="Global endpoints hear about every repository. Organizations manage their own under their Webhooks tab." />
      <WebhookList org={null} />
    </>
  );
}

const FORMATS: { value: WebhookFormat; label: string }[] = [
  { value: 'distribution-v1', label: 'Distribution v1 (registry 2.x envelope; GitLab, most consumers)' },
  { value: 'distribution-v2', label: 'Distribution v2 (registry 3.x)' },
  { value: 'cloudevents', label: 'CloudEvents 1.0 (JSON)' },
];

export function WebhookList({ org }: { org: string | null }) {
  const base = webhookBase(org);
  const hooks = useLoad((signal) => api.get<Items<Webhook>>(base, { signal }), [base]);
  const [editing, setEditing] = useState<Webhook | 'new' | null>(null);
  const [secret, setSecret] = useState<CreatedWebhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const toast = useToast();
  const toggle = async (w: Webhook) => {
    setBusy(`toggle-${w.id}`);
    try {
      await api.patch(`${base}/${w.id}`, { enabled: !w.enabled });
      toast.success(`${w.name} ${w.enabled ? 'disabled: deliveries are held until it is enabled again' : 'enabled'}.`);
      hooks.reload();
    } catch (e) { toast.error(e); } finally { setBusy(null); }
  };
  const ping = async (w: Webhook) => {
    setBusy(`ping-${w.id}`);
    try {
      const r = await api.post<{ deliveryId: number; eventId: string }>(`${base}/${w.id}/ping`);
      toast.success(`Test event sent to ${w.name} (delivery #${r.deliveryId}). See its deliveries for the answer.`);
    } catch (e) { toast.error(e); } finally { setBusy(null); }
  };
  return (
    <Section title={org ? `Webhooks of ${org}` : 'Global webhooks'}
      description={org ? `Endpoints here hear only about repositories of ${org}.` : undefined}
      actions={<Button variant="primary" onClick={() => setEditing('new')}>New webhook</Button>}>
      <ErrorBanner error={hooks.error} onRetry={hooks.reload} />
      {hooks.loading && !hooks.data ? <Loading /> : (
        <Table caption="Webhook endpoints" rows={hooks.data?.items ?? []} rowKey={(w) => w.id}
          columns={[
            { key: 'name', header: 'Name', render: (w) => <Link className="strong-link" to={webhookUrl(org, w.id)}>{w.name}</Link> },
            { key: 'url', header: 'URL', optional: true, render: (w) => <code className="wrap small">{w.url}</code> },
            { key: 'events', header: 'Events', render: (w) => <span className="chips">{w.events.map((e) => <span key={e} className="chip">{e}</span>)}</span> },
            { key: 'state', header: 'State', render: (w) => (w.enabled ? <Badge tone="success">enabled</Badge> : <Badge tone="warning">disabled</Badge>) },
            {
              key: 'x', header: <span className="visually-hidden">Actions</span>, align: 'right', render: (w) => (
                <span className="actions">
                  <Button size="sm" onClick={() => void ping(w)} busy={busy === `ping-${w.id}`} aria-label={`Send test ping to ${w.name}`}>Ping</Button>
                  <Button size="sm" onClick={() => setEditing(w)} aria-label={`Edit ${w.name}`}>Edit</Button>
                  <Button size="sm" onClick={() => void toggle(w)} busy={busy === `toggle-${w.id}`} aria-label={`${w.enabled ? 'Disable' : 'Enable'} ${w.name}`}>{w.enabled ? 'Disable' : 'Enable'}</Button>
                  <Button size="sm" variant="ghost" onClick={() => setDeleting(w)} aria-label={`Delete ${w.name}`}>Delete</Button>
                </span>
              ),
            },
          ]}
          empty={<EmptyState title="No webhooks yet" icon="send" action={<Button variant="primary" onClick={() => setEditing('new')}>Add a webhook</Button>}>
            Berth posts signed events (pushes, deletes, pulls, failed logins…) to an HTTP endpoint, in order and at least once.
          </EmptyState>} />
      )}
      <WebhookForm base={base} org={org} editing={editing} onClose={() => setEditing(null)}
        onSaved={(created) => { hooks.reload(); if (created) setSecret(created); }} />
      <Dialog open={secret !== null} title={`Webhook ${secret?.webhook.name ?? ''} added`} onClose={() => setSecret(null)}
        footer={<Button variant="primary" onClick={() => setSecret(null)}>I have copied the secret</Button>}>
        {secret ? <SecretOnce secret={secret.secret} what="signing secret">
          <p className="small">Receivers check <code>Berth-Webhook-Signature</code>: HMAC-SHA256 with this secret over <code>id.timestamp.body</code>.</p>
        </SecretOnce> : null}
      </Dialog>
      <ConfirmDialog open={deleting !== null} title="Delete webhook" confirmLabel="Delete webhook" danger onClose={() => setDeleting(null)}
        onConfirm={async () => { await api.del(`${base}/${deleting!.id}`); toast.success(`Webhook ${deleting!.name} deleted.`); hooks.reload(); }}>
        Delete <strong>{deleting?.name}</strong> and its delivery history? Pending deliveries are dropped.
      </ConfirmDialog>
    </Section>
  );
}

interface HeaderRow { name: string; value: string }

function WebhookForm({ base, org, editing, onClose, onSaved }: { base: string; org: string | null; editing: Webhook | 'new' | null; onClose: () => void; onSaved: (created?: CreatedWebhook) => void }) {
  const existing = editing && editing !== 'new' ? editing : null;
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [format, setFormat] = useState<WebhookFormat>('distribution-v1');
  const [events, setEvents] = useState<EventFamily[]>(['push']);
  const [pattern, setPattern] = useState('');
  const [tlsVerify, setTlsVerify] = useState(true);
  const [enabled, setEnabled] = useState(true);
  const [replaceHeaders, setReplaceHeaders] = useState(false);
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!editing) return;
    setError(null);
    setName(existing?.name ?? '');
    setUrl(existing?.url ?? '');
    setFormat(existing?.format ?? 'distribution-v1');
    setEvents(existing?.events ?? ['push']);
    setPattern(existing?.repositoryPattern ?? '');
    setTlsVerify(existing?.tlsVerify ?? true);
    setEnabled(existing?.enabled ?? true);
    setReplaceHeaders(!existing);
    setHeaders([]);
    setSecret('');
  }, [editing, existing]);
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setError(null);
    if (!events.length) { setError(new Error('Choose at least one kind of event.')); return; }
    const body: Record<string, unknown> = {
      name: name.trim(), format, events, tlsVerify, enabled,
      repositoryPattern: pattern.trim() || null,
    };
    // A masked URL (shown after creation) is sent back only when it was changed.
    if (!existing || url !== existing.url) body.url = url.trim();
    if (replaceHeaders) body.headers = Object.fromEntries(headers.filter((h) => h.name.trim()).map((h) => [h.name.trim(), h.value]));
    if (secret) body.secret = secret;
    setBusy(true);
    try {
      if (existing) {
        await api.patch(`${base}/${existing.id}`, body);
        onSaved();
      } else {
        onSaved(await api.post<CreatedWebhook>(base, body));
      }
      onClose();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const toggleEvent = (e: EventFamily, on: boolean) => setEvents((cur) => (on ? EVENT_FAMILIES.map((f) => f.value).filter((v) => v === e || cur.includes(v)) : cur.filter((x) => x !== e)));
  return (
    <Dialog open={editing !== null} title={existing ? `Edit webhook ${existing.name}` : 'New webhook'} onClose={onClose} onSubmit={submit} wide
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>{existing ? 'Save changes' : 'Add webhook'}</Button></>}>
      <div className="form-grid">
        <Input label="Name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        <Input label="Payload URL" type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder="https://ci.example.com/hooks/berth"
          hint={existing ? 'Shown masked; leave it as it is to keep the current URL.' : 'Loopback and link-local addresses are refused unless the server allows them.'} />
        <Select label="Payload format" value={format} onChange={(e) => setFormat(e.target.value as WebhookFormat)} options={FORMATS} />
        <Input label="Repository pattern (optional)" value={pattern} onChange={(e) => setPattern(e.target.value)} placeholder={org ? `${org}/app-*` : 'acme/**'} hint="Only repositories matching it; * within a path component, ** across." spellCheck={false} />
      </div>
      <fieldset className="checks">
        <legend>Events</legend>
        {EVENT_FAMILIES.map((f) => <Checkbox key={f.value} label={f.label} checked={events.includes(f.value)} onChange={(e) => toggleEvent(f.value, e.target.checked)} />)}
      </fieldset>
      <div className="checks-row">
        <Checkbox label="Verify the receiver's TLS certificate" checked={tlsVerify} onChange={(e) => setTlsVerify(e.target.checked)} />
        <Checkbox label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} hint="A disabled endpoint holds its deliveries." />
      </div>
      <fieldset className="headers-editor">
        <legend>Custom headers</legend>
        {existing && !replaceHeaders ? (
          <p className="small">{existing.headerNames.length ? <>Sent now: {existing.headerNames.map((h) => <code key={h}>{h} </code>)} (values are stored encrypted and not shown).</> : 'None.'}{' '}
            <Button size="sm" onClick={() => setReplaceHeaders(true)}>Replace headers</Button></p>
        ) : (
          <>
            {headers.map((h, i) => (
              <div key={i} className="scope-row">
                <Input label={`Header ${i + 1} name`} value={h.name} onChange={(e) => setHeaders(headers.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} placeholder="Authorization" />
                <Input label={`Header ${i + 1} value`} className="grow" value={h.value} onChange={(e) => setHeaders(headers.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
                <Button size="sm" variant="ghost" onClick={() => setHeaders(headers.filter((_, j) => j !== i))} aria-label={`Remove header ${i + 1}`}>Remove</Button>
              </div>
            ))}
            <Button size="sm" onClick={() => setHeaders([...headers, { name: '', value: '' }])}>Add a header</Button>
          </>
        )}
      </fieldset>
      <Input label={existing ? 'New signing secret (optional)' : 'Signing secret (optional)'} type="password" autoComplete="new-password" value={secret} minLength={16} maxLength={256}
        onChange={(e) => setSecret(e.target.value)} hint={existing ? 'Leave empty to keep the current secret.' : 'Leave empty and Berth generates one (shown once).'} />
      <ErrorBanner error={error} />
    </Dialog>
  );
}
