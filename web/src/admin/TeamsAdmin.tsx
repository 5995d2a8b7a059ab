import { useState } from 'preact/hooks';
import { FormActions } from '../components/FormActions';
import { allPages, people } from '../endpoints';
import { t } from '../i18n';
import { teamsData, useAsync, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { Team } from '../types';
import { AdminError } from './AdminPage';

export function TeamsAdmin() {
  const teams = useAsync(() => allPages((cursor) => people.teams({ limit: 100, cursor, sort: 'name' })), []);
  const users = useUsers();
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [editing, setEditing] = useState<Team | null>(null);

  async function run(action: () => Promise<unknown>, message: string) {
    setError(null);
    try {
      await action();
      announce(message);
      teams.reload();
      void teamsData.load(true);
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  }

  return (
    <>
      <AdminError error={teams.error ?? error} />
      <table class="data" aria-label={t('admin.teams')}>
        <thead>
          <tr>
            <th scope="col">{t('teams.name')}</th>
            <th scope="col">{t('teams.members')}</th>
            <th scope="col">
              <span class="sr-only">{t('app.edit')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {teams.data?.map((team) => (
            <tr>
              <td>
                <TeamName team={team} onRename={(n) => run(() => people.renameTeam(team.id, n), t('admin.saved'))} />
              </td>
              <td>
                {t('teams.memberCount', { count: team.member_ids.length })}: {team.member_ids.map((id) => userName(users, id)).join(', ')}
              </td>
              <td>
                <button type="button" class="small" onClick={() => setEditing(team)} aria-label={t('teams.editMembers', { name: team.name })}>
                  {t('teams.members')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editing && (
        <MembersForm
          key={editing.id}
          team={editing}
          onSave={async (ids) => {
            if (await run(() => people.setMembers(editing.id, ids), t('admin.saved'))) setEditing(null);
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <form
        class="card-form inline-form"
        aria-label={t('teams.new')}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await run(() => people.createTeam(name.trim()), t('admin.created', { name: name.trim() }))) setName('');
        }}
      >
        <h2>{t('teams.new')}</h2>
        <label>
          {t('teams.name')}
          <input value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary">
          {t('admin.create')}
        </button>
      </form>
    </>
  );
}

function TeamName({ team, onRename }: { team: Team; onRename: (name: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(team.name);
  if (!editing)
    return (
      <button type="button" class="inline-edit" onClick={() => setEditing(true)}>
        <span class="sr-only">{t('teams.rename', { name: team.name })}: </span>
        {team.name}
      </button>
    );
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        setEditing(false);
        if (value.trim() && value.trim() !== team.name) onRename(value.trim());
      }}
    >
      <input aria-label={t('teams.rename', { name: team.name })} value={value} autoFocus onInput={(e) => setValue((e.target as HTMLInputElement).value)} onKeyDown={(e) => e.key === 'Escape' && setEditing(false)} />
      <button type="submit" class="small">
        {t('app.save')}
      </button>
    </form>
  );
}

function MembersForm({ team, onSave, onCancel }: { team: Team; onSave: (ids: number[]) => void; onCancel: () => void }) {
  const users = useUsers();
  const [ids, setIds] = useState<number[]>(team.member_ids);
  return (
    <form
      class="card-form"
      aria-label={t('teams.editMembers', { name: team.name })}
      onSubmit={(e) => {
        e.preventDefault();
        onSave(ids);
      }}
    >
      <fieldset>
        <legend>{t('teams.editMembers', { name: team.name })}</legend>
        {users?.map((u) => (
          <label class="check">
            <input type="checkbox" checked={ids.includes(u.id)} onChange={() => setIds(ids.includes(u.id) ? ids.filter((x) => x !== u.id) : [...ids, u.id])} /> {u.name}
          </label>
        ))}
      </fieldset>
      <FormActions label={t('teams.saveMembers')} onCancel={onCancel} />
    </form>
  );
}
