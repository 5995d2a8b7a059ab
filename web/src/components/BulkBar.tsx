// Bulk update: one owner/status/priority change for every selected ticket (100 per request), and
// bulk delete, confirmed by typing how many tickets are selected (sent as `confirm_count`).
import { useState } from 'preact/hooks';
import { Dialog } from './Dialog';
import { tickets as ticketApi } from '../endpoints';
import { t } from '../i18n';
import { errorText, usePipelines, useUsers } from '../store';
import { announce } from '../toast';
import { PRIORITIES, type Job, type Priority, type Ticket, type TicketPatch } from '../types';

const CHUNK = 100;

/** Whether what the user typed confirms deleting `count` tickets (digits only, the exact number). */
export function confirmsCount(typed: string, count: number): boolean {
  return /^\s*\d+\s*$/.test(typed) && Number(typed) === count;
}

/** A job until it is no longer running (the bulk delete answers 202 for big ones). */
async function finished(job: Job, wait = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<Job> {
  let current = job;
  for (let i = 0; current.state === 'running' && i < 600; i++) {
    await wait(500);
    current = await ticketApi.job(current.id);
  }
  return current;
}

export function BulkBar({
  ids,
  onClear,
  onDone,
  onDeleted,
}: {
  ids: number[];
  onClear: () => void;
  onDone: (updated: Ticket[]) => void;
  onDeleted?: (ids: number[]) => void;
}) {
  const [deleting, setDeleting] = useState(false);
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
    <>
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
      {onDeleted && (
        <button type="button" class="danger" onClick={() => setDeleting(true)}>
          {t('bulkDelete.open')}
        </button>
      )}
      <button type="button" class="ghost" onClick={onClear}>
        {t('bulk.clear')}
      </button>
    </form>
      {deleting && onDeleted && (
        <BulkDeleteDialog
          ids={ids}
          onClose={() => setDeleting(false)}
          onDeleted={(gone) => {
            setDeleting(false);
            onDeleted(gone);
          }}
        />
      )}
    </>
  );
}

function BulkDeleteDialog({ ids, onClose, onDeleted }: { ids: number[]; onClose: () => void; onDeleted: (ids: number[]) => void }) {
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const ok = confirmsCount(typed, ids.length);
  return (
    <Dialog title={t('bulkDelete.title')} onClose={onClose} id="bulk-delete">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (!ok) return;
          setBusy(true);
          try {
            const job = await finished(await ticketApi.bulkDelete(ids, Number(typed)));
            const skipped = job.skipped + job.failed;
            announce(t('bulkDelete.done', { count: job.done }));
            if (skipped) announce(t('bulkDelete.skipped', { count: skipped }), 'error');
            const refused = new Set((job.results ?? []).filter((r) => r.status >= 300).map((r) => r.id));
            onDeleted(ids.filter((id) => !refused.has(id)));
          } catch (err) {
            announce(t('app.error', { detail: errorText(err) }), 'error');
            setBusy(false);
          }
        }}
      >
        <p>{t('bulkDelete.body', { count: ids.length })}</p>
        <label class="stack">
          {t('bulkDelete.type', { count: ids.length })}
          <input inputMode="numeric" autoComplete="off" value={typed} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
        </label>
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="danger" disabled={!ok || busy}>
            {t('bulkDelete.confirm', { count: ids.length })}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
