// Notification preferences: per type, in the app and by email, and the email digest mode.
import { useEffect, useState } from 'preact/hooks';
import { notifications } from '../endpoints';
import { t } from '../i18n';
import { errorText } from '../store';
import { announce } from '../toast';
import { NOTIFICATION_TYPES, type Preferences } from '../types';

/** Only what differs from `saved`: the PUT names just the changed types (others keep their values). */
export function preferencesDiff(saved: Preferences, edited: Preferences): Partial<Preferences> {
  const types: Preferences['types'] = {};
  for (const [type, channels] of Object.entries(edited.types)) {
    const before = saved.types[type];
    if (!before || before.in_app !== channels.in_app || before.email !== channels.email) types[type] = channels;
  }
  const diff: Partial<Preferences> = {};
  if (Object.keys(types).length) diff.types = types;
  if (edited.email_digest !== saved.email_digest) diff.email_digest = edited.email_digest;
  return diff;
}

export function PreferencesPage() {
  const [saved, setSaved] = useState<Preferences | null>(null);
  const [edited, setEdited] = useState<Preferences | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    notifications.preferences().then(
      (p) => {
        setSaved(p);
        setEdited(p);
      },
      setError,
    );
  }, []);

  const types = edited ? [...NOTIFICATION_TYPES.filter((x) => x in edited.types), ...Object.keys(edited.types).filter((x) => !(NOTIFICATION_TYPES as readonly string[]).includes(x))] : [];
  const known = new Set<string>(NOTIFICATION_TYPES);
  const diff = saved && edited ? preferencesDiff(saved, edited) : {};

  async function save(event: Event) {
    event.preventDefault();
    if (!Object.keys(diff).length) return;
    setBusy(true);
    try {
      const answer = await notifications.savePreferences(diff);
      setSaved(answer);
      setEdited(answer);
      announce(t('prefs.saved'));
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    } finally {
      setBusy(false);
    }
  }

  const toggle = (type: string, channel: 'in_app' | 'email') =>
    setEdited((p) => p && { ...p, types: { ...p.types, [type]: { ...p.types[type], [channel]: !p.types[type][channel] } } });

  return (
    <section class="page prefs-page" aria-labelledby="page-title">
      <h1 id="page-title">{t('prefs.title')}</h1>
      {error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(error) })}
        </p>
      )}
      {!edited && error === null && <p class="muted">{t('app.loading')}</p>}
      {edited && (
        <form onSubmit={save}>
          <table class="plain-table prefs" data-testid="prefs-table">
            <caption>{t('prefs.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('prefs.type')}</th>
                <th scope="col">{t('prefs.inApp')}</th>
                <th scope="col">{t('prefs.email')}</th>
              </tr>
            </thead>
            <tbody>
              {types.map((type) => {
                const name = known.has(type) ? t(`prefs.type.${type as (typeof NOTIFICATION_TYPES)[number]}`) : type;
                return (
                  <tr data-type={type}>
                    <th scope="row">{name}</th>
                    <td>
                      <input
                        type="checkbox"
                        checked={edited.types[type].in_app}
                        onChange={() => toggle(type, 'in_app')}
                        aria-label={t('prefs.inAppFor', { type: name })}
                      />
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        checked={edited.types[type].email}
                        onChange={() => toggle(type, 'email')}
                        aria-label={t('prefs.emailFor', { type: name })}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <label class="stack">
            {t('prefs.digest')}
            <select
              value={edited.email_digest}
              onChange={(e) => setEdited({ ...edited, email_digest: (e.target as HTMLSelectElement).value as Preferences['email_digest'] })}
            >
              <option value="off">{t('prefs.digest.off')}</option>
              <option value="hourly">{t('prefs.digest.hourly')}</option>
            </select>
          </label>
          <div class="form-actions">
            <button type="submit" class="primary" disabled={busy || !Object.keys(diff).length}>
              {t('app.save')}
            </button>
            <button type="button" class="ghost" disabled={!Object.keys(diff).length} onClick={() => setEdited(saved)}>
              {t('prefs.discard')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
