// A tag (or digest): what it is, how to pull it, its configuration, layers, platforms, referrers, the raw
// manifest, and the Security panel where scan results and signature status will appear.
import { Fragment, type ReactNode } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api, repoPath } from '../api';
import type { ImageConfig, ManifestDetail } from '../api-types';
import { CopyButton, CopyField } from '../components/copy-button';
import { EmptyState } from '../components/empty-state';
import { ErrorBanner } from '../components/error-banner';
import { Badge, Facts, PageHeader, Section } from '../components/page';
import { Loading } from '../components/progress';
import { Table } from '../components/table';
import { Tabs } from '../components/tabs';
import { pullCommands, artifactTypeOf, formatBytes, formatPlatform, formatTime, isIndex, mediaTypeLabel, plural, referrerKind, shortDigest } from '../format';
import { useLoad } from '../hooks';
import { namespaceOf, orgUrl, repoUrl, tagUrl } from '../links';
import { SecurityPanel } from './security-panel';
import { JsonView } from '../components/json-view';

export function TagPage({ name, reference }: { name: string; reference: string }) {
  const [params, setParams] = useSearchParams();
  const detail = useLoad((signal) => api.get<ManifestDetail>(`${repoPath(name)}/manifests/${encodeURIComponent(reference)}`, { signal }), [name, reference]);
  const m = detail.data;
  const byDigest = reference.includes(':');
  const host = window.location.host;
  const ns = namespaceOf(name);
  const title = byDigest ? `${name}@${shortDigest(reference)}` : `${name}:${reference}`;
  const tabs = m ? tabsFor(name, m) : [];
  const tab = params.get('tab');
  return (
    <>
      <PageHeader title={<span className="mono-title">{title}</span>} docTitle={title}
        crumbs={[{ label: 'Repositories', to: '/repositories' }, { label: ns, to: orgUrl(ns) }, { label: name.slice(ns.length + 1), to: repoUrl(name) }, { label: byDigest ? shortDigest(reference) : reference }]} />
      <ErrorBanner error={detail.error} onRetry={detail.reload} />
      {detail.loading && !m ? <Loading label="Loading manifest…" /> : m ? (
        <div className="tag-layout">
          <div className="tag-main">
            <Section title="Overview">
              <Facts items={[
                ['Digest', <span className="digest-full"><code>{m.digest}</code> <CopyButton text={m.digest} what="digest" /></span>],
                ['Type', <>{mediaTypeLabel(m.mediaType)} <span className="muted small mono">{m.mediaType}</span></>],
                ...(artifactTypeOf(m.artifactType) ? [['Artifact type', <code>{m.artifactType}</code>] as [ReactNode, ReactNode]] : []),
                isIndex(m.mediaType)
                  ? ['Size', <>{formatBytes(m.size)} <span className="muted small">(the index itself; {plural(m.children.length, 'platform')}, each with its own size)</span></>]
                  : ['Size', <>{formatBytes(totalSize(m))} <span className="muted small">({m.layers.length ? `manifest, configuration and ${plural(m.layers.length, 'layer')}` : 'manifest'})</span></>],
                ...(m.config?.os ? [['Platform', formatPlatform({ os: m.config.os, architecture: m.config.architecture ?? '?', variant: m.config.variant })] as [ReactNode, ReactNode]] : []),
                ...(m.config?.created ? [['Created', formatTime(Date.parse(m.config.created))] as [ReactNode, ReactNode]] : []),
                ...(m.pushedAt ? [['Pushed', formatTime(m.pushedAt)] as [ReactNode, ReactNode]] : []),
                ['Tags', m.tags.length ? <span className="chips">{m.tags.map((t) => <Link key={t} className="chip" to={tagUrl(name, t)}>{t}</Link>)}</span> : <span className="muted">untagged</span>],
              ]} />
              <h3 className="subhead">Pull</h3>
              <div className="stack">
                {!byDigest ? pullCommands(host, name, reference, m.artifactType).map((c) => <CopyField key={c.label} value={c.command} what={`${c.label} pull by tag`} />) : null}
                {pullCommands(host, name, m.digest, m.artifactType).map((c) => <CopyField key={c.label} value={c.command} what={`${c.label} pull by digest`} />)}
              </div>
            </Section>
            <Tabs label="Manifest details" tabs={tabs} selected={tabs.some((t) => t.id === tab) ? tab! : tabs[0]?.id}
              onSelect={(id) => setParams(id === tabs[0]?.id ? {} : { tab: id }, { replace: true })} />
          </div>
          <aside className="tag-side" aria-label="Security">
            <SecurityPanel referrers={m.referrers} />
          </aside>
        </div>
      ) : null}
    </>
  );
}

