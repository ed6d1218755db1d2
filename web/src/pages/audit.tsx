// The audit log (system administrators): filters, cursor paging, export with progress, and the result of
// verifying the hash chain and its signed checkpoints.
import { Fragment, useRef, useState, type FormEvent } from 'react';
import { api, query, send } from '../api';
import type { AuditRecord, AuditVerification, Page } from '../api-types';
import { Button } from '../components/button';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Input, Select } from '../components/field';
import { Badge, PageHeader, Section } from '../components/page';
import { Loading, ProgressBar } from '../components/progress';
import { useToast } from '../components/toast';
import { formatBytes, formatTime, shortDigest } from '../format';
import { useLoad } from '../hooks';

interface Filters { actor: string; action: string; repository: string; outcome: string; since: string; until: string }
const EMPTY: Filters = { actor: '', action: '', repository: '', outcome: '', since: '', until: '' };
const PAGE = 50;

const ACTIONS = ['auth.', 'manifest.', 'blob.', 'tag.', 'user.', 'org.', 'team.', 'repository.', 'robot.', 'token.', 'webhook.', 'access.denied', 'audit.export', 'gc.run'];

/** Why it was denied or failed (a pull rule's refusal, a lockout, …), shown in the row without opening it. */
function reasonOf(r: AuditRecord): string | null {
  const reason = r.detail?.reason;
  return r.outcome !== 'success' && typeof reason === 'string' ? reason : null;
}

/** The filters as API query parameters (local datetime inputs become ISO 8601 times). */
function params(f: Filters) {
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  return { actor: f.actor.trim() || undefined, action: f.action.trim() || undefined, repository: f.repository.trim() || undefined, outcome: f.outcome || undefined, since: iso(f.since), until: iso(f.until) };
}

