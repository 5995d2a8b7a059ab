// Set-password page: the link an admin sends (`/set-password#token=...`) sets the password once.
import { useEffect, useRef, useState } from 'preact/hooks';
import { MIN_PASSWORD_LENGTH, inviteTokenFrom, setPasswordWithInvite } from '../auth';
import { LANGUAGES, getLanguage, setLanguage, t, type Lang } from '../i18n';
import { navigate } from '../router';

export function SetPassword() {
  const [token] = useState(() => inviteTokenFrom(typeof window === 'undefined' ? '' : window.location.hash));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = `${t('setpw.title')} · ${t('app.name')}`;
    passwordRef.current?.focus();
  }, []);

  async function onSubmit(event: Event) {
    event.preventDefault();
    if (!token) return;
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const password = String(form.get('password') ?? '');
    if (password.length < MIN_PASSWORD_LENGTH) return setError(t('setpw.tooShort', { count: MIN_PASSWORD_LENGTH }));
    if (password !== String(form.get('repeat') ?? '')) return setError(t('setpw.mismatch'));
    setBusy(true);
    setError(null);
    const result = await setPasswordWithInvite(token, password);
    setBusy(false);
    if (result.ok) {
      // the token leaves the address bar and the history entry with this navigation
      navigate('/signin', { replace: true });
      return;
    }
    if (result.reason === 'invalidLink') setError(t('setpw.invalidLink'));
    else if (result.reason === 'weak') setError(result.detail ?? t('setpw.tooShort', { count: MIN_PASSWORD_LENGTH }));
    else if (result.reason === 'throttled') setError(t('signin.throttled', { seconds: result.retryAfter ?? 60 }));
    else setError(t('signin.error'));
  }

  return (
    <main id="main" class="signin">
      <div class="signin-card">
        <h1>{t('setpw.title')}</h1>
        <label class="lang signin-lang">
          {t('app.language')}{' '}
          <select value={getLanguage()} onChange={(e) => setLanguage((e.target as HTMLSelectElement).value as Lang)}>
            {LANGUAGES.map((l) => (
              <option value={l.code}>{l.name}</option>
            ))}
          </select>
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {token ? (
          <form onSubmit={onSubmit} aria-label={t('setpw.submit')}>
            <label>
              {t('setpw.password')}
              <input ref={passwordRef} name="password" type="password" autocomplete="new-password" minLength={MIN_PASSWORD_LENGTH} required />
            </label>
            <label>
              {t('setpw.repeat')}
              <input name="repeat" type="password" autocomplete="new-password" minLength={MIN_PASSWORD_LENGTH} required />
            </label>
            <p class="muted small">{t('setpw.rules', { count: MIN_PASSWORD_LENGTH })}</p>
            <button type="submit" class="primary" disabled={busy}>
              {t('setpw.submit')}
            </button>
          </form>
        ) : (
          <p role="alert">{t('setpw.noToken')}</p>
        )}
        <p>
          <a href="/signin" onClick={(e) => { e.preventDefault(); navigate('/signin'); }}>
            {t('setpw.toSignIn')}
          </a>
        </p>
      </div>
    </main>
  );
}
