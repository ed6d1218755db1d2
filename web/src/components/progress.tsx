export function Spinner({ label = 'Loading' }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label} />;
}

/** A centred "loading" line for a region whose data is on its way. */
export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <div className="loading" role="status"><span className="spinner" aria-hidden="true" /> {label}</div>;
}

/** A progress bar: determinate when `total` is a positive number, indeterminate otherwise. */
export function ProgressBar({ label, done, total, detail }: { label: string; done?: number; total?: number; detail?: string }) {
  const known = total !== undefined && total > 0 && done !== undefined;
  const pct = known ? Math.min(100, Math.round((done! / total!) * 100)) : undefined;
  return (
    <div className="progress">
      <div className="progress-label"><span>{label}</span>{pct !== undefined ? <span>{pct}%</span> : null}</div>
      <div className={`progress-track ${known ? '' : 'indeterminate'}`} role="progressbar" aria-label={label}
        aria-valuemin={0} aria-valuemax={known ? 100 : undefined} aria-valuenow={pct} aria-valuetext={detail ?? (pct !== undefined ? `${pct}%` : 'in progress')}>
        <div className="progress-fill" style={known ? { width: `${pct}%` } : undefined} />
      </div>
      {detail ? <div className="progress-detail" aria-hidden="true">{detail}</div> : null}
    </div>
  );
}
