/**
 * The open ticket's lifecycle actions, each behind a dialog: merge with another ticket (the user
 * picks which survives; it cannot be undone), mark threads as spam (all of them deletes the
 * ticket), and delete to the recycle bin.
 */
import { useEffect, useState } from 'preact/hooks';
import { tickets as ticketApi } from '../endpoints';
import { t } from '../i18n';
import { errorText } from '../store';
import { announce } from '../toast';
import type { Thread, Ticket } from '../types';
import { Dialog } from './Dialog';

/** The merge body for a choice: which of the two survives. */
export function mergePair(current: number, other: number, keep: 'current' | 'other'): { primary: number; secondary: number } {
  return keep === 'current' ? { primary: current, secondary: other } : { primary: other, secondary: current };
}

export function MergeDialog({ ticket, onClose, onMerged }: { ticket: Ticket; onClose: () => void; onMerged: (survivor: Ticket) => void }) {
  const [otherId, setOtherId] = useState('');
  const [other, setOther] = useState<Ticket | null>(null);
  const [keep, setKeep] = useState<'current' | 'other'>('current');
  const [busy, setBusy] = useState(false);
  const [lookupError, setLookupError] = useState('');

  async function lookup() {
    const id = Number(otherId);
    setOther(null);
    setLookupError('');
    if (!Number.isInteger(id) || id <= 0) return;
    if (id === ticket.id) {
      setLookupError(t('merge.self'));
      return;
    }
    try {
      setOther(await ticketApi.get(id));
    } catch (e) {
      setLookupError(errorText(e));
    }
  }

  async function merge(event: Event) {
    event.preventDefault();
    if (!other) return;
    setBusy(true);
    const pair = mergePair(ticket.id, other.id, keep);
    try {
      const survivor = await ticketApi.merge(pair.primary, pair.secondary);
      announce(t('merge.done', { absorbed: pair.secondary, survivor: survivor.id }));
      onMerged(survivor);
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
      setBusy(false);
    }
  }

  return (
    <Dialog title={t('merge.title', { id: ticket.id })} onClose={onClose} id="merge-dialog">
      <form onSubmit={merge}>
        <p>{t('merge.body')}</p>
        <div class="row-form">
          <label>
            {t('merge.otherId')}
            <input
              type="number"
              min={1}
              inputMode="numeric"
              value={otherId}
              onInput={(e) => setOtherId((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  void lookup();
                }
              }}
            />
          </label>
          <button type="button" onClick={() => void lookup()}>
            {t('merge.find')}
          </button>
        </div>
        {lookupError && (
          <p class="error" role="alert">
            {lookupError}
          </p>
        )}
        {other && (
          <fieldset>
            <legend>{t('merge.primary')}</legend>
            <label class="check">
              <input type="radio" name="merge-keep" checked={keep === 'current'} onChange={() => setKeep('current')} /> #{ticket.id} {ticket.name}
            </label>
            <label class="check">
              <input type="radio" name="merge-keep" checked={keep === 'other'} onChange={() => setKeep('other')} /> #{other.id} {other.name}
            </label>
            <p class="muted small">{t('merge.irreversible')}</p>
          </fieldset>
        )}
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="primary" disabled={!other || busy}>
            {t('merge.confirm')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function SpamDialog({ ticket, onClose, onDone }: { ticket: Ticket; onClose: () => void; onDone: (deleted: boolean) => void }) {
  const [threads, setThreads] = useState<Thread[] | null>(null);
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    ticketApi.threads(ticket.id).then(
      (page) => {
        const candidates = page.items.filter((th) => !th.spam);
        setThreads(candidates);
        setPicked(new Set(candidates.map((th) => th.id)));
      },
      (e) => {
        setThreads([]);
        announce(t('app.error', { detail: errorText(e) }), 'error');
      },
    );
  }, [ticket.id]);
  const all = threads !== null && threads.length > 0 && picked.size === threads.length;
  return (
    <Dialog title={t('spam.title')} onClose={onClose} id="spam-dialog">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            const result = await ticketApi.spam(ticket.id, [...picked]);
            announce(result.ticket_deleted ? t('spam.doneDeleted') : t('spam.done', { count: result.thread_ids.length }));
            onDone(result.ticket_deleted);
          } catch (err) {
            announce(t('app.error', { detail: errorText(err) }), 'error');
            setBusy(false);
          }
        }}
      >
        {threads === null ? (
          <p class="muted">{t('app.loading')}</p>
        ) : threads.length === 0 ? (
          <p class="muted">{t('spam.none')}</p>
        ) : (
          <fieldset>
            <legend>{t('spam.pick')}</legend>
            {threads.map((th) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={picked.has(th.id)}
                  onChange={() => {
                    const next = new Set(picked);
                    if (next.has(th.id)) next.delete(th.id);
                    else next.add(th.id);
                    setPicked(next);
                  }}
                />{' '}
                {th.subject || `#${th.id}`} ({th.customer?.email})
              </label>
            ))}
          </fieldset>
        )}
        {all && <p class="warning">{t('spam.allDeletes')}</p>}
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="danger" disabled={busy || picked.size === 0}>
            {t('spam.confirm')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function DeleteDialog({ ticket, onClose, onDeleted }: { ticket: Ticket; onClose: () => void; onDeleted: () => void }) {
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t('delete.title', { id: ticket.id })} onClose={onClose} id="delete-dialog">
      <p>{t('delete.body')}</p>
      <div class="dialog-actions">
        <button type="button" class="ghost" onClick={onClose}>
          {t('app.cancel')}
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await ticketApi.remove(ticket.id);
              announce(t('delete.done', { id: ticket.id }));
              onDeleted();
            } catch (e) {
              announce(t('app.error', { detail: errorText(e) }), 'error');
              setBusy(false);
            }
          }}
        >
          {t('delete.confirm')}
        </button>
      </div>
    </Dialog>
  );
}
