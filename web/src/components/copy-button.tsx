import { useEffect, useRef, useState } from 'react';
import { Icon } from './icon';

/** Copies text; works on plain-HTTP pages too, where navigator.clipboard is not available. */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch { /* fall back below */ }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  const focused = document.activeElement as HTMLElement | null;
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  focused?.focus();
  if (!ok) throw new Error('copy failed');
}

export function CopyButton({ text, label = 'Copy', what, size = 'sm' }: { text: string; label?: string; /** for screen readers: "Copy pull command" */ what?: string; size?: 'sm' | 'md' }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const click = async () => {
    try {
      await copyText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState('idle'), 2000);
  };
  return (
    <button type="button" className={`btn btn-secondary copy-button ${size === 'sm' ? 'btn-sm' : ''}`} onClick={click} aria-label={what ? `${label}: ${what}` : undefined} data-state={state}>
      <Icon name={state === 'copied' ? 'check' : 'copy'} size={14} />
      <span>{state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : label}</span>
      <span className="visually-hidden" aria-live="polite">{state === 'copied' ? 'Copied to the clipboard' : state === 'failed' ? 'Copying failed; select the text and copy it' : ''}</span>
    </button>
  );
}

/** A command or value in a monospace box with a copy button beside it. */
export function CopyField({ value, what, wrap }: { value: string; what: string; /** show all of it on several lines (secrets) */ wrap?: boolean }) {
  return (
    <div className={`copy-field ${wrap ? 'copy-field-wrap' : ''}`}>
      <code className="copy-field-value" tabIndex={0} aria-label={`${what}: ${value}`}>{value}</code>
      <CopyButton text={value} what={what} />
    </div>
  );
}
