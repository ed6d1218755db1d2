// User administration (system administrators): list and search, create, disable or enable, make or
// unmake administrator, reset a lost second factor, set a password, delete.
import { useEffect, useState, type FormEvent } from 'react';
import { api, fieldErrors, formLevelError, query } from '../api';
import type { Page, User } from '../api-types';
import { Button } from '../components/button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Checkbox, Input } from '../components/field';
import { Badge, PageHeader } from '../components/page';
import { Loading } from '../components/progress';
import { Pager, Table } from '../components/table';
import { useToast } from '../components/toast';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { useUser } from '../session';

const PAGE = 50;
type Pending = { user: User; kind: 'disable' | 'enable' | 'admin' | 'unadmin' | 'totp' | 'unlock' | 'delete' };

const CONFIRM: Record<Pending['kind'], { title: string; label: string; danger?: boolean; text: (u: string) => string }> = {
  disable: { title: 'Disable user', label: 'Disable', danger: true, text: (u) => `Disable ${u}? Every session and access token of ${u} ends at once; they cannot log in until enabled again.` },
  enable: { title: 'Enable user', label: 'Enable', text: (u) => `Let ${u} log in again?` },
  admin: { title: 'Make administrator', label: 'Make administrator', text: (u) => `Make ${u} a system administrator? Administrators may do everything in Berth.` },
  unadmin: { title: 'Remove administrator', label: 'Remove administrator', danger: true, text: (u) => `Take system administration away from ${u}?` },
  totp: { title: 'Reset second factor', label: 'Reset', danger: true, text: (u) => `Remove ${u}'s second factor (e.g. a lost phone)? They sign in with the password alone until they enrol again.` },
  unlock: { title: 'Unlock user', label: 'Unlock', text: (u) => `Lift the sign-in lock of ${u} after too many failed attempts?` },
  delete: { title: 'Delete user', label: 'Delete user', danger: true, text: (u) => `Delete ${u} with their tokens, sessions and roles? This cannot be undone. Their personal repositories stay.` },
};

