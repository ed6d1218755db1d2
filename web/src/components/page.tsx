// Page furniture: the header with the page's one h1 (focused after navigation), breadcrumbs and actions;
// sections as titled cards.
import { useId, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { useTitle } from '../hooks';

export interface Crumb { label: string; to?: string }

export function PageHeader({ title, crumbs, actions, subtitle, docTitle }: { title: ReactNode; crumbs?: Crumb[]; actions?: ReactNode; subtitle?: ReactNode; docTitle?: string }) {
  useTitle(docTitle ?? (typeof title === 'string' ? title : ''));
  return (
    <header className="page-header">
      {crumbs?.length ? (
        <nav aria-label="Breadcrumb" className="breadcrumbs">
          <ol>
            {crumbs.map((c, i) => <li key={i}>{c.to ? <Link to={c.to}>{c.label}</Link> : <span>{c.label}</span>}</li>)}
          </ol>
        </nav>
      ) : null}
      <div className="page-title-row">
        <h1 tabIndex={-1} className="page-title">{title}</h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
      {subtitle ? <div className="page-subtitle">{subtitle}</div> : null}
    </header>
  );
}

export function Section({ title, children, actions, id, description }: { title: ReactNode; children: ReactNode; actions?: ReactNode; id?: string; description?: ReactNode }) {
  const auto = useId();
  const hid = id ?? auto;
  return (
    <section className="card" aria-labelledby={hid}>
      <div className="card-head">
        <h2 id={hid}>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </div>
      {description ? <p className="card-description">{description}</p> : null}
      {children}
    </section>
  );
}

export function Badge({ children, tone = 'neutral', title }: { children: ReactNode; tone?: 'neutral' | 'success' | 'danger' | 'warning' | 'info'; title?: string }) {
  return <span className={`badge badge-${tone}`} title={title}>{children}</span>;
}

/** Key/value pairs as a description list. */
export function Facts({ items }: { items: [ReactNode, ReactNode][] }) {
  return (
    <dl className="facts">
      {items.map(([k, v], i) => <div key={i} className="fact"><dt>{k}</dt><dd>{v}</dd></div>)}
    </dl>
  );
}
