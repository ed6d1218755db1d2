// Form controls with their label, hint and error wired up for assistive technology.
import { useId, type ComponentProps, type ReactNode } from 'react';

interface FieldProps { label: ReactNode; hint?: ReactNode; error?: string | null; className?: string; hideLabel?: boolean }

function describedBy(id: string, hint?: ReactNode, error?: string | null) {
  return [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
}

function Wrap({ id, label, hint, error, className, hideLabel, children }: FieldProps & { id: string; children: ReactNode }) {
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : 'field-label'}>{label}</label>
      {children}
      {hint ? <div id={`${id}-hint`} className="field-hint">{hint}</div> : null}
      {error ? <div id={`${id}-error`} className="field-error">{error}</div> : null}
    </div>
  );
}

export function Input({ label, hint, error, className, hideLabel, id, ...rest }: FieldProps & ComponentProps<'input'>) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Wrap id={fid} label={label} hint={hint} error={error} className={className} hideLabel={hideLabel}>
      <input {...rest} id={fid} className="input" aria-invalid={error ? true : undefined} aria-describedby={describedBy(fid, hint, error)} />
    </Wrap>
  );
}

export function Textarea({ label, hint, error, className, hideLabel, id, ...rest }: FieldProps & ComponentProps<'textarea'>) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Wrap id={fid} label={label} hint={hint} error={error} className={className} hideLabel={hideLabel}>
      <textarea {...rest} id={fid} className="input" aria-invalid={error ? true : undefined} aria-describedby={describedBy(fid, hint, error)} />
    </Wrap>
  );
}

export interface Option { value: string; label: string; disabled?: boolean }
export function Select({ label, hint, error, className, hideLabel, id, options, ...rest }: FieldProps & ComponentProps<'select'> & { options: Option[] }) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Wrap id={fid} label={label} hint={hint} error={error} className={className} hideLabel={hideLabel}>
      <select {...rest} id={fid} className="input select" aria-invalid={error ? true : undefined} aria-describedby={describedBy(fid, hint, error)}>
        {options.map((o) => <option key={o.value} value={o.value} disabled={o.disabled}>{o.label}</option>)}
      </select>
    </Wrap>
  );
}

export function Checkbox({ label, hint, className, id, ...rest }: { label: ReactNode; hint?: ReactNode; className?: string } & ComponentProps<'input'>) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <div className={`checkbox ${className ?? ''}`}>
      <input {...rest} type="checkbox" id={fid} aria-describedby={hint ? `${fid}-hint` : undefined} />
      <label htmlFor={fid}>{label}</label>
      {hint ? <div id={`${fid}-hint`} className="field-hint">{hint}</div> : null}
    </div>
  );
}
