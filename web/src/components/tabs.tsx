// WAI-ARIA tabs: arrow keys, Home and End move between tabs; the selected one may be driven by the URL.
import { useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

export interface Tab { id: string; label: ReactNode; content: ReactNode; badge?: ReactNode }

export function Tabs({ tabs, selected, onSelect, label }: { tabs: Tab[]; selected?: string; onSelect?: (id: string) => void; label: string }) {
  const [own, setOwn] = useState(tabs[0]?.id);
  const current = selected ?? own;
  const base = useId();
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const select = (id: string, focus = false) => {
    if (onSelect) onSelect(id); else setOwn(id);
    if (focus) refs.current[id]?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    const i = tabs.findIndex((t) => t.id === current);
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = tabs.length - 1;
    if (j >= 0) { e.preventDefault(); select(tabs[j].id, true); }
  };
  const active = tabs.find((t) => t.id === current) ?? tabs[0];
  return (
    <div className="tabs">
      <div role="tablist" aria-label={label} className="tablist" onKeyDown={onKey}>
        {tabs.map((t) => (
          <button key={t.id} ref={(el) => { refs.current[t.id] = el; }} role="tab" type="button" id={`${base}-tab-${t.id}`}
            aria-selected={t.id === active?.id} aria-controls={`${base}-panel-${t.id}`} tabIndex={t.id === active?.id ? 0 : -1}
            className="tab" onClick={() => select(t.id)}>
            {t.label}{t.badge !== undefined ? <span className="tab-badge">{t.badge}</span> : null}
          </button>
        ))}
      </div>
      {active ? (
        <div role="tabpanel" id={`${base}-panel-${active.id}`} aria-labelledby={`${base}-tab-${active.id}`} className="tabpanel" tabIndex={0}>
          {active.content}
        </div>
      ) : null}
    </div>
  );
}
