import { allPages, people } from '../endpoints';
import { t } from '../i18n';
import { useAsync, usersData } from '../store';
import { announce } from '../toast';
import type { User } from '../types';
import { AdminError } from './AdminPage';
import { useState } from 'preact/hooks';

export function SeatsAdmin() {
  const users = useAsync(() => allPages((cursor) => people.users({ limit: 100, cursor, sort: 'name' })), []);
  const [error, setError] = useState<unknown>(null);
  const seats = users.data?.filter((u) => u.seat).length ?? 0;

  async function toggle(user: User) {
    setError(null);
    try {
      await people.updateUser(user.id, { seat: !user.seat });
      announce(t('admin.saved'));
      users.reload();
      void usersData.load(true);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <>
      <p>{t('seats.note')}</p>
      <p aria-live="polite">
        <strong>{t('seats.inUse', { count: seats })}</strong>
      </p>
      <AdminError error={users.error ?? error} />
      <ul class="plain seats">
        {users.data?.map((u) => (
          <li>
            <label class="check">
              <input type="checkbox" checked={u.seat} onChange={() => void toggle(u)} aria-label={t('seats.toggle', { name: u.name })} /> {u.name}{' '}
              <span class="muted small">{u.email}</span>
            </label>
          </li>
        ))}
      </ul>
    </>
  );
}