function totalSize(m: ManifestDetail): number {
  const c = (m.manifest as { config?: { size?: number } }).config?.size ?? 0;
  return m.size + c + m.layers.reduce((a, l) => a + l.size, 0);
}

function tabsFor(name: string, m: ManifestDetail) {
  const tabs: { id: string; label: string; content: ReactNode; badge?: ReactNode }[] = [];
  if (m.children.length || isIndex(m.mediaType)) tabs.push({ id: 'platforms', label: 'Platforms', badge: m.children.length, content: <Children name={name} m={m} /> });
  if (m.config) tabs.push({ id: 'config', label: 'Configuration', content: <ConfigView config={m.config} /> });
  if (m.layers.length || !isIndex(m.mediaType)) tabs.push({ id: 'layers', label: 'Layers', badge: m.layers.length, content: <Layers m={m} /> });
  tabs.push({ id: 'referrers', label: 'Referrers', badge: m.referrers.length, content: <Referrers name={name} m={m} /> });
  tabs.push({ id: 'manifest', label: 'Manifest', content: <JsonView value={m.manifest} label="Manifest JSON" /> });
  if (m.config) tabs.push({ id: 'config-json', label: 'Config JSON', content: <JsonView value={m.config} label="Image configuration JSON" /> });
  return tabs;
}

function Children({ name, m }: { name: string; m: ManifestDetail }) {
  return (
    <Table caption="Platforms of this index" rows={m.children} rowKey={(c) => c.digest}
      columns={[
        { key: 'platform', header: 'Platform', render: (c) => c.platform ? <strong>{formatPlatform(c.platform)}</strong> : c.artifactType ? <span>artifact <code>{c.artifactType}</code></span> : <span className="muted">unknown</span> },
        { key: 'digest', header: 'Digest', render: (c) => <Link to={tagUrl(name, c.digest)} className="mono">{shortDigest(c.digest)}</Link> },
        { key: 'type', header: 'Type', optional: true, render: (c) => <span className="small">{mediaTypeLabel(c.mediaType)}</span> },
        { key: 'size', header: 'Manifest size', align: 'right', render: (c) => formatBytes(c.size) },
      ]}
      empty={<EmptyState title="This index lists no manifests" />} />
  );
}

