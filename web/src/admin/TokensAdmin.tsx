import { useState } from 'preact/hooks';
import { people } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { useAsync, useMe, useUsers } from '../store';
import { announce } from '../toast';
import { AdminError } from './AdminPage';

export function TokensAdmin() {
  const users = useUsers();
  const me = useMe();
  const [userId, setUserId] = useState<number | null>(null);
  const chosen = userId ?? me?.id ?? null;
  const tokens = useAsync(() => (chosen === null ? Promise.resolve(null) : people.tokens(chosen)), [chosen]);
  const [label, setLabel] = useState('');
  const [issued, setIssued] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  return (
    <>
      <label>
        {t('tokens.user')}{' '}
        <select
          value={chosen ?? ''}
          onChange={(e) => {
            setIssued(null);
            setUserId(Number((e.target as HTMLSelectElement).value));
          }}
        >
          {users?.map((u) => (
            <option value={u.id}>
              {u.name} ({u.email})
            </option>
          ))}
        </select>
      </label>
      <AdminError error={tokens.error ?? error} />
      {issued && (
        <p class="note" role="status">
          {t('tokens.issued')} <code class="token-value">{issued}</code>
        </p>
      )}
      {tokens.data && tokens.data.items.length === 0 && <p class="muted">{t('tokens.none')}</p>}
      {tokens.data && tokens.data.items.length > 0 && (
        <table class="data" aria-label={t('admin.tokens')}>
          <thead>
            <tr>
              <th scope="col">{t('tokens.label')}</th>
              <th scope="col">{t('tokens.created')}</th>
              <th scope="col">{t('tokens.lastUsed')}</th>
              <th scope="col">{t('col.status')}</th>
              <th scope="col">
                <span class="sr-only">{t('tokens.revoke')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.items.map((token) => (
              <tr>
                <td>{token.label ?? `#${token.id}`}</td>
                <td>{formatDateTime(token.created_at)}</td>
                <td>{token.last_used_at ? formatDateTime(token.last_used_at) : t('tokens.never')}</td>
                <td>{token.revoked_at ? `${t('tokens.revoked')} ${formatDateTime(token.revoked_at)}` : t('tokens.active')}</td>
                <td>
                  {!token.revoked_at && (
                    <button
                      type="button"
                      class="small danger"
                      aria-label={t('tokens.revokeLabel', { label: token.label ?? `#${token.id}` })}
                      onClick={async () => {
                        setError(null);
                        try {
                          await people.revokeToken(token.id);
                          announce(t('admin.saved'));
                          tokens.reload();
                        } catch (e) {
                          setError(e);
                        }
                      }}
                    >
                      {t('tokens.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {chosen !== null && (
        <form
          class="card-form inline-form"
          aria-label={t('tokens.issue')}
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              const token = await people.issueToken(chosen, label.trim() || null);
              setIssued(token.token ?? null);
              setLabel('');
              tokens.reload();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <h2>{t('tokens.issue')}</h2>
          <label>
            {t('tokens.label')}
            <input value={label} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit" class="primary">
            {t('tokens.issue')}
          </button>
        </form>
      )}
    </>
  );
}
