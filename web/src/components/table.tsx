// A data table with optional sortable columns (buttons in the headers, aria-sort on the column).
import type { ReactNode } from 'react';

export interface Column<T> {
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  sortable?: boolean;
  align?: 'left' | 'right';
  /** CSS width, e.g. '8rem' */
  width?: string;
  /** hidden below ~800 px wide, for less important columns */
  optional?: boolean;
  className?: string;
}

export interface SortState { key: string; order: 'asc' | 'desc' }

export function Table<T>({ columns, rows, rowKey, caption, sort, onSort, empty, rowClassName }: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  /** for screen readers (visually hidden) */
  caption: string;
  sort?: SortState;
  onSort?: (s: SortState) => void;
  empty?: ReactNode;
  rowClassName?: (row: T) => string | undefined;
}) {
  if (rows.length === 0 && empty) return <>{empty}</>;
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">{caption}{sort ? `, sorted by ${sort.key} ${sort.order === 'asc' ? 'ascending' : 'descending'}` : ''}</caption>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = sort?.key === c.key;
              return (
                <th key={c.key} scope="col" style={c.width ? { width: c.width } : undefined}
                  className={[c.align === 'right' ? 'num' : '', c.optional ? 'optional' : '', c.className ?? ''].join(' ').trim() || undefined}
                  aria-sort={c.sortable ? (active ? (sort!.order === 'asc' ? 'ascending' : 'descending') : 'none') : undefined}>
                  {c.sortable && onSort ? (
                    <button type="button" className="sort-button" onClick={() => onSort({ key: c.key, order: active && sort!.order === 'asc' ? 'desc' : active ? 'asc' : c.align === 'right' ? 'desc' : 'asc' })}>
                      {c.header}
                      <span className="sort-indicator" aria-hidden="true">{active ? (sort!.order === 'asc' ? '▲' : '▼') : '↕'}</span>
                    </button>
                  ) : c.header}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)} className={rowClassName?.(r)}>
              {columns.map((c) => (
                <td key={c.key} className={[c.align === 'right' ? 'num' : '', c.optional ? 'optional' : '', c.className ?? ''].join(' ').trim() || undefined}>{c.render(r)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Previous / next for cursor-paged lists. */
export function Pager({ onPrevious, onNext, hasPrevious, hasNext, label, busy }: { onPrevious?: () => void; onNext?: () => void; hasPrevious: boolean; hasNext: boolean; label?: string; busy?: boolean }) {
  if (!hasPrevious && !hasNext) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="btn btn-secondary btn-sm" onClick={onPrevious} disabled={!hasPrevious || busy}>← Previous</button>
      {label ? <span className="muted" aria-live="polite">{label}</span> : null}
      <button type="button" className="btn btn-secondary btn-sm" onClick={onNext} disabled={!hasNext || busy}>Next →</button>
    </nav>
  );
}
