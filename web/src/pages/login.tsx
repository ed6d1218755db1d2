// Sign in: user name and password (local or directory accounts), then a one-time code when the account
// has a second factor (the API answers 401 SECOND_FACTOR_REQUIRED).
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { Button } from '../components/button';
import { ErrorBanner } from '../components/error-banner';
import { Input } from '../components/field';
import { useTitle } from '../hooks';
import { useSession } from '../session';

export function LoginPage() {
  const { signIn, notice } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<'password' | 'code'>('password');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const codeInput = useRef<HTMLInputElement>(null);
  useTitle(step === 'code' ? 'Enter your code' : 'Sign in');
  useEffect(() => { if (step === 'code') codeInput.current?.focus(); }, [step]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username.trim(), password, step === 'code' ? code.trim() : undefined);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SECOND_FACTOR_REQUIRED' && step === 'password') {
        setStep('code');
      } else {
        setError(err);
        if (step === 'code') setCode('');
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <div className="login-card">
        <div className="login-brand" aria-hidden="true">
          <svg viewBox="0 0 32 32" width="40" height="40"><rect width="32" height="32" rx="7" className="brand-mark" fill="currentColor" /><path d="M6 20h20l-3 6H9z" fill="#fff" /><path d="M9 9h6v9H9zM17 6h6v12h-6z" fill="#c9d8ff" /></svg>
        </div>
        <h1 ref={heading} tabIndex={-1}>{step === 'code' ? 'Enter your one-time code' : 'Sign in to Berth'}</h1>
        {notice && step === 'password' ? <p className="banner banner-info" role="status">{notice}</p> : null}
        <ErrorBanner error={error} title={error instanceof ApiError && error.status === 401 ? 'Sign-in failed' : undefined} />
        <form onSubmit={submit} className="form">
          {step === 'password' ? (
            <>
              <Input label="User name" name="username" autoComplete="username" autoCapitalize="none" spellCheck={false} required autoFocus
                value={username} onChange={(e) => setUsername(e.target.value)} hint="Your Berth or directory (LDAP) account" />
              <Input label="Password" name="password" type="password" autoComplete="current-password" required
                value={password} onChange={(e) => setPassword(e.target.value)} />
            </>
          ) : (
            <>
              <p>Your account has a second factor. Enter the six-digit code from your authenticator app for <strong>{username}</strong>.</p>
              <Input ref={codeInput} label="One-time code" name="code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required
                value={code} onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))} />
            </>
          )}
          <Button type="submit" variant="primary" busy={busy} className="btn-block">{step === 'code' ? 'Verify and sign in' : 'Sign in'}</Button>
          {step === 'code' ? (
            <Button variant="ghost" onClick={() => { setStep('password'); setCode(''); setError(null); }}>Use a different account</Button>
          ) : null}
        </form>
        <p className="muted small login-foot">Registry clients (docker, podman, skopeo) log in with the same account, or with a personal access token when a second factor is on.</p>
      </div>
    </main>
  );
}
