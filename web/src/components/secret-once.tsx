// A secret the server shows only once (robot secret, access token, webhook signing secret).
import type { ReactNode } from 'react';
import { CopyField } from './copy-button';

export function SecretOnce({ secret, what, children }: { secret: string; what: string; children?: ReactNode }) {
  return (
    <div className="secret-once" data-testid="secret-once">
      <p className="banner banner-warning" role="note">
        <strong>Copy this {what} now.</strong> Berth stores only a hash of it and will not show it again.
      </p>
      <CopyField value={secret} what={what} wrap />
      {children}
    </div>
  );
}
