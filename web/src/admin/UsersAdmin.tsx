import { useState } from 'preact/hooks';
import { FormActions } from '../components/FormActions';
import { allPages, people } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { useAsync, usersData, useTeams } from '../store';
import { announce } from '../toast';
import { ACCESS_LEVELS, PERMISSIONS, type AccessLevel, type Permission, type User } from '../types';
import { AdminError } from './AdminPage';
import { InviteLink } from './InviteLink';

type Draft = Pick<User, 'name' | 'email' | 'permissions' | 'access_level' | 'include_unassigned' | 'seat' | 'team_ids'>;
const EMPTY: Draft = { name: '', email: '', permissions: ['service_access'], access_level: 'owned', include_unassigned: false, seat: false, team_ids: [] };

export function UsersAdmin() {
  const users = useAsync(() => allPages((cursor) => people.users({ limit: 100, cursor, sort: 'name' })), []);
  const [editing, setEditing] = useState<User | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function create(draft: Draft) {
    setError(null);
    try {
      const user = await people.createUser(draft);
      announce(t('admin.created', { name: user.name }));
      users.reload();
      void usersData.load(true);
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  }

  async function update(user: User, draft: Draft) {
    setError(null);
    try {
      await people.updateUser(user.id, draft);
      announce(t('admin.saved'));
      setEditing(null);
      users.reload();
      void usersData.load(true);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <>
      <AdminError error={users.error ?? error} />
      <table class="data" aria-label={t('admin.users')}>
        <thead>
          <tr>
            <th scope="col">{t('users.name')}</th>
            <th scope="col">{t('users.email')}</th>
            <th scope="col">{t('users.permissions')}</th>
            <th scope="col">{t('users.accessLevel')}</th>
            <th scope="col">{t('users.seat')}</th>
            <th scope="col">{t('ticket.updated')}</th>
            <th scope="col">
              <span class="sr-only">{t('app.edit')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.data?.map((u) => (
            <tr>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>{u.permissions.map((p) => t(`perm.${p}`)).join(', ')}</td>
              <td>
                {t(`access.${u.access_level}`)}
                {u.include_unassigned ? ` + ${t('filters.unassigned')}` : ''}
              </td>
              <td>{u.seat ? '✓' : ''}</td>
              <td>{formatDateTime(u.updated_at)}</td>
              <td>
                <button type="button" class="small" onClick={() => setEditing(u)} aria-label={t('users.edit', { name: u.name })}>
                  {t('app.edit')}
                </button>{' '}
                <InviteLink user={u} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editing ? (
        <UserForm key={editing.id} title={t('users.editing', { name: editing.name })} initial={editing} onSubmit={(d) => update(editing, d)} onCancel={() => setEditing(null)} />
      ) : (
        <UserForm key="new" title={t('users.new')} initial={EMPTY} onSubmit={create} />
      )}
    </>
  );
}

function UserForm({ title, initial, onSubmit, onCancel }: { title: string; initial: Draft; onSubmit: (d: Draft) => Promise<unknown>; onCancel?: () => void }) {
  const teams = useTeams();
  const [draft, setDraft] = useState<Draft>({ ...EMPTY, ...pick(initial) });
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const togglePerm = (p: Permission) =>
    set({ permissions: draft.permissions.includes(p) ? draft.permissions.filter((x) => x !== p) : [...draft.permissions, p] });
  const toggleTeam = (id: number) => set({ team_ids: draft.team_ids.includes(id) ? draft.team_ids.filter((x) => x !== id) : [...draft.team_ids, id] });
  return (
    <form
      class="card-form"
      aria-label={title}
      onSubmit={async (e) => {
        e.preventDefault();
        const ok = await onSubmit(draft);
        if (ok === true) setDraft(EMPTY);
      }}
    >
      <h2>{title}</h2>
      <div class="form-grid">
        <label>
          {t('users.name')}
          <input value={draft.name} required onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('users.email')}
          <input type="email" value={draft.email} required onInput={(e) => set({ email: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('users.accessLevel')}
          <select value={draft.access_level} onChange={(e) => set({ access_level: (e.target as HTMLSelectElement).value as AccessLevel })}>
            {ACCESS_LEVELS.map((a) => (
              <option value={a}>{t(`access.${a}`)}</option>
            ))}
          </select>
        </label>
      </div>
      <fieldset>
        <legend>{t('users.permissions')}</legend>
        {PERMISSIONS.map((p) => (
          <label class="check">
            <input type="checkbox" checked={draft.permissions.includes(p)} onChange={() => togglePerm(p)} /> {t(`perm.${p}`)}
          </label>
        ))}
      </fieldset>
      <label class="check">
        <input type="checkbox" checked={draft.include_unassigned} onChange={() => set({ include_unassigned: !draft.include_unassigned })} />{' '}
        {t('users.includeUnassigned')}
      </label>
      <label class="check">
        <input type="checkbox" checked={draft.seat} onChange={() => set({ seat: !draft.seat })} /> {t('users.seat')}
      </label>
      {teams && teams.length > 0 && (
        <fieldset>
          <legend>{t('users.teams')}</legend>
          {teams.map((team) => (
            <label class="check">
              <input type="checkbox" checked={draft.team_ids.includes(team.id)} onChange={() => toggleTeam(team.id)} /> {team.name}
            </label>
          ))}
        </fieldset>
      )}
      <FormActions label={onCancel ? t('app.save') : t('admin.create')} onCancel={onCancel} />
    </form>
  );
}

function pick(user: Draft): Draft {
  const { name, email, permissions, access_level, include_unassigned, seat, team_ids } = user;
  return { name, email, permissions, access_level, include_unassigned, seat, team_ids };
}
