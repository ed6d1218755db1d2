// An organization's robot accounts: create with scopes (the secret is shown once), regenerate, delete.
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import type { Items, Robot, RobotSecret, Scope } from '../api-types';
import { Button } from '../components/button';
import { CopyField } from '../components/copy-button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input } from '../components/field';
import { Badge, Section } from '../components/page';
import { Loading } from '../components/progress';
import { SecretOnce } from '../components/secret-once';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { formatAgo, formatTime } from '../format';
import { useLoad } from '../hooks';
import { ScopeList, ScopesEditor } from './scopes-editor';

export function RobotList({ org }: { org: string }) {
  const base = `/organizations/${encodeURIComponent(org)}/robots`;
  const robots = useLoad((signal) => api.get<Items<Robot>>(base, { signal }), [base]);
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<RobotSecret | null>(null);
  const [regenerating, setRegenerating] = useState<Robot | null>(null);
  const [deleting, setDeleting] = useState<Robot | null>(null);
  const toast = useToast();
  const short = (r: Robot) => r.name.slice(org.length + 1);
  return (
    <Section title="Robot accounts" description={<>Robots log in as <code>{org}+NAME</code> with their secret (CI systems, deploy jobs) and may do only what their scopes list, inside {org}.</>}
      actions={<Button variant="primary" onClick={() => setCreating(true)}>New robot account</Button>}>
      <ErrorBanner error={robots.error} onRetry={robots.reload} />
      {robots.loading && !robots.data ? <Loading /> : (
        <Table caption={`Robot accounts of ${org}`} rows={robots.data?.items ?? []} rowKey={(r) => r.name}
          columns={[
            { key: 'name', header: 'Log in as', render: (r) => <code className="strong">{r.name}</code> },
            { key: 'scopes', header: 'Scopes', render: (r) => <ScopeList scopes={r.scopes} /> },
            { key: 'state', header: 'State', render: (r) => (r.disabled ? <Badge tone="danger">disabled</Badge> : r.expiresAt && r.expiresAt < Date.now() ? <Badge tone="warning">expired</Badge> : <Badge tone="success">active</Badge>) },
            { key: 'expires', header: 'Expires', optional: true, render: (r) => (r.expiresAt ? <span title={formatTime(r.expiresAt)}>{formatAgo(r.expiresAt)}</span> : 'never') },
            { key: 'used', header: 'Last used', optional: true, render: (r) => <span title={formatTime(r.lastUsedAt)}>{formatAgo(r.lastUsedAt)}</span> },
            {
              key: 'x', header: <span className="visually-hidden">Actions</span>, align: 'right', render: (r) => (
                <span className="actions">
                  <Button size="sm" onClick={() => setRegenerating(r)}>New secret</Button>
                  <Button size="sm" variant="ghost" onClick={() => setDeleting(r)}>Delete</Button>
                </span>
              ),
            },
          ]}
          empty={<EmptyState title="No robot accounts" icon="robot" action={<Button variant="primary" onClick={() => setCreating(true)}>Create a robot account</Button>}>Give CI pipelines their own credentials instead of a person's.</EmptyState>} />
      )}
      <CreateRobot org={org} open={creating} onClose={() => setCreating(false)} onCreated={(s) => { setShown(s); robots.reload(); }} />
      <Dialog open={shown !== null} title={`Robot ${shown?.robot.name ?? ''}`} onClose={() => setShown(null)}
        footer={<Button variant="primary" onClick={() => setShown(null)}>I have copied the secret</Button>}>
        {shown ? (
          <SecretOnce secret={shown.secret} what="robot secret">
            <p>Log in with the user name below and this secret as the password:</p>
            <CopyField value={shown.robot.name} what="robot user name" />
            <CopyField value={`docker login -u '${shown.robot.name}' ${window.location.host}`} what="docker login command" />
          </SecretOnce>
        ) : null}
      </Dialog>
      <ConfirmDialog open={regenerating !== null} title="Replace the robot's secret" confirmLabel="Replace secret" onClose={() => setRegenerating(null)}
        onConfirm={async () => {
          const s = await api.post<RobotSecret>(`${base}/${encodeURIComponent(short(regenerating!))}/secret`);
          setShown(s);
          robots.reload();
        }}>
        The current secret of <strong>{regenerating?.name}</strong> stops working at once; whatever uses it must be given the new one.
      </ConfirmDialog>
      <ConfirmDialog open={deleting !== null} title="Delete robot account" confirmLabel="Delete robot" danger onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api.del(`${base}/${encodeURIComponent(short(deleting!))}`);
          toast.success(`Robot ${deleting!.name} deleted.`);
          robots.reload();
        }}>
        Delete <strong>{deleting?.name}</strong>? Its secret stops working at once.
      </ConfirmDialog>
    </Section>
  );
}

function CreateRobot({ org, open, onClose, onCreated }: { org: string; open: boolean; onClose: () => void; onCreated: (s: RobotSecret) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>([{ pattern: `${org}/*`, actions: ['pull'] }]);
  const [days, setDays] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api.post<RobotSecret>(`/organizations/${encodeURIComponent(org)}/robots`, {
        name: name.trim(), scopes: scopes.map((x) => ({ pattern: x.pattern.trim(), actions: x.actions })), ...(days ? { expiresInDays: Number(days) } : {}),
      });
      setName('');
      setScopes([{ pattern: `${org}/*`, actions: ['pull'] }]);
      setDays('');
      onClose();
      onCreated(s);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="New robot account" onClose={onClose} onSubmit={submit} wide
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Create robot</Button></>}>
      <Input label="Name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} hint={<>Logs in as <code>{org}+{name || 'NAME'}</code></>} autoCapitalize="none" spellCheck={false} />
      <ScopesEditor scopes={scopes} onChange={setScopes} placeholder={`${org}/app-*`} />
      <Input label="Expires after (days, optional)" type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} hint="Leave empty for a robot that does not expire." />
      <ErrorBanner error={error} />
    </Dialog>
  );
}
