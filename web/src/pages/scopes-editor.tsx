// Edits a list of scopes: repository pattern plus pull / push / delete.
import type { Action, Scope } from '../api-types';
import { Button } from '../components/button';
import { Input } from '../components/field';

const ACTIONS: Action[] = ['pull', 'push', 'delete'];

export function ScopesEditor({ scopes, onChange, placeholder }: { scopes: Scope[]; onChange: (s: Scope[]) => void; placeholder: string }) {
  const set = (i: number, s: Scope) => onChange(scopes.map((x, j) => (j === i ? s : x)));
  return (
    <fieldset className="scopes">
      <legend>Scopes</legend>
      <p className="field-hint"><code>*</code> matches within one path component, <code>**</code> across them.</p>
      {scopes.map((s, i) => (
        <div key={i} className="scope-row">
          <Input label={`Repository pattern ${i + 1}`} className="grow" value={s.pattern} placeholder={placeholder} required spellCheck={false} autoCapitalize="none"
            onChange={(e) => set(i, { ...s, pattern: e.target.value })} />
          <div className="scope-actions" role="group" aria-label={`Actions for pattern ${i + 1}`}>
            {ACTIONS.map((a) => (
              <label key={a} className="check-inline">
                <input type="checkbox" checked={s.actions.includes(a)}
                  onChange={(e) => set(i, { ...s, actions: e.target.checked ? ACTIONS.filter((x) => x === a || s.actions.includes(x)) : s.actions.filter((x) => x !== a) })} />
                {a}
              </label>
            ))}
          </div>
          {scopes.length > 1 ? <Button size="sm" variant="ghost" onClick={() => onChange(scopes.filter((_, j) => j !== i))} aria-label={`Remove pattern ${i + 1}`}>Remove</Button> : null}
        </div>
      ))}
      <Button size="sm" onClick={() => onChange([...scopes, { pattern: '', actions: ['pull'] }])}>Add a pattern</Button>
    </fieldset>
  );
}

export function ScopeList({ scopes }: { scopes: Scope[] | null }) {
  if (scopes === null) return <span className="muted">everything the user may do</span>;
  if (!scopes.length) return <span className="muted">none</span>;
  return <ul className="scope-list">{scopes.map((s, i) => <li key={i}><code>{s.pattern}</code> <span className="muted">{s.actions.join(', ')}</span></li>)}</ul>;
}
