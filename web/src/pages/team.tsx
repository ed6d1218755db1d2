// A team: its members (added by hand or from its directory group) and the directory group it follows.
import { useState, type FormEvent } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import { api } from '../api';
import type { Organization, TeamDetail } from '../api-types';
import { Button } from '../components/button';
import { ConfirmDialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input } from '../components/field';
import { Badge, Facts, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { useLoad } from '../hooks';
import { orgUrl } from '../links';
import { useUser } from '../session';

export function TeamPage() {
  const { org, team } = useParams() as { org: string; team: string };
  const user = useUser();
  const base = `/organizations/${encodeURIComponent(org)}/teams/${encodeURIComponent(team)}`;
  const t = useLoad((signal) => api.get<TeamDetail>(base, { signal }), [base]);
  const o = useLoad((signal) => api.get<Organization>(`/organizations/${encodeURIComponent(org)}`, { signal }), [org]);
  const canEdit = user.admin || o.data?.role === 'admin';
  const [member, setMember] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const toast = useToast();
  const navigate = useNavigate();
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.put(`${base}/members/${encodeURIComponent(member.trim())}`);
      toast.success(`${member.trim()} joined ${team}.`);
      setMember('');
      t.reload();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <>
      <PageHeader title={`Team ${team}`} docTitle={`${org} / ${team}`}
        crumbs={[{ label: 'Organizations', to: '/organizations' }, { label: org, to: orgUrl(org, 'teams') }, { label: team }]}
        actions={canEdit ? <Button variant="danger" onClick={() => setDeleting(true)}>Delete team</Button> : null} />
      <ErrorBanner error={t.error} onRetry={t.reload} />
      {t.loading && !t.data ? <Loading /> : t.data ? (
        <div className="stack-lg">
          <Section title="About">
            <Facts items={[
              ['Members', t.data.members.toLocaleString()],
              ['Role as', <code>team:{team}</code>],
              ['Directory group', t.data.directoryGroup ? <code className="wrap">{t.data.directoryGroup}</code> : <span className="muted">none: members are added by hand</span>],
            ]} />
          </Section>
          {canEdit ? <DirectoryGroup base={base} current={t.data.directoryGroup} onSaved={t.reload} /> : null}
          <Section title="Members">
            <Table caption={`Members of ${team}`} rows={t.data.memberList} rowKey={(m) => m.name}
              columns={[
                { key: 'name', header: 'User', render: (m) => <strong>{m.name}</strong> },
                { key: 'source', header: 'Membership', render: (m) => <Badge tone={m.source === 'manual' ? 'neutral' : 'info'}>{m.source === 'manual' ? 'added by hand' : m.source === 'directory' ? 'from the directory group' : m.source}</Badge> },
                ...(canEdit ? [{ key: 'x', header: <span className="visually-hidden">Actions</span>, align: 'right' as const, render: (m: { name: string }) => <Button size="sm" variant="ghost" onClick={() => setRemoving(m.name)}>Remove</Button> }] : []),
              ]}
              empty={<EmptyState title="No members yet">{canEdit ? 'Add users below, or link a directory group.' : null}</EmptyState>} />
            {canEdit ? (
              <form className="form form-inline add-form" onSubmit={add}>
                <Input label="User name" value={member} onChange={(e) => setMember(e.target.value)} required autoCapitalize="none" spellCheck={false} />
                <Button type="submit" variant="primary" busy={busy}>Add to team</Button>
              </form>
            ) : null}
            <ErrorBanner error={error} />
          </Section>
        </div>
      ) : null}
      <ConfirmDialog open={removing !== null} title="Remove from team" confirmLabel="Remove" danger onClose={() => setRemoving(null)}
        onConfirm={async () => { await api.del(`${base}/members/${encodeURIComponent(removing!)}`); toast.success(`${removing} left ${team}.`); t.reload(); }}>
        Remove <strong>{removing}</strong> from {team}? A member who comes from the directory group joins again at the next sync.
      </ConfirmDialog>
      <ConfirmDialog open={deleting} title={`Delete team ${team}`} confirmLabel="Delete team" danger onClose={() => setDeleting(false)}
        onConfirm={async () => { await api.del(base); toast.success(`Team ${team} deleted.`); navigate(orgUrl(org, 'teams')); }}>
        Delete <strong>{team}</strong> and every role given to it? Its members keep their own roles.
      </ConfirmDialog>
    </>
  );
}

function DirectoryGroup({ base, current, onSaved }: { base: string; current: string | null; onSaved: () => void }) {
  const [dn, setDn] = useState(current ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toast = useToast();
  const save = async (value: string | null) => {
    setBusy(true);
    setError(null);
    try {
      await api.patch(base, { directoryGroup: value });
      toast.success(value ? 'The team now follows the directory group.' : 'The team no longer follows a directory group.');
      if (!value) setDn('');
      onSaved();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Section title="Directory group" description="Members of this LDAP / Active Directory group (also through nested groups, when enabled) join at login and at every sync, and leave when they leave the group. Members added by hand stay.">
      <form className="form form-inline" onSubmit={(e) => { e.preventDefault(); void save(dn.trim() || null); }}>
        <Input label="Group DN" className="grow" value={dn} onChange={(e) => setDn(e.target.value)} placeholder="CN=Build,OU=Groups,DC=corp,DC=example" spellCheck={false} />
        <Button type="submit" variant="primary" busy={busy} disabled={(dn.trim() || null) === current}>Save</Button>
        {current ? <Button variant="ghost" onClick={() => void save(null)} disabled={busy}>Unlink</Button> : null}
      </form>
      <ErrorBanner error={error} />
    </Section>
  );
}
