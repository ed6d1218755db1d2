// One organization: its repositories, members and roles, teams, robot accounts, webhooks and settings.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { api, ApiError, query } from '../api';
import type { Items, Organization, Page, RepositorySummary, Team } from '../api-types';
import { Button } from '../components/button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input, Select } from '../components/field';
import { Badge, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { Pager, Table } from '../components/table';
import { Tabs } from '../components/tabs';
import { useToast } from '../components/toast';
import { useLoad } from '../hooks';
import { repoUrl, teamUrl } from '../links';
import { useUser } from '../session';
import { MemberEditor } from './repository';
import { RobotList } from './robots';
import { WebhookList } from './webhooks';

export function OrganizationPage() {
  const org = useParams().org!;
  const user = useUser();
  const [params, setParams] = useSearchParams();
  const o = useLoad((signal) => api.get<Organization>(`/organizations/${encodeURIComponent(org)}`, { signal }), [org]);
  const isAdmin = user.admin || o.data?.role === 'admin';
  const base = `/organizations/${encodeURIComponent(org)}`;
  const notFound = o.error instanceof ApiError && (o.error.code === 'NOT_FOUND' || o.error.code === 'DENIED');
  const tabs = [
    { id: 'repositories', label: 'Repositories', content: <OrgRepositories org={org} /> },
    { id: 'members', label: 'Members', content: <MemberEditor basePath={base} canEdit={isAdmin} what={org} inheritedNote="Roles here apply to every repository of the organization." /> },
    { id: 'teams', label: 'Teams', content: <TeamList org={org} canEdit={isAdmin} /> },
    ...(isAdmin ? [
      { id: 'robots', label: 'Robot accounts', content: <RobotList org={org} /> },
      { id: 'webhooks', label: 'Webhooks', content: <WebhookList org={org} /> },
      { id: 'settings', label: 'Settings', content: o.data ? <OrgSettings org={o.data} onChanged={o.reload} /> : null },
    ] : []),
  ];
  const tab = params.get('tab') ?? 'repositories';
  return (
    <>
      <PageHeader title={org} crumbs={[{ label: 'Organizations', to: '/organizations' }, { label: org }]}
        subtitle={o.data ? <span className="badges">{o.data.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>}
          <span className="muted small">Your role: {o.data.role ?? (user.admin ? 'system administrator' : 'none')}</span></span> : null} />
      {notFound ? (
        <EmptyState title={`No organization ${org}`} icon="question">
          <p>{(o.error as ApiError).message}. A user's personal namespace is not an organization; its repositories are listed under <Link to={`/repositories?q=${encodeURIComponent(org + '/')}`}>Repositories</Link>.</p>
        </EmptyState>
      ) : <ErrorBanner error={o.error} onRetry={o.reload} />}
      {o.loading && !o.data ? <Loading /> : o.data ? (
        <Tabs label={`Organization ${org}`} tabs={tabs} selected={tabs.some((t) => t.id === tab) ? tab : 'repositories'}
          onSelect={(id) => setParams(id === 'repositories' ? {} : { tab: id }, { replace: true })} />
      ) : null}
    </>
  );
}

function OrgRepositories({ org }: { org: string }) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const last = cursors[cursors.length - 1];
  const page = useLoad((signal) => api.get<Page<RepositorySummary>>(`/repositories${query({ q: `${org}/`, n: 100, last })}`, { signal }), [org, last]);
  const items = (page.data?.items ?? []).filter((r) => r.name.startsWith(`${org}/`));
  return (
    <>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      {page.loading && !page.data ? <Loading /> : (
        <Table caption={`Repositories of ${org}`} rows={items} rowKey={(r) => r.name}
          columns={[
            { key: 'name', header: 'Repository', render: (r) => <Link className="strong-link" to={repoUrl(r.name)}>{r.name}</Link> },
            { key: 'vis', header: 'Visibility', render: (r) => (r.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>) },
          ]}
          empty={<EmptyState title="No repositories in this organization yet" icon="box">Push an image named <code>{window.location.host}/{org}/IMAGE:TAG</code> to create one.</EmptyState>} />
      )}
      <Pager hasPrevious={cursors.length > 1} hasNext={Boolean(page.data?.next)} busy={page.loading}
        onPrevious={() => setCursors((c) => c.slice(0, -1))} onNext={() => setCursors((c) => [...c, page.data!.next!])} />
    </>
  );
}

