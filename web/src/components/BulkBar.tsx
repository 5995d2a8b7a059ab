// Bulk update: one owner/status/priority change for every selected ticket (100 per request).
import { useState } from 'preact/hooks';
import { tickets as ticketApi } from '../endpoints';
import { t } from '../i18n';
import { errorText, usePipelines, useUsers } from '../store';
import { announce } from '../toast';
import { PRIORITIES, type Priority, type Ticket, type TicketPatch } from '../types';

const CHUNK = 100;

export function BulkBar({ ids, onClear, onDone }: { ids: number[]; onClear: () => void; onDone: (updated: Ticket[]) => void }) {
  const users = useUsers();
  const pipelines = usePipelines();
  const [owner, setOwner] = useState('');
  const [status, setStatus] = useState('');
  const [priority, setPriority] = useState('');
  const [busy, setBusy] = useState(false);

  async function apply(event: Event) {
    event.preventDefault();
    const changes: Pick<TicketPatch, 'owner_id' | 'status' | 'priority'> = {};
    if (owner) changes.owner_id = owner === 'none' ? null : Number(owner);
    if (status) changes.status = Number(status);
    if (priority) changes.priority = priority as Priority;
    if (Object.keys(changes).length === 0) {
      announce(t('bulk.nothing'), 'error');
      return;
    }
    setBusy(true);
    const updated: Ticket[] = [];
    let failed = 0;
    try {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const result = await ticketApi.bulkUpdate(ids.slice(i, i + CHUNK), changes);
        for (const item of result.results) {
          if (item.status === 200 && item.ticket) updated.push(item.ticket);
          else failed += 1;
        }
      }
      announce(t('bulk.done', { count: updated.length }));
      if (failed) announce(t('bulk.failed', { count: failed }), 'error');
      onDone(updated);
    } catch (error) {
      announce(t('app.error', { detail: errorText(error) }), 'error');
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="bulkbar" aria-label={t('bulk.title')} onSubmit={apply}>
      <strong>{t('bulk.selected', { count: ids.length })}</strong>
      <label>
        {t('bulk.owner')}
        <select value={owner} onChange={(e) => setOwner((e.target as HTMLSelectElement).value)}>
          <option value="">{t('bulk.keep')}</option>
          <option value="none">{t('filters.unassigned')}</option>
          {users?.map((u) => (
            <option value={u.id}>{u.name}</option>
          ))}
        </select>
      </label>
      <label>
        {t('bulk.status')}
        <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="">{t('bulk.keep')}</option>
          {pipelines?.map((p) => (
            <optgroup label={p.label}>
              {p.stages.map((s) => (
                <option value={s.id}>{s.label}</option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <label>
        {t('bulk.priority')}
        <select value={priority} onChange={(e) => setPriority((e.target as HTMLSelectElement).value)}>
          <option value="">{t('bulk.keep')}</option>
          {PRIORITIES.map((p) => (
            <option value={p}>{t(`priority.${p}`)}</option>
          ))}
        </select>
      </label>
      <button type="submit" class="primary" disabled={busy}>
        {t('bulk.apply')}
      </button>
      <button type="button" class="ghost" onClick={onClear}>
        {t('bulk.clear')}
      </button>
    </form>
  );
}