export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const before = cursors[cursors.length - 1];
  const records = useLoad((signal) => api.get<Page<AuditRecord>>(`/audit${query({ ...params(filters), n: PAGE, before })}`, { signal }), [filters, before]);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const apply = (e: FormEvent) => { e.preventDefault(); setFilters(draft); setCursors([undefined]); };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const toggle = (seq: number) => setOpen((s) => { const n = new Set(s); if (n.has(seq)) n.delete(seq); else n.add(seq); return n; });
  const active = Object.values(filters).some(Boolean);
  return (
    <>
      <PageHeader title="Audit log" subtitle="Every sign-in, denial, pull, push, delete and administrative change, in a signed hash chain." />
      <div className="audit-top">
        <VerifyBox />
        <ExportBox filters={filters} />
      </div>
      <Section title="Records">
        <form className="filters" onSubmit={apply} aria-label="Filter audit records">
          <Input label="Actor" value={draft.actor} onChange={set('actor')} placeholder="alice" spellCheck={false} />
          <Input label="Action or prefix" value={draft.action} onChange={set('action')} placeholder="manifest.push, user." list="audit-actions" spellCheck={false} title="An exact action, or a prefix ending in a dot (user.)" />
          <datalist id="audit-actions">{ACTIONS.map((a) => <option key={a} value={a} />)}</datalist>
          <Input label="Repository" value={draft.repository} onChange={set('repository')} placeholder="acme/app" spellCheck={false} />
          <Select label="Outcome" value={draft.outcome} onChange={set('outcome')} options={[{ value: '', label: 'Any' }, { value: 'success', label: 'Success' }, { value: 'failure', label: 'Failure' }, { value: 'denied', label: 'Denied' }]} />
          <Input label="From" type="datetime-local" value={draft.since} onChange={set('since')} />
          <Input label="Until" type="datetime-local" value={draft.until} onChange={set('until')} />
          <div className="filters-actions">
            <Button type="submit" variant="primary">Apply filters</Button>
            {active || Object.values(draft).some(Boolean) ? <Button onClick={() => { setDraft(EMPTY); setFilters(EMPTY); setCursors([undefined]); }}>Clear</Button> : null}
          </div>
        </form>
        <ErrorBanner error={records.error} onRetry={records.reload} />
        {records.loading && !records.data ? <Loading /> : records.data?.items.length === 0 ? (
          <EmptyState title={active ? 'No record matches these filters' : 'No audit records yet'} icon="list" />
        ) : records.data ? (
          <div className="table-wrap">
            <table className="table audit-table">
              <caption className="visually-hidden">Audit records, newest first</caption>
              <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">Outcome</th><th scope="col" className="optional">Address</th></tr></thead>
              <tbody className={records.loading ? 'stale' : undefined}>
                {records.data.items.map((r) => (
                  <Fragment key={r.seq}>
                    <tr>
                      <td className="nowrap">
                        <button type="button" className="disclosure" aria-expanded={open.has(r.seq)} aria-controls={`rec-${r.seq}`} onClick={() => toggle(r.seq)}>
                          <span aria-hidden="true">{open.has(r.seq) ? '▾' : '▸'}</span> {formatTime(r.at, true)}
                        </button>
                      </td>
                      <td><strong>{r.actor}</strong> <span className="muted small">{r.actorSource}</span></td>
                      <td><code>{r.action}</code></td>
                      <td><code className="wrap small">{r.resource}</code></td>
                      <td>
                        <Badge tone={r.outcome === 'success' ? 'success' : r.outcome === 'denied' ? 'warning' : 'danger'}>{r.outcome}</Badge>
                        {reasonOf(r) ? <div className="small muted audit-reason">{reasonOf(r)}</div> : null}
                      </td>
                      <td className="optional small">{r.address}</td>
                    </tr>
                    {open.has(r.seq) ? (
                      <tr id={`rec-${r.seq}`} className="attempts-row">
                        <td colSpan={6}>
                          <dl className="facts compact">
                            <div className="fact"><dt>Sequence</dt><dd>{r.seq}</dd></div>
                            <div className="fact"><dt>Request id</dt><dd><code>{r.requestId || '—'}</code></dd></div>
                            <div className="fact"><dt>User agent</dt><dd className="wrap small">{r.userAgent || '—'}</dd></div>
                            <div className="fact"><dt>Hash</dt><dd><code title={r.hash}>{shortDigest(r.hash, 16)}</code> ← <code title={r.prevHash}>{shortDigest(r.prevHash, 16)}</code></dd></div>
                          </dl>
                          {r.detail ? <pre className="json small">{JSON.stringify(r.detail, null, 2)}</pre> : null}
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
          <Button size="sm" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>← Newer</Button>
          <span className="muted small">{records.data?.items.length ? `Records ${records.data.items[records.data.items.length - 1].seq}–${records.data.items[0].seq}` : ''}</span>
          <Button size="sm" disabled={!records.data?.next} onClick={() => setCursors((c) => [...c, String(records.data!.next!)])}>Older →</Button>
        </nav>
      </Section>
    </>
  );
}

function VerifyBox() {
  const v = useLoad((signal) => api.get<AuditVerification>('/audit/verify', { signal }), []);
  const r = v.data;
  return (
    <section className={`card verify ${r ? (r.ok ? 'verify-ok' : 'verify-bad') : ''}`} aria-labelledby="verify-title" aria-busy={v.loading}>
      <div className="card-head">
        <h2 id="verify-title">Chain verification</h2>
        <Button size="sm" onClick={v.reload} busy={v.loading}>Verify again</Button>
      </div>
      <ErrorBanner error={v.error} />
      {v.loading && !r ? <Loading label="Walking the hash chain and checkpoints…" /> : r ? (
        <div role="status">
          <p className="verify-result">
            <span className="verify-icon" aria-hidden="true">{r.ok ? '✓' : '✗'}</span>
            {r.ok ? 'Intact: every record matches the chain and the signed checkpoints.' : 'Tampering detected.'}
          </p>
          {r.firstBad ? <p className="text-danger">First bad record: <strong>#{r.firstBad.seq}</strong> — {r.firstBad.reason}</p> : null}
          <dl className="facts compact">
            <div className="fact"><dt>Records checked</dt><dd>{r.records.toLocaleString()}{r.from ? ` (from #${r.from})` : ''}</dd></div>
            <div className="fact"><dt>Signed checkpoints</dt><dd>{r.checkpoints.toLocaleString()}</dd></div>
            {r.head ? <div className="fact"><dt>Head</dt><dd>#{r.head.seq} <code title={r.head.hash}>{shortDigest(r.head.hash, 12)}</code></dd></div> : null}
            {r.lastCheckpoint ? <div className="fact"><dt>Last checkpoint</dt><dd>#{r.lastCheckpoint.seq}, {formatTime(r.lastCheckpoint.at)}</dd></div> : null}
          </dl>
        </div>
      ) : null}
    </section>
  );
}

function ExportBox({ filters }: { filters: Filters }) {
  const [format, setFormat] = useState<'jsonl' | 'csv'>('jsonl');
  const [progress, setProgress] = useState<{ bytes: number; lines: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  const toast = useToast();
  const run = async () => {
    const ac = new AbortController();
    abort.current = ac;
    setError(null);
    setProgress({ bytes: 0, lines: 0 });
    try {
      const res = await send('GET', `/audit/export${query({ ...params(filters), format })}`, undefined, { signal: ac.signal });
      const reader = res.body!.getReader();
      const chunks: Uint8Array<ArrayBuffer>[] = [];
      let bytes = 0, lines = 0, lastPaint = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value as Uint8Array<ArrayBuffer>);
        bytes += value.byteLength;
        for (let i = 0; i < value.length; i++) if (value[i] === 10) lines++;
        const now = performance.now();
        if (now - lastPaint > 100) { lastPaint = now; setProgress({ bytes, lines }); }
      }
      const records = format === 'csv' ? Math.max(0, lines - 1) : lines;
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `berth-audit.${format}`;
      const url = URL.createObjectURL(new Blob(chunks, { type: format === 'csv' ? 'text/csv' : 'application/x-ndjson' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast.success(`Exported ${records.toLocaleString()} records (${formatBytes(bytes)}) to ${name}.`);
    } catch (e) {
      if ((e as Error).name === 'AbortError') toast.show('Export cancelled.');
      else setError(e);
    } finally {
      setProgress(null);
      abort.current = null;
    }
  };
  return (
    <section className="card" aria-labelledby="export-title">
      <div className="card-head"><h2 id="export-title">Export</h2></div>
      <p className="card-description">Every record matching the filters, oldest first{Object.values(filters).some(Boolean) ? ' (filters applied)' : ''}.</p>
      {progress ? (
        <div className="stack">
          <ProgressBar label="Exporting audit records" detail={`${(format === 'csv' ? Math.max(0, progress.lines - 1) : progress.lines).toLocaleString()} records, ${formatBytes(progress.bytes)} received`} />
          <div><Button onClick={() => abort.current?.abort()}>Cancel export</Button></div>
        </div>
      ) : (
        <div className="form form-inline">
          <Select label="Format" value={format} onChange={(e) => setFormat(e.target.value as 'jsonl' | 'csv')} options={[{ value: 'jsonl', label: 'JSON Lines' }, { value: 'csv', label: 'CSV' }]} />
          <Button variant="primary" onClick={() => void run()}>Export</Button>
        </div>
      )}
      <ErrorBanner error={error} />
    </section>
  );
}
