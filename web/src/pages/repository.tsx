// One repository: its tags (paged and sorted by the server, so 10,000 tags stay fast), and for those who
// may, its visibility and the roles given on it.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api, query, repoPath } from '../api';
import { ROLES, type Items, type Member, type Repository, type Role, type TagInfo, type TagPage, type Visibility } from '../api-types';
import { Button } from '../components/button';
import { CopyButton, CopyField } from '../components/copy-button';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input, Select } from '../components/field';
import { Badge, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { Pager, Table, type SortState } from '../components/table';
import { Tabs } from '../components/tabs';
import { useToast } from '../components/toast';
import { pullCommands, artifactTypeOf, formatAgo, formatBytes, formatPlatform, formatTime, mediaTypeLabel, shortDigest } from '../format';
import { useLoad } from '../hooks';
import { namespaceOf, orgUrl, tagUrl } from '../links';

const PAGE = 100;

export function RepositoryPage({ name }: { name: string }) {
  const [params, setParams] = useSearchParams();
  const repo = useLoad((signal) => api.get<Repository>(repoPath(name), { signal }), [name]);
  const r = repo.data;
  const tab = params.get('tab') ?? 'tags';
  const [deleting, setDeleting] = useState(false);
  const tabs = [{ id: 'tags', label: 'Tags', content: <TagList name={name} canDelete={r?.permissions.delete ?? false} /> }];
  if (r?.permissions.settings) {
    tabs.push({ id: 'settings', label: 'Visibility', content: <VisibilityPanel repo={r} onSaved={repo.reload} /> });
    tabs.push({ id: 'access', label: 'Access', content: <RepositoryMembers name={name} canEdit={r.permissions.members} /> });
  }
  const ns = namespaceOf(name);
  if (r && !r.exists) {
    return (
      <>
        <PageHeader title={name} docTitle={name} crumbs={[{ label: 'Repositories', to: '/repositories' }, { label: name }]} />
        <EmptyState title="Repository not found" icon="question" action={<Link to="/repositories" className="btn btn-primary">All repositories</Link>}>
          Nothing has been pushed to {name}{r.permissions.push ? '; push an image to create it' : ''}.
        </EmptyState>
      </>
    );
  }
  return (
    <>
      <PageHeader title={name} docTitle={name}
        actions={r?.permissions.delete ? <Button variant="danger" onClick={() => setDeleting(true)}>Delete repository</Button> : undefined}
        crumbs={[{ label: 'Repositories', to: '/repositories' }, { label: ns, to: orgUrl(ns) }, { label: name.slice(ns.length + 1) }]}
        subtitle={r ? <span className="badges">
          {r.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>}
          {r.visibility === 'inherit' ? <span className="muted small">visibility as its namespace</span> : null}
          <span className="muted small">You may {[r.permissions.pull && 'pull', r.permissions.push && 'push', r.permissions.delete && 'delete'].filter(Boolean).join(', ')}.</span>
        </span> : null} />
      <ErrorBanner error={repo.error} onRetry={repo.reload} />
      {repo.loading && !r ? <Loading /> : r ? (
        <Tabs label="Repository" tabs={tabs} selected={tabs.some((t) => t.id === tab) ? tab : 'tags'}
          onSelect={(id) => setParams(id === 'tags' ? {} : { tab: id }, { replace: true })} />
      ) : null}
      <DeleteRepository name={name} open={deleting} onClose={() => setDeleting(false)} />
    </>
  );
}

/** Deleting a repository is confirmed by typing its name. */
function DeleteRepository({ name, open, onClose }: { name: string; open: boolean; onClose: () => void }) {
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const navigate = useNavigate();
  const toast = useToast();
  useEffect(() => { if (open) { setTyped(''); setError(null); } }, [open]);
  const submit = async () => {
    if (typed !== name) return;
    setBusy(true);
    setError(null);
    try {
      await api.del(repoPath(name));
      toast.success(`Repository ${name} deleted. Garbage collection frees the blobs no other repository uses.`);
      onClose();
      navigate('/repositories');
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return (
    <Dialog open={open} title="Delete repository" onClose={onClose} onSubmit={() => void submit()}
      footer={<><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="danger" busy={busy} disabled={typed !== name}>Delete repository</Button></>}>
      <p>Delete <strong>{name}</strong> with all its tags, manifests, signatures, visibility and roles? This cannot be undone.</p>
      <Input label={`Type ${name} to confirm`} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} autoCapitalize="none" />
      <ErrorBanner error={error} />
    </Dialog>
  );
}

function Platforms({ t }: { t: TagInfo }) {
  if (!t.platforms.length) return <span className="muted">{artifactTypeOf(t.artifactType) ? 'artifact' : '—'}</span>;
  return <span className="chips">{t.platforms.map((p) => <span key={formatPlatform(p)} className="chip">{formatPlatform(p)}</span>)}</span>;
}

function TagList({ name, canDelete }: { name: string; canDelete: boolean }) {
  const [removing, setRemoving] = useState<TagInfo | null>(null);
  const toast = useToast();
  const [sort, setSort] = useState<SortState>({ key: 'pushed', order: 'desc' });
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  // Filtering asks the server (a repository may hold 10,000 tags), a moment after typing stops.
  useEffect(() => {
    const t = window.setTimeout(() => { setQ(text.trim()); setCursors([undefined]); }, 250);
    return () => window.clearTimeout(t);
  }, [text]);
  const last = cursors[cursors.length - 1];
  const page = useLoad((signal) => api.get<TagPage>(`${repoPath(name)}/tags${query({ n: PAGE, last, sort: sort.key, order: sort.order, q: q || undefined })}`, { signal }), [name, sort.key, sort.order, last, q]);
  const host = window.location.host;
  const items = page.data?.items ?? [];
  const onSort = (s: SortState) => { setSort(s); setCursors([undefined]); };
  const from = (cursors.length - 1) * PAGE + 1;
  const top = useRef<HTMLDivElement>(null);
  // After paging from the bottom of a long list, show the new page from its start.
  const go = (next: (c: (string | undefined)[]) => (string | undefined)[]) => { setCursors(next); top.current?.scrollIntoView({ block: 'start' }); };
  return (
    <div ref={top}>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      {page.loading && !page.data ? <Loading label="Loading tags…" /> : page.data ? (
        <>
          <div className="toolbar">
            <div className="stack grow">{(() => {
              const t = items.find((x) => x.name === 'latest') ?? items[0];
              return pullCommands(host, name, t?.name ?? 'latest', t?.artifactType).map((c) => <CopyField key={c.label} value={c.command} what={`${c.label} pull command`} />);
            })()}</div>
            <span className="muted small grow-right" aria-live="polite">{items.length ? `Tags ${from.toLocaleString()}–${(from + items.length - 1).toLocaleString()} of ${page.data.total.toLocaleString()}` : ''}</span>
          </div>
          <div className="toolbar" role="search">
            <Input label="Filter tags" hideLabel type="search" placeholder="Filter tags by name…" value={text} onChange={(e) => setText(e.target.value)} className="grow" />
          </div>
          <Table caption={`Tags of ${name}`} rows={items} rowKey={(t) => t.name} sort={sort} onSort={onSort}
            rowClassName={() => (page.loading ? 'stale' : undefined)}
            columns={[
              { key: 'name', header: 'Tag', sortable: true, render: (t) => <Link to={tagUrl(name, t.name)} className="strong-link mono">{t.name}</Link> },
              { key: 'digest', header: 'Digest', render: (t) => <span className="digest-cell"><code title={t.digest}>{shortDigest(t.digest)}</code></span> },
              { key: 'type', header: 'Type', optional: true, render: (t) => <span className="small">{artifactTypeOf(t.artifactType) ? <>artifact <code className="wrap">{t.artifactType}</code></> : mediaTypeLabel(t.mediaType)}</span> },
              { key: 'platforms', header: 'Platforms', optional: true, render: (t) => <Platforms t={t} /> },
              { key: 'size', header: 'Size', sortable: true, align: 'right', className: 'nowrap', render: (t) => formatBytes(t.size) },
              { key: 'pushed', header: 'Pushed', sortable: true, align: 'right', className: 'nowrap', render: (t) => <time dateTime={new Date(t.pushedAt).toISOString()} title={formatTime(t.pushedAt, true)}>{formatAgo(t.pushedAt)}</time> },
              {
                key: 'pull', header: 'Pull command', className: 'nowrap', render: (t) => (
                  <span className="actions nowrap">
                    <CopyButton text={pullCommands(host, name, t.name, t.artifactType)[0].command} label="Tag" what={`pull command for ${name}:${t.name}`} />
                    <CopyButton text={pullCommands(host, name, t.digest, t.artifactType)[0].command} label="Digest" what={`pull command for ${name} by digest ${shortDigest(t.digest)}`} />
                  </span>
                ),
              },
              ...(canDelete ? [{ key: 'delete', header: <span className="visually-hidden">Actions</span>, align: 'right' as const, optional: true, render: (t: TagInfo) => <Button size="sm" variant="ghost" onClick={() => setRemoving(t)} aria-label={`Delete tag ${t.name}`}>Delete</Button> }] : []),
            ]}
            empty={q ? <EmptyState title={`No tag matches “${q}”`} icon="tag" /> : <EmptyState title="No tags" icon="tag">
              <p>This repository has no tagged manifests. Push one:</p>
              <CopyField value={`docker push ${host}/${name}:TAG`} what="push command" />
            </EmptyState>} />
          <Pager hasPrevious={cursors.length > 1} hasNext={Boolean(page.data.next)} busy={page.loading}
            onPrevious={() => go((c) => c.slice(0, -1))} onNext={() => go((c) => [...c, page.data!.next!])} />
          <ConfirmDialog open={removing !== null} title="Delete tag" confirmLabel="Delete tag" danger onClose={() => setRemoving(null)}
            onConfirm={async () => {
              await api.del(`${repoPath(name)}/tags/${encodeURIComponent(removing!.name)}`);
              toast.success(`Tag ${removing!.name} deleted; its manifest stays pullable by digest.`);
              page.reload();
            }}>
            Delete the tag <strong>{removing?.name}</strong> of {name}? The manifest it points to stays, pullable by digest {removing ? shortDigest(removing.digest) : ''}.
          </ConfirmDialog>
        </>
      ) : null}
    </div>
  );
}

function VisibilityPanel({ repo, onSaved }: { repo: Repository; onSaved: () => void }) {
  const [value, setValue] = useState<Visibility>(repo.visibility);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toast = useToast();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.patch(repoPath(repo.name), { visibility: value });
      toast.success(`${repo.name} is now ${value === 'inherit' ? 'as its namespace' : value}.`);
      onSaved();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <Section title="Visibility" description="Public repositories may be pulled by anyone, also without an account. Nothing else is public.">
      <form className="form form-inline" onSubmit={save}>
        <Select label="Who may pull" value={value} onChange={(e) => setValue(e.target.value as Visibility)} options={[
          { value: 'inherit', label: 'As its namespace' }, { value: 'private', label: 'Private: members only' }, { value: 'public', label: 'Public: anyone' },
        ]} />
        <Button type="submit" variant="primary" busy={busy} disabled={value === repo.visibility}>Save</Button>
      </form>
      <ErrorBanner error={error} />
    </Section>
  );
}

/** Roles on a repository (or organization): a table with role changes and removal, and a form to add one. */
export function MemberEditor({ basePath, canEdit, what, inheritedNote }: { basePath: string; canEdit: boolean; what: string; inheritedNote?: string }) {
  const members = useLoad((signal) => api.get<Items<Member>>(`${basePath}/members`, { signal }), [basePath]);
  const [subject, setSubject] = useState('');
  const [role, setRole] = useState<Role>('reader');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const toast = useToast();
  const subjectOf = (m: Member) => (m.kind === 'team' ? `team:${m.name}` : m.name);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.put(`${basePath}/members/${encodeURIComponent(subject.trim())}`, { role });
      toast.success(`${subject.trim()} is now ${role} of ${what}.`);
      setSubject('');
      members.reload();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const change = async (m: Member, r: Role) => {
    try {
      await api.put(`${basePath}/members/${encodeURIComponent(subjectOf(m))}`, { role: r });
      toast.success(`${subjectOf(m)} is now ${r}.`);
      members.reload();
    } catch (err) { toast.error(err); }
  };
  const roleOptions = ROLES.map((r) => ({ value: r, label: r }));
  return (
    <Section title="Members and roles" description={<>reader: pull · developer: + push · maintainer: + delete · admin: everything. {inheritedNote}</>}>
      <ErrorBanner error={members.error} onRetry={members.reload} />
      {members.loading && !members.data ? <Loading /> : (
        <Table caption={`Members of ${what}`} rows={members.data?.items ?? []} rowKey={(m) => subjectOf(m)}
          columns={[
            { key: 'name', header: 'Member', render: (m) => <span>{m.kind === 'team' ? <Badge tone="info">team</Badge> : <Badge>user</Badge>} <strong>{m.name}</strong></span> },
            {
              key: 'role', header: 'Role', width: '12rem', render: (m) => canEdit
                ? <Select label={`Role of ${subjectOf(m)}`} hideLabel value={m.role} options={roleOptions} onChange={(e) => void change(m, e.target.value as Role)} />
                : m.role,
            },
            ...(canEdit ? [{ key: 'remove', header: <span className="visually-hidden">Actions</span>, align: 'right' as const, render: (m: Member) => <Button size="sm" variant="ghost" onClick={() => setRemoving(m)}>Remove</Button> }] : []),
          ]}
          empty={<EmptyState title="No roles given here yet">{canEdit ? 'Add a user or a team below.' : null}</EmptyState>} />
      )}
      {canEdit ? (
        <form className="form form-inline add-form" onSubmit={add}>
          <Input label="User or team" placeholder="alice or team:build" value={subject} onChange={(e) => setSubject(e.target.value)} required hint="A team is written team:NAME" />
          <Select label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)} options={roleOptions} />
          <Button type="submit" variant="primary" busy={busy}>Add member</Button>
        </form>
      ) : null}
      <ErrorBanner error={error} />
      <ConfirmDialog open={removing !== null} title="Remove member" confirmLabel="Remove" danger onClose={() => setRemoving(null)}
        onConfirm={async () => {
          await api.del(`${basePath}/members/${encodeURIComponent(subjectOf(removing!))}`);
          toast.success(`Removed ${subjectOf(removing!)}.`);
          members.reload();
        }}>
        Take the {removing?.role} role on {what} away from <strong>{removing ? subjectOf(removing) : ''}</strong>?
      </ConfirmDialog>
    </Section>
  );
}

function RepositoryMembers({ name, canEdit }: { name: string; canEdit: boolean }) {
  return <MemberEditor basePath={repoPath(name)} canEdit={canEdit} what={name} inheritedNote="Roles on the organization apply too; a role here adds to them for this repository only." />;
}
