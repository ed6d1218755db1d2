// The signed-in user's own page: profile, password, second factor (TOTP) and personal access tokens.
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import type { AccessToken, CreatedToken, Items, Scope, TotpEnrollment } from '../api-types';
import { Button } from '../components/button';
import { CopyField } from '../components/copy-button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { Banner, ErrorBanner } from '../components/error-banner';
import { Checkbox, Input } from '../components/field';
import { Badge, Facts, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { QrCode } from '../components/qr-code';
import { SecretOnce } from '../components/secret-once';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { formatAgo, formatTime } from '../format';
import { useLoad } from '../hooks';
import { useSession, useUser } from '../session';
import { ScopeList, ScopesEditor } from './scopes-editor';

export function AccountPage() {
  const user = useUser();
  return (
    <>
      <PageHeader title="Your account" subtitle={<>Signed in as <strong>{user.name}</strong></>} />
      <div className="stack-lg">
        <Section title="Profile">
          <Facts items={[
            ['User name', <code>{user.name}</code>],
            ['Display name', user.displayName ?? <span className="muted">—</span>],
            ['Email', user.email ?? <span className="muted">—</span>],
            ['Account', user.source === 'ldap' ? 'directory (LDAP / Active Directory)' : 'local'],
            ['System administrator', user.admin ? 'yes' : 'no'],
            ['Member since', formatTime(user.createdAt)],
          ]} />
        </Section>
        <Totp />
        <Tokens />
        {user.source === 'local' ? <PasswordChange /> : null}
      </div>
    </>
  );
}

function Totp() {
  const user = useUser();
  const { refresh } = useSession();
  const [enrolment, setEnrolment] = useState<TotpEnrollment | null>(null);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [disabling, setDisabling] = useState(false);
  const toast = useToast();
  if (user.source !== 'local') {
    return <Section title="Second factor"><p className="muted">Directory accounts use their directory's sign-in policy.</p></Section>;
  }
  const begin = async () => {
    setBusy(true);
    setError(null);
    try { setEnrolment(await api.post<TotpEnrollment>('/user/totp')); setCode(''); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post('/user/totp/confirm', { code: code.trim() });
      toast.success('Second factor on: signing in now asks for a code.');
      setEnrolment(null);
      await refresh();
    } catch (err) { setError(err); setCode(''); } finally { setBusy(false); }
  };
  return (
    <Section title="Second factor (TOTP)" description="A one-time code from an authenticator app, asked for at every web or API sign-in. Registry clients then log in with an access token.">
      {user.totp ? (
        <div className="row">
          <Badge tone="success">on</Badge>
          <span>Signing in asks for a code from your authenticator app.</span>
          <Button variant="danger" onClick={() => { setCode(''); setDisabling(true); }}>Turn off…</Button>
        </div>
      ) : enrolment ? (
        <div className="totp-enrol">
          <QrCode value={enrolment.uri} label="QR code to scan with your authenticator app" />
          <div className="stack">
            <ol className="steps">
              <li>Scan the QR code with your authenticator app, or enter the secret by hand.</li>
              <li>Enter the six-digit code the app shows to confirm.</li>
            </ol>
            <CopyField value={enrolment.secret} what="TOTP secret" />
            <form className="form form-inline" onSubmit={confirm}>
              <Input label="Code from the app" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required value={code} onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))} />
              <Button type="submit" variant="primary" busy={busy}>Confirm and turn on</Button>
              <Button variant="ghost" onClick={() => setEnrolment(null)}>Cancel</Button>
            </form>
          </div>
        </div>
      ) : (
        <div className="row">
          <Badge>off</Badge>
          <Button variant="primary" onClick={() => void begin()} busy={busy}>Set up a second factor</Button>
        </div>
      )}
      <ErrorBanner error={error} />
      <Dialog open={disabling} title="Turn off the second factor" onClose={() => setDisabling(false)}
        onSubmit={async () => {
          setBusy(true);
          setError(null);
          try {
            await api.post('/user/totp/disable', { code: code.trim() });
            toast.success('Second factor turned off.');
            setDisabling(false);
            await refresh();
          } catch (err) { setError(err); } finally { setBusy(false); }
        }}
        footer={<><Button onClick={() => setDisabling(false)}>Cancel</Button><Button type="submit" variant="danger" busy={busy}>Turn off</Button></>}>
        <p>Enter a current code from your authenticator app to turn the second factor off.</p>
        <Input label="Code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required value={code} onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))} />
        <ErrorBanner error={error} />
      </Dialog>
    </Section>
  );
}

function tokenState(t: AccessToken) {
  if (t.revokedAt) return <Badge tone="neutral">revoked</Badge>;
  if (t.expiresAt && t.expiresAt < Date.now()) return <Badge tone="warning">expired</Badge>;
  return <Badge tone="success">active</Badge>;
}

