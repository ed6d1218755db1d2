// Pretty-printed JSON with light syntax colouring and a copy button.
import { useMemo, type ReactNode } from 'react';
import { CopyButton } from './copy-button';

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function highlight(text: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  let k = 0;
  for (const m of text.matchAll(TOKEN)) {
    const i = m.index ?? 0;
    if (i > last) out.push(text.slice(last, i));
    if (m[1]) {
      out.push(<span key={k++} className={m[2] ? 'j-key' : 'j-str'}>{m[1]}</span>);
      if (m[2]) out.push(m[2]);
    } else if (m[3]) out.push(<span key={k++} className="j-lit">{m[3]}</span>);
    else out.push(<span key={k++} className="j-num">{m[4]}</span>);
    last = i + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function JsonView({ value, label }: { value: unknown; label: string }) {
  const text = useMemo(() => JSON.stringify(value, null, 2), [value]);
  const nodes = useMemo(() => (text.length < 400_000 ? highlight(text) : [text]), [text]);
  return (
    <div className="json-view">
      <div className="json-toolbar"><span className="muted small">{label}</span><CopyButton text={text} what={label} /></div>
      <pre className="json" tabIndex={0} aria-label={label}><code>{nodes}</code></pre>
    </div>
  );
}
