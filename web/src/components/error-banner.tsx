import type { ReactNode } from 'react';
import { ApiError, messageOf } from '../api';
import { Button } from './button';

/** An error as a person reads it: the API's message (never raw JSON), the request id for support, a retry. */
export function ErrorBanner({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  if (!error) return null;
  const requestId = error instanceof ApiError ? error.requestId : undefined;
  const denied = error instanceof ApiError && error.code === 'DENIED';
  const notFound = error instanceof ApiError && error.code === 'NOT_FOUND';
  return (
    <div className="banner banner-error" role="alert">
      <div>
        <strong>{title ?? (denied ? 'Not allowed' : notFound ? 'Not found' : 'Something went wrong')}</strong>
        <p>{messageOf(error)}</p>
        {requestId ? <p className="muted small">Request id: <code>{requestId}</code></p> : null}
      </div>
      {onRetry ? <Button size="sm" onClick={onRetry}>Try again</Button> : null}
    </div>
  );
}

export function Banner({ kind = 'info', children }: { kind?: 'info' | 'success' | 'warning'; children: ReactNode }) {
  return <div className={`banner banner-${kind}`} role={kind === 'warning' ? 'note' : 'status'}>{children}</div>;
}