function List({ values }: { values: string[] | null | undefined }) {
  if (!values || values.length === 0) return <span className="muted">—</span>;
  return <code className="cmd">{values.map((v) => (/[\s"]/.test(v) ? JSON.stringify(v) : v)).join(' ')}</code>;
}

function ConfigView({ config }: { config: ImageConfig }) {
  const c = config.config ?? {};
  const env = (c.Env ?? []).map((e) => { const i = e.indexOf('='); return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)]; });
  const labels = Object.entries(c.Labels ?? {});
  const ports = Object.keys(c.ExposedPorts ?? {});
  const volumes = Object.keys(c.Volumes ?? {});
  const history = config.history ?? [];
  return (
    <div className="stack-lg">
      <Facts items={[
        ['Entrypoint', <List values={c.Entrypoint} />],
        ['Command', <List values={c.Cmd} />],
        ['Working directory', c.WorkingDir ? <code>{c.WorkingDir}</code> : <span className="muted">—</span>],
        ['User', c.User ? <code>{c.User}</code> : <span className="muted">— (root)</span>],
        ['Exposed ports', ports.length ? <span className="chips">{ports.map((p) => <span key={p} className="chip mono">{p}</span>)}</span> : <span className="muted">none</span>],
        ...(volumes.length ? [['Volumes', <span className="chips">{volumes.map((v) => <span key={v} className="chip mono">{v}</span>)}</span>] as [ReactNode, ReactNode]] : []),
        ...(c.StopSignal ? [['Stop signal', c.StopSignal] as [ReactNode, ReactNode]] : []),
        ...(config.author ? [['Author', config.author] as [ReactNode, ReactNode]] : []),
      ]} />
      <div>
        <h3 className="subhead">Environment</h3>
        <Table caption="Environment variables" rows={env} rowKey={(e) => e[0]}
          columns={[
            { key: 'k', header: 'Variable', width: '30%', render: (e) => <code>{e[0]}</code> },
            { key: 'v', header: 'Value', render: (e) => <code className="wrap">{e[1]}</code> },
          ]}
          empty={<p className="muted">No environment variables.</p>} />
      </div>
      <div>
        <h3 className="subhead">Labels</h3>
        <Table caption="Labels" rows={labels} rowKey={(l) => l[0]}
          columns={[
            { key: 'k', header: 'Label', width: '40%', render: (l) => <code className="wrap">{l[0]}</code> },
            { key: 'v', header: 'Value', render: (l) => <span className="wrap">{/^https?:\/\//.test(l[1]) ? <a href={l[1]} rel="noreferrer noopener" target="_blank">{l[1]}</a> : l[1]}</span> },
          ]}
          empty={<p className="muted">No labels.</p>} />
      </div>
      <div>
        <h3 className="subhead">History</h3>
        <Table caption="Build history" rows={history.map((h, i) => ({ ...h, i }))} rowKey={(h) => h.i}
          columns={[
            { key: 'n', header: '#', width: '3rem', render: (h) => h.i + 1 },
            { key: 'by', header: 'Created by', render: (h) => <code className="wrap small">{h.created_by ?? h.comment ?? ''}</code> },
            { key: 'layer', header: 'Layer', width: '6rem', render: (h) => (h.empty_layer ? <span className="muted">empty</span> : <Badge tone="info">layer</Badge>) },
            { key: 'when', header: 'Created', optional: true, width: '11rem', render: (h) => (h.created ? formatTime(Date.parse(h.created)) : '—') },
          ]}
          empty={<p className="muted">The configuration records no history.</p>} />
      </div>
    </div>
  );
}

function Layers({ m }: { m: ManifestDetail }) {
  // History entries that made a layer, in order, tell what each layer is.
  const made = (m.config?.history ?? []).filter((h) => !h.empty_layer);
  const total = m.layers.reduce((a, l) => a + l.size, 0);
  return (
    <>
      <Table caption="Layers" rows={m.layers.map((l, i) => ({ ...l, i }))} rowKey={(l) => `${l.i}-${l.digest}`}
        columns={[
          { key: 'n', header: '#', width: '3rem', render: (l) => l.i + 1 },
          { key: 'digest', header: 'Digest', render: (l) => <span className="digest-cell"><code title={l.digest}>{shortDigest(l.digest)}</code><CopyButton text={l.digest} what={`digest of layer ${l.i + 1}`} label="Copy" /></span> },
          { key: 'by', header: 'Created by', optional: true, render: (l) => <code className="wrap small">{made[l.i]?.created_by ?? ''}</code> },
          { key: 'type', header: 'Type', optional: true, render: (l) => <span className="small">{mediaTypeLabel(l.mediaType)}</span> },
          { key: 'size', header: 'Size', align: 'right', render: (l) => formatBytes(l.size) },
        ]}
        empty={<EmptyState title="No layers">This manifest carries no layers (an artifact or an empty image).</EmptyState>} />
      {m.layers.length ? <p className="table-foot">Total {formatBytes(total)} compressed in {plural(m.layers.length, 'layer')}.</p> : null}
    </>
  );
}

const KIND_LABEL = { signature: 'Signatures', sbom: 'SBOMs', attestation: 'Attestations', other: 'Other artifacts' } as const;

function Referrers({ name, m }: { name: string; m: ManifestDetail }) {
  if (!m.referrers.length) {
    return <EmptyState title="No referrers" icon="link">Signatures, SBOMs and attestations pushed for this manifest (OCI referrers, e.g. with cosign, notation or oras) appear here.</EmptyState>;
  }
  const groups = (['signature', 'sbom', 'attestation', 'other'] as const).map((k) => [k, m.referrers.filter((r) => referrerKind(r.artifactType) === k)] as const).filter(([, rs]) => rs.length);
  return (
    <div className="stack-lg">
      {groups.map(([k, rs]) => (
        <Fragment key={k}>
          <h3 className="subhead">{KIND_LABEL[k]} <span className="muted">({rs.length})</span></h3>
          <Table caption={KIND_LABEL[k]} rows={rs} rowKey={(r) => r.digest}
            columns={[
              { key: 'type', header: 'Artifact type', render: (r) => <code className="wrap">{r.artifactType ?? r.mediaType}</code> },
              { key: 'digest', header: 'Digest', render: (r) => <Link className="mono" to={tagUrl(name, r.digest)}>{shortDigest(r.digest)}</Link> },
              { key: 'created', header: 'Created', optional: true, render: (r) => { const c = r.annotations?.['org.opencontainers.image.created']; return c ? formatTime(Date.parse(c)) : '—'; } },
              { key: 'size', header: 'Size', align: 'right', render: (r) => formatBytes(r.size) },
            ]} />
        </Fragment>
      ))}
    </div>
  );
}
