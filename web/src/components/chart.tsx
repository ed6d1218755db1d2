// Hand-drawn SVG charts. Each is a <figure> whose SVG has a text summary for screen readers and a
// "Show data" table with the exact numbers; bars carry <title> tooltips. Colours come from CSS variables
// (light and dark themes) and series differ by pattern position and legend, not colour alone.
import { useId, useState, type ReactNode } from 'react';

export interface BarDatum { label: string; value: number; href?: string; hint?: string }

function DataTable({ caption, headers, rows }: { caption: string; headers: string[]; rows: ReactNode[][] }) {
  return (
    <div className="table-wrap chart-table">
      <table className="table table-compact">
        <caption className="visually-hidden">{caption}</caption>
        <thead><tr>{headers.map((h, i) => <th key={h} scope="col" className={i ? 'num' : undefined}>{h}</th>)}</tr></thead>
        <tbody>{rows.map((r, i) => <tr key={i}>{r.map((c, j) => j === 0 ? <th key={j} scope="row">{c}</th> : <td key={j} className="num">{c}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

function ChartFrame({ title, summary, children, table, actions }: { title: string; summary: string; children: ReactNode; table: ReactNode; actions?: ReactNode }) {
  const [showTable, setShowTable] = useState(false);
  const id = useId();
  return (
    <figure className="chart" aria-labelledby={`${id}-t`}>
      <figcaption className="chart-head">
        <span id={`${id}-t`} className="chart-title">{title}</span>
        <span className="chart-actions">
          {actions}
          <button type="button" className="btn btn-ghost btn-sm" aria-expanded={showTable} onClick={() => setShowTable((s) => !s)}>
            {showTable ? 'Show chart' : 'Show data'}
          </button>
        </span>
      </figcaption>
      <p className="visually-hidden">{summary}</p>
      {showTable ? table : children}
    </figure>
  );
}

/** Horizontal bars, largest first: storage per organization or repository. */
export function BarChart({ title, data, format, max = 12, unitLabel = 'Value', actions, renderLabel }: {
  title: string; data: BarDatum[]; format: (v: number) => string; max?: number; unitLabel?: string; actions?: ReactNode;
  renderLabel?: (d: BarDatum) => ReactNode;
}) {
  const shown = data.slice(0, max);
  const top = Math.max(1, ...shown.map((d) => d.value));
  const summary = shown.length
    ? `${title}: ${shown.map((d) => `${d.label} ${format(d.value)}`).join(', ')}.`
    : `${title}: no data.`;
  return (
    <ChartFrame title={title} summary={summary} actions={actions}
      table={<DataTable caption={title} headers={['Name', unitLabel]} rows={data.map((d) => [d.label, format(d.value)])} />}>
      {shown.length === 0 ? <p className="muted chart-empty">Nothing stored yet.</p> : (
        <ul className="bars">
          {shown.map((d) => (
            <li key={d.label} className="bars-row" title={`${d.label}: ${format(d.value)}${d.hint ? ` (${d.hint})` : ''}`}>
              <span className="bars-label">{renderLabel ? renderLabel(d) : d.label}</span>
              <span className="bars-track" aria-hidden="true">
                <svg className="bars-svg" viewBox="0 0 100 10" preserveAspectRatio="none" focusable="false">
                  <rect x="0" y="0" height="10" width={Math.max(0.5, (100 * d.value) / top)} className="bar" />
                </svg>
              </span>
              <span className="bars-value">{format(d.value)}</span>
            </li>
          ))}
        </ul>
      )}
      {data.length > max ? <p className="muted small">Showing the largest {max} of {data.length}; “Show data” lists all.</p> : null}
    </ChartFrame>
  );
}

export interface SeriesPoint { label: string; values: number[] }

/** Columns over time, one colour per series (e.g. pushes and pulls per day). */
export function TimeChart({ title, series, points, actions }: { title: string; series: string[]; points: SeriesPoint[]; actions?: ReactNode }) {
  const W = 720, H = 220, padL = 40, padB = 28, padT = 10, padR = 8;
  const top = Math.max(1, ...points.flatMap((p) => p.values));
  const nice = niceMax(top);
  const innerW = W - padL - padR, innerH = H - padT - padB;
  const slot = innerW / Math.max(1, points.length);
  const barW = Math.max(1.5, (slot * 0.8) / series.length);
  const ticks = [0, nice / 2, nice];
  const totals = series.map((_, s) => points.reduce((a, p) => a + p.values[s], 0));
  const summary = `${title}: ${series.map((s, i) => `${totals[i].toLocaleString()} ${s.toLowerCase()}`).join(' and ')} over ${points.length} days` +
    (points.length ? `, from ${points[0].label} to ${points[points.length - 1].label}.` : '.');
  const every = Math.ceil(points.length / 8);
  return (
    <ChartFrame title={title} summary={summary} actions={actions}
      table={<DataTable caption={title} headers={['Day', ...series]} rows={points.map((p) => [p.label, ...p.values.map((v) => v.toLocaleString())])} />}>
      <div className="legend" aria-hidden="true">
        {series.map((s, i) => <span key={s} className="legend-item"><span className={`swatch series-${i}`} />{s} <strong>{totals[i].toLocaleString()}</strong></span>)}
      </div>
      <svg className="chart-svg" viewBox={`0 0 ${W} ${H}`} role="img" aria-hidden="true">
        {ticks.map((t) => {
          const y = padT + innerH - (t / nice) * innerH;
          return (
            <g key={t}>
              <line x1={padL} x2={W - padR} y1={y} y2={y} className="grid" />
              <text x={padL - 6} y={y + 4} textAnchor="end" className="axis">{Number.isInteger(t) ? t : t.toFixed(1)}</text>
            </g>
          );
        })}
        {points.map((p, i) => (
          <g key={p.label}>
            {p.values.map((v, s) => {
              const h = (v / nice) * innerH;
              return (
                <rect key={s} x={padL + i * slot + slot * 0.1 + s * barW} y={padT + innerH - h} width={barW - 0.5} height={Math.max(h, v > 0 ? 1 : 0)} className={`series-${s}`}>
                  <title>{`${p.label}: ${v.toLocaleString()} ${series[s].toLowerCase()}`}</title>
                </rect>
              );
            })}
            {i % every === 0 ? <text x={padL + i * slot + slot / 2} y={H - 8} textAnchor="middle" className="axis">{p.label.slice(5)}</text> : null}
          </g>
        ))}
      </svg>
    </ChartFrame>
  );
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
