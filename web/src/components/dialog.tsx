// A modal dialog on the native <dialog> element: the browser traps focus, makes the page behind it inert
// and closes it on Escape. Focus goes to the first field (or the dialog) on open and back to the opener
// on close.
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Button } from './button';
import { ErrorBanner } from './error-banner';

export interface DialogProps {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  /** wraps the body in a form; the footer's submit button submits it */
  onSubmit?: (e: FormEvent<HTMLFormElement>) => void;
  wide?: boolean;
  description?: ReactNode;
}

export function Dialog({ open, title, onClose, children, footer, onSubmit, wide, description }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  const titleId = useId();
  const descId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement as HTMLElement | null;
      d.showModal();
      // The first field; else the first button of the body; else the footer's first button (Cancel).
      const first = d.querySelector<HTMLElement>('.dialog-body :is(input:not([type=hidden]):not([disabled]), select, textarea, button)')
        ?? d.querySelector<HTMLElement>('.dialog-footer button');
      (first ?? d).focus();
    } else if (!open && d.open) {
      d.close();
    }
  }, [open]);
  useEffect(() => {
    if (!open) {
      const o = opener.current;
      opener.current = null;
      if (o && document.contains(o)) o.focus();
    }
  }, [open]);
  const body = (
    <>
      <header className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="dialog-close" onClick={onClose} aria-label="Close dialog">×</button>
      </header>
      {description ? <div id={descId} className="dialog-description">{description}</div> : null}
      <div className="dialog-body">{children}</div>
      {footer ? <footer className="dialog-footer">{footer}</footer> : null}
    </>
  );
  return (
    <dialog ref={ref} className={`dialog ${wide ? 'dialog-wide' : ''}`} aria-labelledby={titleId} aria-describedby={description ? descId : undefined}
      tabIndex={-1} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open ? (onSubmit ? <form onSubmit={(e) => { e.preventDefault(); onSubmit(e); }} noValidate={false}>{body}</form> : body) : null}
    </dialog>
  );
}

/** "Are you sure?" with the action's own error shown inside the dialog. */
export function ConfirmDialog({ open, title, children, confirmLabel, danger, onConfirm, onClose }: {
  open: boolean; title: string; children: ReactNode; confirmLabel: string; danger?: boolean;
  onConfirm: () => Promise<void>; onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => { if (open) { setError(null); setBusy(false); } }, [open]);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={open} title={title} onClose={onClose} onSubmit={confirm}
      footer={<>
        <Button onClick={onClose}>Cancel</Button>
        <Button type="submit" variant={danger ? 'danger' : 'primary'} busy={busy}>{confirmLabel}</Button>
      </>}>
      <div className="confirm-text">{children}</div>
      <ErrorBanner error={error} />
    </Dialog>
  );
}
