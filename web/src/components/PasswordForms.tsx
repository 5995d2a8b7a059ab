/**
 * What the password screens share: the signed-out card (title, language, status and error lines)
 * that sign-in and set-password sit in, and the new-password pair (typed twice, checked for
 * length and sameness before any request) that set-password and the change-password page use.
 */
import type { ComponentChildren, Ref } from 'preact';
import { useEffect } from 'preact/hooks';
import { MIN_PASSWORD_LENGTH } from '../auth';
import { LANGUAGES, getLanguage, setLanguage, t } from '../i18n';
import type { Lang } from '../i18n';

/** Why a new password typed twice cannot be sent, as a message, or null when it can. */
export function newPasswordProblem(password: string, repeat: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return t('setpw.tooShort', { count: MIN_PASSWORD_LENGTH });
  if (password !== repeat) return t('setpw.mismatch');
  return null;
}

/** The message for a refusal every password form can meet: throttled (429) or unreachable. */
export function commonRefusal(reason: 'throttled' | 'error', retryAfter?: number): string {
  return reason === 'throttled' ? t('signin.throttled', { seconds: retryAfter ?? 60 }) : t('signin.error');
}

export function FormMessages({ note, error }: { note?: string | null; error: string | null }) {
  return (
    <>
      {note && (
        <p class="note" role="status">
          {note}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

/** The card of a signed-out page: its title (also the document's), a language picker, messages. */
export function AuthCard({ title, note, error, children }: { title: string; note?: string | null; error: string | null; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · ${t('app.name')}`;
  }, [title]);
  return (
    <main id="main" class="signin">
      <div class="signin-card">
        <h1>{title}</h1>
        <label class="lang signin-lang">
          {t('app.language')}{' '}
          <select value={getLanguage()} onChange={(e) => setLanguage((e.target as HTMLSelectElement).value as Lang)}>
            {LANGUAGES.map((l) => (
              <option value={l.code}>{l.name}</option>
            ))}
          </select>
        </label>
        <FormMessages note={note} error={error} />
        {children}
      </div>
    </main>
  );
}

/** The new password and its repetition (form fields `password` and `repeat`), with the rule. */
export function NewPasswordFields({ inputRef }: { inputRef?: Ref<HTMLInputElement> }) {
  return (
    <>
      <label>
        {t('setpw.password')}
        <input ref={inputRef} name="password" type="password" autocomplete="new-password" minLength={MIN_PASSWORD_LENGTH} required />
      </label>
      <label>
        {t('setpw.repeat')}
        <input name="repeat" type="password" autocomplete="new-password" minLength={MIN_PASSWORD_LENGTH} required />
      </label>
      <p class="muted small">{t('setpw.rules', { count: MIN_PASSWORD_LENGTH })}</p>
    </>
  );
}
