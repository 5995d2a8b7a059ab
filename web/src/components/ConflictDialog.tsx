// Shown when a save answers 412: the ticket changed since it was read. Nothing was overwritten.
import { t } from '../i18n';
import { stageById, usePipelines, userName, useUsers } from '../store';
import type { Ticket } from '../types';
import { Dialog } from './Dialog';

export function ConflictDialog({ fresh, onClose }: { fresh: Ticket; onClose: () => void }) {
  const pipelines = usePipelines();
  const users = useUsers();
  const stage = stageById(pipelines).get(fresh.status);
  return (
    <Dialog title={t('conflict.title')} onClose={onClose} id="conflict">
      <p>{t('conflict.body')}</p>
      <dl class="props conflict-values" data-testid="conflict-values">
        <dt>{t('ticket.name')}</dt>
        <dd>{fresh.name}</dd>
        <dt>{t('col.status')}</dt>
        <dd>{stage?.label ?? fresh.status}</dd>
        <dt>{t('col.priority')}</dt>
        <dd>{t(`priority.${fresh.priority}`)}</dd>
        <dt>{t('col.owner')}</dt>
        <dd>{userName(users, fresh.owner_id)}</dd>
        <dt>{t('ticket.updated')}</dt>
        <dd>{t('conflict.version', { version: fresh.version })}</dd>
      </dl>
      <div class="dialog-actions">
        <button type="button" class="primary" autoFocus onClick={onClose}>
          {t('conflict.ok')}
        </button>
      </div>
    </Dialog>
  );
}
