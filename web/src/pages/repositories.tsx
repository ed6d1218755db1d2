// Repositories the caller may pull, searchable by name, paged by the server.
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api, query } from '../api';
import type { Page, RepositorySummary } from '../api-types';
import { CopyField } from '../components/copy-button';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input } from '../components/field';
import { Badge, PageHeader } from '../components/page';
import { Loading } from '../components/progress';
import { Pager, Table } from '../components/table';
import { useLoad } from '../hooks';
import { orgUrl, repoUrl, namespaceOf } from '../links';

const PAGE = 50;

export function RepositoriesPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const [text, setText] = useState(q);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const last = cursors[cursors.length - 1];
  useEffect(() => { setText(q); setCursors([undefined]); }, [q]);
  // Search as one types, a moment after the last key.
  useEffect(() => {
    if (text === q) return;
    const t = window.setTimeout(() => setParams(text ? { q: text } : {}, { replace: true }), 300);
    return () => window.clearTimeout(t);
  }, [text, q, setParams]);
  const page = useLoad((signal) => api.get<Page<RepositorySummary>>(`/repositories${query({ q, n: PAGE, last })}`, { signal }), [q, last]);
  const items = page.data?.items ?? [];
  const host = window.location.host;
  return (
    <>
      <PageHeader title="Repositories" subtitle="Every repository you may pull." />
      <form role="search" className="toolbar" onSubmit={(e) => { e.preventDefault(); setParams(text ? { q: text } : {}); }}>
        <Input label="Search repositories" hideLabel type="search" placeholder="Search by name…" value={text} onChange={(e) => setText(e.target.value)} className="grow" />
      </form>
      <ErrorBanner error={page.error} onRetry={page.reload} />
      {page.loading && !page.data ? <Loading /> : page.data ? (
        <>
          <p className="muted small" aria-live="polite">{items.length === 0 ? 'No repositories' : `Showing ${(cursors.length - 1) * PAGE + 1}–${(cursors.length - 1) * PAGE + items.length}`}{q ? ` matching “${q}”` : ''}</p>
          <Table caption="Repositories" rows={items} rowKey={(r) => r.name}
            columns={[
              { key: 'name', header: 'Name', render: (r) => <Link to={repoUrl(r.name)} className="strong-link">{r.name}</Link> },
              { key: 'ns', header: 'Namespace', optional: true, render: (r) => <Link to={orgUrl(namespaceOf(r.name))}>{namespaceOf(r.name)}</Link> },
              { key: 'vis', header: 'Visibility', render: (r) => r.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge> },
            ]}
            empty={q ? <EmptyState title={`No repository matches “${q}”`}>Try a shorter part of the name.</EmptyState> : (
              <EmptyState title="No repositories yet" icon="box">
                <p>Push an image to create one:</p>
                <CopyField value={`docker push ${host}/NAMESPACE/IMAGE:TAG`} what="push command" />
              </EmptyState>
            )} />
          <Pager hasPrevious={cursors.length > 1} hasNext={Boolean(page.data.next)} busy={page.loading}
            onPrevious={() => setCursors((c) => c.slice(0, -1))} onNext={() => setCursors((c) => [...c, page.data!.next!])} />
        </>
      ) : null}
    </>
  );
}
