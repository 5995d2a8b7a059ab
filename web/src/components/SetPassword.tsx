// Set-password page: the link an admin sends (`/set-password#token=...`) sets the password once.
import { useEffect, useRef, useState } from 'preact/hooks';
import { MIN_PASSWORD_LENGTH, inviteTokenFrom, setPasswordWithInvite } from '../auth';
import { t } from '../i18n';
import { navigate } from '../router';
import { AuthCard, NewPasswordFields, commonRefusal, newPasswordProblem } from './PasswordForms';

export function SetPassword() {
  const [token] = useState(() => inviteTokenFrom(typeof window === 'undefined' ? '' : window.location.hash));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => passwordRef.current?.focus(), []);

  async function onSubmit(event: Event) {
    event.preventDefault();
    if (!token) return;
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const password = String(form.get('password') ?? '');
    const problem = newPasswordProblem(password, String(form.get('repeat') ?? ''));
    if (problem) return setError(problem);
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
    else setError(commonRefusal(result.reason, result.retryAfter));
  }

  return (
    <AuthCard title={t('setpw.title')} error={error}>
      {token ? (
        <form onSubmit={onSubmit} aria-label={t('setpw.submit')}>
          <NewPasswordFields inputRef={passwordRef} />
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
    </AuthCard>
  );
}
