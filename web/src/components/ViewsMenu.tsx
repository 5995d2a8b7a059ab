// The saved-views menu of the table layout (seat holders): apply a view, save the current filters,
// sort and columns as one, and rename, change or delete your own.
import { useState } from 'preact/hooks';
import { savedViews } from '../endpoints';
import { filtersToSearch, type Filters } from '../filters';
import { t } from '../i18n';
import { navigate } from '../router';
import { can, errorText, useMe, useTeams, useViews, viewsData } from '../store';
import { announce } from '../toast';
import { SHARING, type SavedView, type Sharing } from '../types';
import { mayChange, viewContent } from '../views';
import { Dialog } from './Dialog';
import type { ColumnKey } from './TicketTable';

interface Props {
  /** The filters in effect, saved by "Save current view as…". */
  shown: Filters;
  columns: ColumnKey[];
  applied: number | undefined;
}

type Editing = { mode: 'create' } | { mode: 'edit'; view: SavedView } | { mode: 'delete'; view: SavedView } | null;

export function ViewsMenu({ shown, columns, applied }: Props) {
  const me = useMe();
  const views = useViews();
  const [editing, setEditing] = useState<Editing>(null);
  const [open, setOpen] = useState(false);
  const current = views?.find((v) => v.id === applied);
  const accountAccess = can(me, 'account_access');

  const apply = (view: SavedView) => {
    setOpen(false);
    navigate(`${window.location.pathname}${filtersToSearch({ view_id: view.id })}`);
  };

  return (
    <>
      <details
        class="views-menu"
        open={open}
        onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
        onKeyDown={(e) => {
          if (e.key !== 'Escape' || !open || editing) return;
          setOpen(false);
          (e.currentTarget as HTMLDetailsElement).querySelector('summary')?.focus();
        }}
      >
        <summary data-testid="views-menu">
          {t('views.menu')}
          {current ? `: ${current.name}` : ''}
        </summary>
        <div class="views-panel" role="group" aria-label={t('views.menu')}>
          {viewsData.error !== null && !views && (
            <p class="error" role="alert">
              {t('app.error', { detail: errorText(viewsData.error) })}
            </p>
          )}
          {views?.length === 0 && <p class="muted">{t('views.none')}</p>}
          {views && views.length > 0 && (
            <ul class="plain views-list">
              {views.map((view) => (
                <li key={view.id} class={view.id === applied ? 'current' : undefined}>
                  <button type="button" class="link view-apply" aria-current={view.id === applied ? 'true' : undefined} onClick={() => apply(view)}>
                    {view.name}
                  </button>{' '}
                  <span class="muted small">{t(`views.shared.${view.shared_with}`)}</span>
                  {mayChange(view, me?.id, accountAccess) && (
                    <span class="view-actions">
                      <button type="button" class="ghost small" onClick={() => setEditing({ mode: 'edit', view })} aria-label={t('views.editNamed', { name: view.name })}>
                        {t('app.edit')}
                      </button>
                      <button type="button" class="ghost small" onClick={() => setEditing({ mode: 'delete', view })} aria-label={t('views.deleteNamed', { name: view.name })}>
                        {t('views.delete')}
                      </button>
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
          <button type="button" class="small" onClick={() => setEditing({ mode: 'create' })}>
            {t('views.saveAs')}
          </button>
        </div>
      </details>
      {editing?.mode === 'create' && (
        <ViewDialog
          title={t('views.saveAs')}
          onClose={() => setEditing(null)}
          onSave={async (fields) => {
            const made = await savedViews.create({ ...fields, ...viewContent(shown, columns) });
            await viewsData.load(true);
            announce(t('views.saved', { name: made.name }));
            setEditing(null);
            setOpen(false);
            navigate(`${window.location.pathname}${filtersToSearch({ view_id: made.id })}`);
          }}
        />
      )}
      {editing?.mode === 'edit' && (
        <ViewDialog
          title={t('views.editNamed', { name: editing.view.name })}
          view={editing.view}
          onClose={() => setEditing(null)}
          onSave={async (fields, replace) => {
            const changed = await savedViews.update(editing.view.id, replace ? { ...fields, ...viewContent(shown, columns) } : fields);
            await viewsData.load(true);
            announce(t('views.saved', { name: changed.name }));
            setEditing(null);
            if (replace) navigate(`${window.location.pathname}${filtersToSearch({ view_id: changed.id })}`, { replace: true });
          }}
        />
      )}
      {editing?.mode === 'delete' && (
        <DeleteViewDialog
          view={editing.view}
          onClose={() => setEditing(null)}
          onDeleted={() => {
            setEditing(null);
            if (editing.view.id === applied) navigate(window.location.pathname, { replace: true });
          }}
        />
      )}
    </>
  );
}

type ViewFields = { name: string; shared_with: Sharing; team_id: number | null };

function ViewDialog({
  title,
  view,
  onClose,
  onSave,
}: {
  title: string;
  view?: SavedView;
  onClose: () => void;
  onSave: (fields: ViewFields, replace: boolean) => Promise<void>;
}) {
  const me = useMe();
  const teams = useTeams();
  const [name, setName] = useState(view?.name ?? '');
  const [sharing, setSharing] = useState<Sharing>(view?.shared_with ?? 'private');
  // your teams (any team with account access, as the gateway allows); names when the list is readable
  const myTeams = can(me, 'account_access') && teams
    ? teams
    : (me?.team_ids ?? []).map((id) => teams?.find((team) => team.id === id) ?? { id, name: `#${id}` });
  const [teamId, setTeamId] = useState<number | null>(view?.team_id ?? myTeams[0]?.id ?? null);
  const [replace, setReplace] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  return (
    <Dialog title={title} onClose={onClose} id="view-dialog">
      <form
        class="dialog-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const team = sharing === 'team' ? (teamId ?? myTeams[0]?.id ?? null) : null;
            await onSave({ name: name.trim(), shared_with: sharing, team_id: team }, replace);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          {t('views.name')}
          <input value={name} required maxLength={200} autoFocus onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <fieldset>
          <legend>{t('views.sharing')}</legend>
          {SHARING.filter((option) => option !== 'team' || myTeams.length > 0 || sharing === 'team').map((option) => (
            <label class="check">
              <input type="radio" name="shared_with" value={option} checked={sharing === option} onChange={() => setSharing(option)} /> {t(`views.shared.${option}`)}
            </label>
          ))}
        </fieldset>
        {sharing === 'team' && (
          <label>
            {t('views.team')}
            <select value={teamId ?? ''} onChange={(e) => setTeamId(Number((e.target as HTMLSelectElement).value) || null)}>
              {myTeams.map((team) => (
                <option value={team.id}>{team.name}</option>
              ))}
            </select>
          </label>
        )}
        {view ? (
          <label class="check">
            <input type="checkbox" checked={replace} onChange={() => setReplace(!replace)} /> {t('views.replace')}
          </label>
        ) : (
          <p class="muted">{t('views.saveNote')}</p>
        )}
        {error !== null && (
          <p class="error" role="alert">
            {t('app.error', { detail: errorText(error) })}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class="primary" disabled={busy || !name.trim()}>
            {t('app.save')}
          </button>
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteViewDialog({ view, onClose, onDeleted }: { view: SavedView; onClose: () => void; onDeleted: () => void }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog title={t('views.deleteNamed', { name: view.name })} onClose={onClose} id="view-delete">
      <p>{t('views.deleteNote')}</p>
      {error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(error) })}
        </p>
      )}
      <div class="dialog-actions">
        <button
          type="button"
          class="danger"
          onClick={async () => {
            try {
              await savedViews.remove(view.id);
              await viewsData.load(true);
              announce(t('views.deleted', { name: view.name }));
              onDeleted();
            } catch (err) {
              setError(err);
            }
          }}
        >
          {t('views.delete')}
        </button>
        <button type="button" class="ghost" onClick={onClose}>
          {t('app.cancel')}
        </button>
      </div>
    </Dialog>
  );
}
