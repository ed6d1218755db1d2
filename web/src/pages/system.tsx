// Garbage collection (system administrators): start a run (or a dry run), follow its progress, and see the
// reports of recent runs.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import type { GcJob, Items } from '../api-types';
import { Button } from '../components/button';
import { Banner, ErrorBanner } from '../components/error-banner';
import { Checkbox } from '../components/field';
import { Badge, PageHeader, Section } from '../components/page';
import { ProgressBar } from '../components/progress';
import { Table } from '../components/table';
import { useToast } from '../components/toast';
import { formatAgo, formatBytes, formatTime } from '../format';
import { useLoad } from '../hooks';

export function SystemPage() {
  const [dryRun, setDryRun] = useState(true);
  const [job, setJob] = useState<GcJob | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [starting, setStarting] = useState(false);
  const timer = useRef<number>(undefined);
  const toast = useToast();
  const runs = useLoad((signal) => api.get<Items<GcJob>>('/gc', { signal }), []);

  const poll = (id: string) => {
    window.clearTimeout(timer.current);
    const tick = async () => {
      try {
        const j = await api.get<GcJob>(`/gc/${encodeURIComponent(id)}`);
        setJob(j);
        if (j.state === 'running') timer.current = window.setTimeout(tick, 500);
        else {
          runs.reload();
          if (j.state === 'done') toast.success(`Garbage collection ${j.dryRun ? '(dry run) ' : ''}finished.`);
        }
      } catch (e) { setError(e); }
    };
    void tick();
  };
  useEffect(() => () => window.clearTimeout(timer.current), []);
  // Coming back to the page while a run goes on picks it up again.
  const going = runs.data?.items.find((r) => r.state === 'running');
  useEffect(() => {
    if (going && (!job || job.id !== going.id)) poll(going.id);
  }, [going?.id]);

  const start = async () => {
    setStarting(true);
    setError(null);
    setJob(null);
    try {
      const run = await api.post<GcJob>('/gc', { dryRun });
      setJob(run);
      poll(run.id);
    } catch (e) { setError(e); } finally { setStarting(false); }
  };
  const running = job?.state === 'running';
  const p = job?.progress;
  return (
    <>
      <PageHeader title="Garbage collection" subtitle="Removes blobs that no manifest references any more, repository links to them, expired uploads, and files left by crashes. Safe beside running pushes: recently touched blobs are spared." />
      <Section title="Run">
        <div className="row">
          <Checkbox label="Dry run: only report what would be removed" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} disabled={running} />
          <Button variant={dryRun ? 'primary' : 'danger'} onClick={() => void start()} busy={starting} disabled={running}>{dryRun ? 'Start dry run' : 'Collect garbage'}</Button>
        </div>
        <ErrorBanner error={error} />
        {job ? (
          <div className="gc-status">
            <p aria-live="polite">
              {job.state === 'running' ? <Badge tone="info">running</Badge> : job.state === 'done' ? <Badge tone="success">done</Badge> : <Badge tone="danger">failed</Badge>}
              {' '}{job.dryRun ? 'Dry run' : 'Run'} <code>{job.id.slice(0, 8)}</code>, started {formatAgo(job.startedAt)}
            </p>
            {running ? (
              // A run reports its phase and counters so far (GcRunView in the contracts), not a total to fill a bar.
              <ProgressBar label={phaseLabel(p?.phase)} detail={describeFields(p?.fields) ?? 'working…'} />
            ) : null}
            {job.state === 'failed' ? <Banner kind="warning">{job.error ?? 'The run failed; see the server log.'}</Banner> : null}
            {job.report ? <Report report={job.report} /> : null}
          </div>
        ) : null}
      </Section>
      <Section title="Recent runs" description="Latest runs, started here or on the schedule, by any Berth process.">
        <ErrorBanner error={runs.error} onRetry={runs.reload} />
        <Table caption="Recent garbage collection runs" rows={runs.data?.items ?? []} rowKey={(r) => r.id}
          columns={[
            { key: 'started', header: 'Started', render: (r) => formatTime(r.startedAt, true) },
            { key: 'kind', header: 'Kind', render: (r) => (r.dryRun ? 'dry run' : 'collection') },
            { key: 'state', header: 'State', render: (r) => <Badge tone={r.state === 'done' ? 'success' : r.state === 'failed' ? 'danger' : 'info'}>{r.state}</Badge> },
            { key: 'blobs', header: 'Blobs', align: 'right', render: (r) => (r.report ? Number(r.report.blobsRemoved ?? 0).toLocaleString() : '—') },
            { key: 'bytes', header: 'Freed', align: 'right', render: (r) => (r.report ? formatBytes(Number(r.report.bytesRemoved ?? 0) + Number(r.report.uploadBytesRemoved ?? 0) + Number(r.report.orphanBytesRemoved ?? 0)) : '—') },
          ]}
          empty={<p className="muted">No runs yet.</p>} />
      </Section>
    </>
  );
}

const phaseLabel = (phase: string | undefined) => `Phase: ${(phase ?? 'starting').replace(/^gc:\s*/, '')}`;

function describeFields(f: Record<string, unknown> | undefined): string | undefined {
  if (!f) return undefined;
  const parts = Object.entries(f).filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k}: ${typeof v === 'number' ? (/bytes/i.test(k) ? formatBytes(v) : v.toLocaleString()) : v}`);
  return parts.length ? parts.join(', ') : undefined;
}

const label = (k: string) => (k === 'durationMs' ? 'Duration' : k).replace(/([a-z])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase().replace(/^./, (c) => c.toUpperCase());

function Report({ report }: { report: Record<string, unknown> }) {
  const rows = Object.entries(report).filter(([, v]) => v === null || typeof v !== 'object');
  const fmt = (k: string, v: unknown) => (typeof v === 'number' ? (/bytes/i.test(k) ? formatBytes(v) : /ms$/i.test(k) ? `${(v / 1000).toFixed(2)} s` : v.toLocaleString()) : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v ?? '—'));
  return (
    <div className="report">
      <h3 className="subhead">Report</h3>
      <dl className="facts compact">
        {rows.map(([k, v]) => <div className="fact" key={k}><dt>{label(k)}</dt><dd>{fmt(k, v)}</dd></div>)}
      </dl>
    </div>
  );
}