function TeamList({ org, canEdit }: { org: string; canEdit: boolean }) {
  const teams = useLoad((signal) => api.get<Items<Team>>(`/organizations/${encodeURIComponent(org)}/teams`, { signal }), [org]);
  const [creating, setCreating] = useState(false);
  return (
    <Section title="Teams" description="Give a team a role on the organization (as team:NAME under Members) or on single repositories; a team may follow a directory (LDAP) group."
      actions={canEdit ? <Button variant="primary" onClick={() => setCreating(true)}>New team</Button> : null}>
      <ErrorBanner error={teams.error} onRetry={teams.reload} />
      {teams.loading && !teams.data ? <Loading /> : (
        <Table caption={`Teams of ${org}`} rows={teams.data?.items ?? []} rowKey={(t) => t.name}
          columns={[
            { key: 'name', header: 'Team', render: (t) => <Link className="strong-link" to={teamUrl(org, t.name)}>{t.name}</Link> },
            { key: 'members', header: 'Members', align: 'right', render: (t) => t.members.toLocaleString() },
            { key: 'group', header: 'Directory group', optional: true, render: (t) => (t.directoryGroup ? <code className="wrap small">{t.directoryGroup}</code> : <span className="muted">—</span>) },
          ]}
          empty={<EmptyState title="No teams yet" icon="users" action={canEdit ? <Button variant="primary" onClick={() => setCreating(true)}>Create a team</Button> : null}>Teams let you give a role to many people at once.</EmptyState>} />
      )}
      <CreateTeam org={org} open={creating} onClose={() => setCreating(false)} onCreated={teams.reload} />
    </Section>
  );
}

function CreateTeam({ org, open, onClose, onCreated }: { org: string; open: boolean; onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [group, setGroup] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toast = useToast();
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post<Team>(`/organizations/${encodeURIComponent(org)}/teams`, { name: name.trim(), ...(group.trim() ? { directoryGroup: group.trim() } : {}) });
      toast.success(`Team ${name.trim()} created.`);
      setName('');
      setGroup('');
      onCreated();
      onClose();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="New team" onClose={onClose} onSubmit={submit}
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Create team</Button></>}>
      <Input label="Team name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} hint="Lower-case letters, digits and . _ -" autoCapitalize="none" spellCheck={false} />
      <Input label="Directory group DN (optional)" value={group} onChange={(e) => setGroup(e.target.value)} placeholder="CN=Build,OU=Groups,DC=corp,DC=example" hint="Members of this LDAP / Active Directory group join the team at login and at every sync." />
      <ErrorBanner error={error} />
    </Dialog>
  );
}

function OrgSettings({ org, onChanged }: { org: Organization; onChanged: () => void }) {
  const [pub, setPub] = useState(org.public ? 'public' : 'private');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [deleting, setDeleting] = useState(false);
  const [confirmName, setConfirmName] = useState('');
  const toast = useToast();
  const navigate = useNavigate();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/organizations/${encodeURIComponent(org.name)}`, { public: pub === 'public' });
      toast.success(`${org.name} is now ${pub}.`);
      onChanged();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <div className="stack-lg">
      <Section title="Visibility" description="Anyone, also without an account, may pull the repositories of a public organization (a repository may override it).">
        <form className="form form-inline" onSubmit={save}>
          <Select label="Organization visibility" value={pub} onChange={(e) => setPub(e.target.value)} options={[{ value: 'private', label: 'Private' }, { value: 'public', label: 'Public' }]} />
          <Button type="submit" variant="primary" busy={busy} disabled={(pub === 'public') === org.public}>Save</Button>
        </form>
        <ErrorBanner error={error} />
      </Section>
      <Section title="Delete organization" description={`Removes ${org.name} with its teams, roles, robots and webhooks. Only an organization without repositories can be deleted.`}>
        <Button variant="danger" onClick={() => { setConfirmName(''); setDeleting(true); }}>Delete {org.name}…</Button>
      </Section>
      <ConfirmDialog open={deleting} title={`Delete ${org.name}`} confirmLabel="Delete organization" danger onClose={() => setDeleting(false)}
        onConfirm={async () => {
          if (confirmName !== org.name) throw new Error(`Type ${org.name} to confirm.`);
          await api.del(`/organizations/${encodeURIComponent(org.name)}`);
          toast.success(`Organization ${org.name} deleted.`);
          navigate('/organizations');
        }}>
        <p>This cannot be undone. Type <strong>{org.name}</strong> to confirm.</p>
        <Input label="Organization name" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} autoComplete="off" />
      </ConfirmDialog>
    </div>
  );
}

