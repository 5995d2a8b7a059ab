/**
 * The recycle bin (deleted tickets, restorable until purging begins) and the spam view (threads
 * marked spam; "not spam" sends one back to its ticket, restored or made anew if needed).
 */
import { useEffect, useState } from 'preact/hooks';
import { conversations, tickets as ticketApi } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { navigate } from '../router';
import { errorText, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { BinItem, Page, Thread } from '../types';

function usePaged<T>(load: (cursor: string | null) => Promise<Page<T>>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const fetchPage = (from: string | null) =>
    load(from).then(
      (page) => {
        setItems((old) => (from ? [...(old ?? []), ...page.items] : page.items));
        setCursor(page.next_cursor);
        setTotal(page.total);
        setError(null);
      },
      (e) => {
        setError(e);
        setItems((old) => old ?? []);
      },
    );
  useEffect(() => void fetchPage(null), []);
  return { items, setItems, cursor, total, setTotal, error, more: () => fetchPage(cursor) };
}

export function BinPage() {
  const users = useUsers();
  const bin = usePaged<BinItem>((cursor) => ticketApi.bin(cursor));
  async function restore(item: BinItem) {
    try {
      await ticketApi.restore(item.id);
      bin.setItems((all) => (all ?? []).filter((x) => x.id !== item.id));
      bin.setTotal((n) => n - 1);
      announce(t('bin.restored', { id: item.id }));
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }
  return (
    <section class="page list-page" aria-labelledby="page-title">
      <h1 id="page-title">{t('bin.title')}</h1>
      <p class="muted">{t('bin.note')}</p>
      {bin.error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(bin.error) })}
        </p>
      )}
      {bin.items === null && <p class="muted">{t('app.loading')}</p>}
      {bin.items?.length === 0 && bin.error === null && <p class="muted">{t('bin.empty')}</p>}
      {bin.items && bin.items.length > 0 && (
        <table class="plain-table" data-testid="bin-table">
          <caption class="sr-only">{t('bin.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('col.id')}</th>
              <th scope="col">{t('col.name')}</th>
              <th scope="col">{t('bin.deletedAt')}</th>
              <th scope="col">{t('bin.deletedBy')}</th>
              <th scope="col">
                <span class="sr-only">{t('bin.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {bin.items.map((item) => (
              <tr data-ticket-id={item.id}>
                <td>#{item.id}</td>
                <td>{item.name}</td>
                <td>
                  <time dateTime={item.deleted_at}>{formatDateTime(item.deleted_at)}</time>
                </td>
                <td>{item.deleted_by === null ? t('app.none') : userName(users, item.deleted_by)}</td>
                <td>
                  {item.purging ? (
                    <span class="muted">{t('bin.purging')}</span>
                  ) : (
                    <button type="button" onClick={() => void restore(item)} aria-label={t('bin.restoreLabel', { id: item.id, name: item.name })}>
                      {t('bin.restore')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {bin.cursor && (
        <button type="button" onClick={() => void bin.more()}>
          {t('app.more')}
        </button>
      )}
    </section>
  );
}

export function SpamPage() {
  const spam = usePaged<Thread>((cursor) => conversations.spamView(cursor));
  async function notSpam(thread: Thread) {
    try {
      const result = await conversations.notSpam(thread.id);
      spam.setItems((all) => (all ?? []).filter((x) => x.id !== thread.id));
      spam.setTotal((n) => n - 1);
      announce(t('spamView.restored', { id: result.ticket_id }));
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }
  return (
    <section class="page list-page" aria-labelledby="page-title">
      <h1 id="page-title">{t('spamView.title')}</h1>
      <p class="muted">{t('spamView.note')}</p>
      {spam.error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(spam.error) })}
        </p>
      )}
      {spam.items === null && <p class="muted">{t('app.loading')}</p>}
      {spam.items?.length === 0 && spam.error === null && <p class="muted">{t('spamView.empty')}</p>}
      {spam.items && spam.items.length > 0 && (
        <table class="plain-table" data-testid="spam-table">
          <caption class="sr-only">{t('spamView.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('spamView.subject')}</th>
              <th scope="col">{t('spamView.from')}</th>
              <th scope="col">{t('spamView.ticket')}</th>
              <th scope="col">{t('spamView.markedAt')}</th>
              <th scope="col">
                <span class="sr-only">{t('bin.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {spam.items.map((thread) => (
              <tr data-thread-id={thread.id}>
                <td>{thread.subject || `#${thread.id}`}</td>
                <td>{thread.customer?.email}</td>
                <td>{thread.ticket_id === null ? t('app.none') : `#${thread.ticket_id}`}</td>
                <td>{thread.spam_at && <time dateTime={thread.spam_at}>{formatDateTime(thread.spam_at)}</time>}</td>
                <td>
                  <button type="button" onClick={() => void notSpam(thread)} aria-label={t('spamView.notSpamLabel', { subject: thread.subject || `#${thread.id}` })}>
                    {t('spamView.notSpam')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {spam.cursor && (
        <button type="button" onClick={() => void spam.more()}>
          {t('app.more')}
        </button>
      )}
      <p>
        <button type="button" class="link" onClick={() => navigate('/tickets')}>
          {t('spamView.back')}
        </button>
      </p>
    </section>
  );
}
