// Organizations the caller may see; creating one.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, fieldErrors, formLevelError } from '../api';
import type { Items, Organization } from '../api-types';
import { Button } from '../components/button';
import { Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Checkbox, Input } from '../components/field';
import { Badge, PageHeader } from '../components/page';
import { Loading } from '../components/progress';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { orgUrl } from '../links';
import { useSession } from '../session';

export function OrganizationsPage() {
  const orgs = useLoad((signal) => api.get<Items<Organization>>('/organizations', { signal }), []);
  const [creating, setCreating] = useState(false);
  const { session } = useSession();
  const admin = session?.user.admin ?? false;
  const mayCreate = session?.capabilities?.createOrganizations ?? false;
  const [filter, setFilter] = useState('');
  const items = (orgs.data?.items ?? []).filter((o) => o.name.includes(filter.trim().toLowerCase()));
  return (
    <>
      <PageHeader title="Organizations" subtitle="Organizations own repositories below their name (acme/app) and give roles to users and teams."
        actions={mayCreate ? <Button variant="primary" onClick={() => setCreating(true)}>New organization</Button> : undefined} />
      <div className="toolbar" role="search">
        <Input label="Filter organizations" hideLabel type="search" placeholder="Filter by name…" value={filter} onChange={(e) => setFilter(e.target.value)} className="grow" />
      </div>
      <ErrorBanner error={orgs.error} onRetry={orgs.reload} />
      {orgs.loading && !orgs.data ? <Loading /> : orgs.data ? (
        <Table caption="Organizations" rows={items} rowKey={(o) => o.name}
          columns={[
            { key: 'name', header: 'Name', render: (o) => <Link className="strong-link" to={orgUrl(o.name)}>{o.name}</Link> },
            { key: 'vis', header: 'Visibility', render: (o) => (o.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>) },
            { key: 'role', header: 'Your role', render: (o) => o.role ?? (admin ? 'system administrator' : <span className="muted">none (public)</span>) },
            { key: 'created', header: 'Created', optional: true, render: (o) => formatTime(o.createdAt) },
          ]}
          empty={filter ? <EmptyState title={`No organization matches “${filter}”`} /> : (
            <EmptyState title="No organizations yet" icon="grid" action={mayCreate ? <Button variant="primary" onClick={() => setCreating(true)}>Create the first one</Button> : undefined}>
              Organizations group repositories and give people and teams roles on them.
            </EmptyState>
          )} />
      ) : null}
      <CreateOrganization open={creating} onClose={() => setCreating(false)} />
    </>
  );
}

function CreateOrganization({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const navigate = useNavigate();
  const toast = useToast();
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const o = await api.post<Organization>('/organizations', { name: name.trim(), public: isPublic });
      toast.success(`Organization ${o.name} created; you are its admin.`);
      onClose();
      setName('');
      navigate(orgUrl(o.name));
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="New organization" onClose={onClose} onSubmit={submit}
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Create organization</Button></>}>
      <Input label="Name" error={fieldErrors(error).name} value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9]+([._-][a-z0-9]+)*" maxLength={64}
        hint="Lower-case letters, digits and . _ - (not at the ends). Repositories are named NAME/…" autoCapitalize="none" spellCheck={false} />
      <Checkbox label="Public: anyone may pull its repositories" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} />
      <ErrorBanner error={formLevelError(error, ['name'])} />
    </Dialog>
  );
}
