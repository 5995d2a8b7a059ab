// Sign-in: email and password (a session); an API token as the secondary way (scripts' tokens,
// or a gateway without sessions).
import { useEffect, useRef, useState } from 'preact/hooks';
import { signInWithPassword, signInWithToken, takeHandedOverEmail } from '../auth';
import { t } from '../i18n';
import { AuthCard, commonRefusal } from './PasswordForms';

export function SignIn() {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [email] = useState(takeHandedOverEmail);
  const [note, setNote] = useState<string | null>(email ? t('setpw.done') : null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const tokenRef = useRef<HTMLInputElement>(null);
  const emailRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    (mode === 'token' ? tokenRef : email ? passwordRef : emailRef).current?.focus();
  }, [mode]);

  async function onPassword(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    const result = await signInWithPassword(String(form.get('email') ?? ''), String(form.get('password') ?? ''));
    setBusy(false);
    if (result.ok) return;
    if (result.reason === 'unsupported') {
      setNote(t('signin.unsupported'));
      setMode('token');
    } else if (result.reason === 'invalid') setError(t('signin.invalid'));
    else setError(commonRefusal(result.reason, result.retryAfter));
  }

  async function onToken(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    const result = await signInWithToken(String(form.get('token') ?? ''));
    setBusy(false);
    if (!result.ok) setError(result.status === 0 ? t('signin.error') : t('signin.tokenInvalid'));
  }

  return (
    <AuthCard title={t('signin.title')} note={note} error={error}>
      {mode === 'password' ? (
        <form onSubmit={onPassword} aria-label={t('signin.submit')}>
          <label>
            {t('signin.email')}
            <input ref={emailRef} name="email" type="email" autocomplete="username" value={email ?? undefined} required />
          </label>
          <label>
            {t('signin.password')}
            <input ref={passwordRef} name="password" type="password" autocomplete="current-password" required />
          </label>
          <button type="submit" class="primary" disabled={busy}>
            {t('signin.submit')}
          </button>
          <button type="button" class="link" onClick={() => setMode('token')}>
            {t('signin.useToken')}
          </button>
        </form>
      ) : (
        <form onSubmit={onToken} aria-label={t('signin.tokenSubmit')}>
          <label>
            {t('signin.token')}
            <input ref={tokenRef} name="token" type="password" autocomplete="off" spellcheck={false} required />
          </label>
          <p class="muted small">{t('signin.tokenNote')}</p>
          <button type="submit" class="primary" disabled={busy}>
            {t('signin.tokenSubmit')}
          </button>
          <button type="button" class="link" onClick={() => setMode('password')}>
            {t('signin.usePassword')}
          </button>
        </form>
      )}
    </AuthCard>
  );
}