export function UsersPage() {
  const me = useUser();
  const [q, setQ] = useState('');
  const [text, setText] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const last = cursors[cursors.length - 1];
  useEffect(() => {
    const t = window.setTimeout(() => { setQ(text.trim()); setCursors([undefined]); }, 300);
    return () => window.clearTimeout(t);
  }, [text]);
  const users = useLoad((signal) => api.get<Page<User>>(`/users${query({ q, n: PAGE, last })}`, { signal }), [q, last]);
  const [creating, setCreating] = useState(false);
  const [pending, setPending] = useState<Pending | null>(null);
  const [password, setPassword] = useState<User | null>(null);
  const toast = useToast();
  const act = async (p: Pending) => {
    const path = `/users/${encodeURIComponent(p.user.name)}`;
    switch (p.kind) {
      case 'disable': await api.patch(path, { disabled: true }); break;
      case 'enable': await api.patch(path, { disabled: false }); break;
      case 'admin': await api.patch(path, { admin: true }); break;
      case 'unadmin': await api.patch(path, { admin: false }); break;
      case 'totp': await api.del(`${path}/totp`); break;
      case 'unlock': await api.post(`${path}/unlock`); break;
      case 'delete': await api.del(path); break;
    }
    toast.success(`${CONFIRM[p.kind].title}: ${p.user.name} — done.`);
    users.reload();
  };
  return (
    <>
      <PageHeader title="Users" subtitle="Local and directory accounts. Robot accounts are managed by their organization."
        actions={<Button variant="primary" onClick={() => setCreating(true)}>New user</Button>} />
      <div className="toolbar" role="search">
        <Input label="Search users" hideLabel type="search" placeholder="Search by name…" value={text} onChange={(e) => setText(e.target.value)} className="grow" />
      </div>
      <ErrorBanner error={users.error} onRetry={users.reload} />
      {users.loading && !users.data ? <Loading /> : (
        <Table caption="Users" rows={users.data?.items ?? []} rowKey={(u) => u.name} rowClassName={(u) => (u.disabled ? 'row-muted' : undefined)}
          columns={[
            { key: 'name', header: 'User', render: (u) => <span><strong>{u.name}</strong>{u.name === me.name ? <span className="muted small"> (you)</span> : null}{u.displayName ? <span className="muted small block">{u.displayName}</span> : null}</span> },
            { key: 'source', header: 'Account', optional: true, render: (u) => <Badge tone={u.source === 'ldap' ? 'info' : 'neutral'}>{u.source}</Badge> },
            {
              key: 'flags', header: 'Status', render: (u) => (
                <span className="badges">
                  {u.disabled ? <Badge tone="danger">disabled</Badge> : <Badge tone="success">active</Badge>}
                  {u.admin ? <Badge tone="info">admin</Badge> : null}
                  {u.totp ? <Badge title="a second factor is in force">2FA</Badge> : null}
                </span>
              ),
            },
            { key: 'created', header: 'Created', optional: true, render: (u) => formatTime(u.createdAt) },
            {
              key: 'x', header: <span className="visually-hidden">Actions</span>, align: 'right', render: (u) => (
                <span className="actions">
                  <Button size="sm" onClick={() => setPending({ user: u, kind: u.disabled ? 'enable' : 'disable' })} aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.name}`}>{u.disabled ? 'Enable' : 'Disable'}</Button>
                  <Button size="sm" onClick={() => setPending({ user: u, kind: u.admin ? 'unadmin' : 'admin' })} aria-label={`${u.admin ? 'Remove administrator' : 'Make administrator'}: ${u.name}`}>{u.admin ? 'Remove admin' : 'Make admin'}</Button>
                  {u.totp ? <Button size="sm" onClick={() => setPending({ user: u, kind: 'totp' })} aria-label={`Reset second factor of ${u.name}`}>Reset 2FA</Button> : null}
                  {u.source === 'local' ? <Button size="sm" onClick={() => setPassword(u)} aria-label={`Set password of ${u.name}`}>Password</Button> : null}
                  <Button size="sm" onClick={() => setPending({ user: u, kind: 'unlock' })} aria-label={`Unlock ${u.name}`}>Unlock</Button>
                  <Button size="sm" variant="ghost" onClick={() => setPending({ user: u, kind: 'delete' })} aria-label={`Delete ${u.name}`}>Delete</Button>
                </span>
              ),
            },
          ]}
          empty={<EmptyState title={q ? `No user matches “${q}”` : 'No users'} />} />
      )}
      <Pager hasPrevious={cursors.length > 1} hasNext={Boolean(users.data?.next)} busy={users.loading}
        onPrevious={() => setCursors((c) => c.slice(0, -1))} onNext={() => setCursors((c) => [...c, users.data!.next!])} />
      <CreateUser open={creating} onClose={() => setCreating(false)} onCreated={users.reload} />
      <SetPassword user={password} onClose={() => setPassword(null)} />
      <ConfirmDialog open={pending !== null} title={pending ? CONFIRM[pending.kind].title : ''} confirmLabel={pending ? CONFIRM[pending.kind].label : ''}
        danger={pending ? CONFIRM[pending.kind].danger : false} onClose={() => setPending(null)} onConfirm={() => act(pending!)}>
        {pending ? CONFIRM[pending.kind].text(pending.user.name) : null}
      </ConfirmDialog>
    </>
  );
}

function CreateUser({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toast = useToast();
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post('/users', { name: name.trim(), password, admin });
      toast.success(`User ${name.trim()} created.`);
      setName(''); setPassword(''); setAdmin(false);
      onCreated();
      onClose();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="New local user" onClose={onClose} onSubmit={submit}
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Create user</Button></>}>
      <Input label="User name" error={fieldErrors(error).name} value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} autoComplete="off" autoCapitalize="none" spellCheck={false} hint="Lower-case letters, digits and . _ -; also their personal namespace." />
      <Input label="Initial password" error={fieldErrors(error).password} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={12} hint="At least 12 characters, not containing the user name." />
      <Checkbox label="System administrator" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
      <ErrorBanner error={formLevelError(error, ['name', 'password'])} />
    </Dialog>
  );
}

function SetPassword({ user, onClose }: { user: User | null; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toast = useToast();
  useEffect(() => { setPassword(''); setError(null); }, [user]);
  return (
    <Dialog open={user !== null} title={`Set password of ${user?.name ?? ''}`} onClose={onClose}
      onSubmit={async () => {
        setBusy(true);
        setError(null);
        try {
          await api.patch(`/users/${encodeURIComponent(user!.name)}`, { password });
          toast.success(`Password of ${user!.name} set.`);
          onClose();
        } catch (err) { setError(err); } finally { setBusy(false); }
      }}
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Set password</Button></>}>
      <Input label="New password" error={fieldErrors(error).password} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={12} />
      <ErrorBanner error={formLevelError(error, ['password'])} />
    </Dialog>
  );
}
