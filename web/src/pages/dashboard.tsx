// Overview: storage per organization and repository, and pushes and pulls over time.
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { api, query } from '../api';
import type { ActivityStats, StorageStats } from '../api-types';
import { BarChart, TimeChart } from '../components/chart';
import { ErrorBanner } from '../components/error-banner';
import { Select } from '../components/field';
import { PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { formatBytes } from '../format';
import { useLoad } from '../hooks';
import { orgUrl, repoUrl } from '../links';
import { useUser } from '../session';

export function DashboardPage() {
  const user = useUser();
  const [days, setDays] = useState(30);
  const storage = useLoad((signal) => api.get<StorageStats>('/stats/storage', { signal }), []);
  const activity = useLoad((signal) => api.get<ActivityStats>(`/stats/activity${query({ days })}`, { signal }), [days]);
  const s = storage.data;
  const a = activity.data;
  const repoCount = s?.organizations.reduce((n, o) => n + o.repositories, 0);
  const pushes = a?.days.reduce((n, d) => n + d.pushes, 0);
  const pulls = a?.days.reduce((n, d) => n + d.pulls, 0);
  return (
    <>
      <PageHeader title="Dashboard" subtitle={<>Signed in as <strong>{user.name}</strong>{user.admin ? ' (system administrator)' : ''}. Numbers cover what you may see.</>} />
      <div className="tiles" role="list" aria-label="Summary">
        <Tile label="Stored" value={s ? formatBytes(s.totalBytes) : '…'} hint="unique blobs, counted once" />
        <Tile label="Namespaces" value={s ? s.organizations.length.toLocaleString() : '…'} />
        <Tile label="Repositories" value={repoCount !== undefined ? repoCount.toLocaleString() : '…'} />
        <Tile label={`Pushes, ${days} days`} value={pushes !== undefined ? pushes.toLocaleString() : '…'} />
        <Tile label={`Pulls, ${days} days`} value={pulls !== undefined ? pulls.toLocaleString() : '…'} />
      </div>
      <Section title="Activity" actions={
        <Select label="Period" className="inline-field" value={String(days)} onChange={(e) => setDays(Number(e.target.value))}
          options={[{ value: '7', label: 'Last 7 days' }, { value: '30', label: 'Last 30 days' }, { value: '90', label: 'Last 90 days' }]} />
      }>
        <ErrorBanner error={activity.error} onRetry={activity.reload} />
        {a ? <TimeChart title={`Pushes and pulls per day (UTC), last ${days} days`} series={['Pushes', 'Pulls']} points={a.days.map((d) => ({ label: d.date, values: [d.pushes, d.pulls] }))} />
          : activity.loading ? <Loading /> : null}
      </Section>
      <div className="grid-2">
        <Section title="Storage per namespace">
          <ErrorBanner error={storage.error} onRetry={storage.reload} />
          {s ? <BarChart title="Bytes stored per organization or user namespace" unitLabel="Stored" format={formatBytes}
            data={s.organizations.map((o) => ({ label: o.name, value: o.bytes, hint: `${o.repositories} repositories` }))}
            renderLabel={(d) => <Link to={orgUrl(d.label)}>{d.label}</Link>} />
            : storage.loading ? <Loading /> : null}
        </Section>
        <Section title="Largest repositories">
          {s ? <BarChart title="Bytes stored per repository (largest 50)" unitLabel="Stored" format={formatBytes}
            data={s.repositories.map((r) => ({ label: r.name, value: r.bytes }))} max={10}
            renderLabel={(d) => <Link to={repoUrl(d.label)}>{d.label}</Link>} />
            : storage.loading ? <Loading /> : null}
        </Section>
      </div>
    </>
  );
}

function Tile({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="tile" role="listitem">
      <div className="tile-value">{value}</div>
      <div className="tile-label">{label}</div>
      {hint ? <div className="tile-hint">{hint}</div> : null}
    </div>
  );
}
