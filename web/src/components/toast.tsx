// Short confirmations and errors that do not need their own place on the page. Announced politely
// (errors assertively) and dismissed after a few seconds or with the close button.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from 'react';
import { messageOf } from '../api';

type Kind = 'success' | 'error' | 'info';
interface Toast { id: number; kind: Kind; message: string }
interface ToastApi { show(message: string, kind?: Kind): void; error(e: unknown): void; success(message: string): void }

const Ctx = createContext<ToastApi | null>(null);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((t) => t.filter((x) => x.id !== id)), []);
  const show = useCallback((message: string, kind: Kind = 'info') => {
    const id = next.current++;
    setToasts((t) => [...t.slice(-3), { id, kind, message }]);
    window.setTimeout(() => dismiss(id), kind === 'error' ? 9000 : 5000);
  }, [dismiss]);
  const api = useRef<ToastApi>({ show: () => undefined, error: () => undefined, success: () => undefined });
  api.current.show = show;
  api.current.error = (e) => show(messageOf(e), 'error');
  api.current.success = (m) => show(m, 'success');
  return (
    <Ctx.Provider value={api.current}>
      {children}
      <div className="toasts" aria-live="polite" aria-relevant="additions">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            <span className="toast-icon" aria-hidden="true">{t.kind === 'success' ? '✓' : t.kind === 'error' ? '!' : 'i'}</span>
            <span className="toast-message">{t.message}</span>
            <button type="button" className="toast-close" onClick={() => dismiss(t.id)} aria-label="Dismiss notification">×</button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}

export function useToast(): ToastApi {
  const c = useContext(Ctx);
  if (!c) throw new Error('useToast outside ToastProvider');
  return c;
}