function Tokens() {
  const tokens = useLoad((signal) => api.get<Items<AccessToken>>('/user/tokens', { signal }), []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<AccessToken | null>(null);
  const [showRevoked, setShowRevoked] = useState(false);
  const toast = useToast();
  const user = useUser();
  const rows = (tokens.data?.items ?? []).filter((t) => showRevoked || !t.revokedAt).sort((a, b) => b.createdAt - a.createdAt);
  return (
    <Section title="Personal access tokens" description="Log in to registry clients and the API with a token instead of your password. A token never allows more than you may."
      actions={<Button variant="primary" onClick={() => setCreating(true)}>New token</Button>}>
      <Checkbox label="Show revoked tokens" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
      <ErrorBanner error={tokens.error} onRetry={tokens.reload} />
      {tokens.loading && !tokens.data ? <Loading /> : (
        <Table caption="Your access tokens" rows={rows} rowKey={(t) => t.id}
          columns={[
            { key: 'name', header: 'Name', render: (t) => <strong>{t.name}</strong> },
            { key: 'scopes', header: 'Scopes', render: (t) => <ScopeList scopes={t.scopes} /> },
            { key: 'state', header: 'State', render: tokenState },
            { key: 'expires', header: 'Expires', optional: true, render: (t) => (t.expiresAt ? <span title={formatTime(t.expiresAt)}>{formatAgo(t.expiresAt)}</span> : 'never') },
            { key: 'used', header: 'Last used', optional: true, render: (t) => <span title={formatTime(t.lastUsedAt)}>{formatAgo(t.lastUsedAt)}</span> },
            { key: 'x', header: <span className="visually-hidden">Actions</span>, align: 'right', render: (t) => (t.revokedAt ? null : <Button size="sm" variant="ghost" onClick={() => setRevoking(t)} aria-label={`Revoke ${t.name}`}>Revoke</Button>) },
          ]}
          empty={<EmptyState title="No access tokens" icon="key" action={<Button variant="primary" onClick={() => setCreating(true)}>Create a token</Button>}>Tokens are how CI jobs and registry clients log in when you use a second factor.</EmptyState>} />
      )}
      <CreateToken open={creating} onClose={() => setCreating(false)} onCreated={(c) => { setCreated(c); tokens.reload(); }} />
      <Dialog open={created !== null} title={`Token ${created?.token.name ?? ''} created`} onClose={() => setCreated(null)}
        footer={<Button variant="primary" onClick={() => setCreated(null)}>I have copied the token</Button>}>
        {created ? <SecretOnce secret={created.secret} what="access token">
          <p className="small">Use it as the password with your user name:</p>
          <CopyField value={`docker login -u ${user.name} ${window.location.host}`} what="docker login command" />
        </SecretOnce> : null}
      </Dialog>
      <ConfirmDialog open={revoking !== null} title="Revoke token" confirmLabel="Revoke" danger onClose={() => setRevoking(null)}
        onConfirm={async () => { await api.del(`/user/tokens/${encodeURIComponent(revoking!.id)}`); toast.success(`Token ${revoking!.name} revoked.`); tokens.reload(); }}>
        Revoke <strong>{revoking?.name}</strong>? Whatever logs in with it stops working at once.
      </ConfirmDialog>
    </Section>
  );
}

function CreateToken({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (c: CreatedToken) => void }) {
  const user = useUser();
  const [name, setName] = useState('');
  const [limit, setLimit] = useState(false);
  const [scopes, setScopes] = useState<Scope[]>([{ pattern: `${user.name}/**`, actions: ['pull'] }]);
  const [days, setDays] = useState('90');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const c = await api.post<CreatedToken>('/user/tokens', {
        name: name.trim(), ...(limit ? { scopes: scopes.map((s) => ({ pattern: s.pattern.trim(), actions: s.actions })) } : {}), ...(days ? { expiresInDays: Number(days) } : {}),
      });
      setName('');
      onClose();
      onCreated(c);
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="New access token" onClose={onClose} onSubmit={submit} wide
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" busy={busy}>Create token</Button></>}>
      <Input label="Name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} hint="What it is for, e.g. “laptop podman” or “release pipeline”." />
      <Checkbox label="Limit to some repositories and actions" checked={limit} onChange={(e) => setLimit(e.target.checked)} hint="Without limits the token may do everything you may (except manage credentials)." />
      {limit ? <ScopesEditor scopes={scopes} onChange={setScopes} placeholder="acme/app-*" /> : null}
      <Input label="Expires after (days)" type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} hint="Leave empty for a token that does not expire." />
      <ErrorBanner error={error} />
    </Dialog>
  );
}

function PasswordChange() {
  const { ended } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const mismatch = again.length > 0 && next !== again;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      await api.put('/user/password', { currentPassword: current, newPassword: next });
      ended('Password changed. Every session and token issued before has ended; sign in with the new password.');
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Section title="Password" description="At least 12 characters, not containing your user name. Changing it signs you out everywhere and ends your access tokens.">
      <form className="form narrow" onSubmit={submit}>
        <Input label="Current password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        <Input label="New password" type="password" autoComplete="new-password" required minLength={12} value={next} onChange={(e) => setNext(e.target.value)} />
        <Input label="New password again" type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} error={mismatch ? 'The two new passwords differ.' : null} />
        <div><Button type="submit" variant="primary" busy={busy}>Change password</Button></div>
        <Banner kind="info">You will be signed out and asked to sign in again.</Banner>
      </form>
      <ErrorBanner error={error} />
    </Section>
  );
}
