/**
 * Change your own password (`PUT /api/v1/me/password`): the current one, then the new one twice.
 * Every session of the user ends; this browser's session is renewed by the answer's cookies, so
 * the page stays signed in. A wrong current password is said next to that field.
 */
import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { people } from '../endpoints';
import { t } from '../i18n';
import { errorText } from '../store';
import { FormMessages, NewPasswordFields, newPasswordProblem } from './PasswordForms';

/** The message for a refused change: the gateway's field errors, named by the field they concern. */
export function changeRefusal(error: unknown): string {
  if (error instanceof ApiError && error.status === 422) {
    const errors = error.problem.errors ?? {};
    if (errors.current_password) return t('account.wrongCurrent');
    if (errors.new_password) return t('account.badNew', { detail: errors.new_password.join(' ') });
  }
  if (error instanceof ApiError && error.status === 429) return t('account.throttled');
  return t('app.error', { detail: errorText(error) });
}

export function ChangePasswordPage() {
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  async function onSubmit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const current = String(form.get('current') ?? '');
    const password = String(form.get('password') ?? '');
    const problem = newPasswordProblem(password, String(form.get('repeat') ?? ''));
    setNote(null);
    if (problem) return setError(problem);
    setBusy(true);
    setError(null);
    try {
      const done = await people.changePassword(current, password);
      formRef.current?.reset();
      setNote(t('account.changed', { count: done.sessions_ended }));
    } catch (e) {
      setError(changeRefusal(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="page account-page" aria-labelledby="page-title">
      <h1 id="page-title">{t('account.title')}</h1>
      <p class="muted">{t('account.note')}</p>
      <FormMessages note={note} error={error} />
      <form ref={formRef} class="stack-form" onSubmit={onSubmit} aria-labelledby="page-title">
        <label>
          {t('account.current')}
          <input name="current" type="password" autocomplete="current-password" required />
        </label>
        <NewPasswordFields />
        <button type="submit" class="primary" disabled={busy}>
          {t('account.submit')}
        </button>
      </form>
    </section>
  );
}
