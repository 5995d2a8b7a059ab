/**
 * The recycle bin (deleted tickets, restorable until purging begins) and the spam view (threads
 * marked spam; "not spam" sends one back to its ticket, restored or made anew if needed).
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { conversations, tickets as ticketApi } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { navigate } from '../router';
import { errorText, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { BinItem, Page, Thread } from '../types';

export type Paged<T extends { id: number }> = {
  items: T[] | null;
  cursor: string | null;
  total: number;
  error: unknown;
  more: () => Promise<void>;
  /** Take one item off the page (it was restored), and one off the total. */
  remove: (id: number) => void;
};

/** A cursor-paged list loaded on mount, a page more at each `more()`. */
export function usePaged<T extends { id: number }>(load: (cursor: string | null) => Promise<Page<T>>): Paged<T> {
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
  const remove = (id: number) => {
    setItems((all) => (all ?? []).filter((x) => x.id !== id));
    setTotal((n) => n - 1);
  };
  return { items, cursor, total, error, more: () => fetchPage(cursor), remove };
}

/** One restorable list: title, note, a table of `paged`'s items with a header and a row each, more. */
function RestorePage<T extends { id: number }>(props: {
  paged: Paged<T>;
  title: string;
  note: string;
  empty: string;
  testid: string;
  columns: string[];
  row: (item: T) => JSX.Element;
  children?: ComponentChildren;
}) {
  const { paged } = props;
  return (
    <section class="page list-page" aria-labelledby="page-title">
      <h1 id="page-title">{props.title}</h1>
      <p class="muted">{props.note}</p>
      {paged.error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(paged.error) })}
        </p>
      )}
      {paged.items === null && <p class="muted">{t('app.loading')}</p>}
      {paged.items?.length === 0 && paged.error === null && <p class="muted">{props.empty}</p>}
      {paged.items && paged.items.length > 0 && (
        <table class="plain-table" data-testid={props.testid}>
          <caption class="sr-only">{props.title}</caption>
          <thead>
            <tr>
              {props.columns.map((label) => (
                <th scope="col">{label}</th>
              ))}
              <th scope="col">
                <span class="sr-only">{t('bin.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>{paged.items.map(props.row)}</tbody>
        </table>
      )}
      {paged.cursor && (
        <button type="button" onClick={() => void paged.more()}>
          {t('app.more')}
        </button>
      )}
      {props.children}
    </section>
  );
}

export function BinPage() {
  const users = useUsers();
  const bin = usePaged<BinItem>((cursor) => ticketApi.bin(cursor));
  async function restore(item: BinItem) {
    try {
      await ticketApi.restore(item.id);
      bin.remove(item.id);
      announce(t('bin.restored', { id: item.id }));
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }
  return (
    <RestorePage
      paged={bin}
      title={t('bin.title')}
      note={t('bin.note')}
      empty={t('bin.empty')}
      testid="bin-table"
      columns={[t('col.id'), t('col.name'), t('bin.deletedAt'), t('bin.deletedBy')]}
      row={(item) => (
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
      )}
    />
  );
}

export function SpamPage() {
  const spam = usePaged<Thread>((cursor) => conversations.spamView(cursor));
  async function notSpam(thread: Thread) {
    try {
      const result = await conversations.notSpam(thread.id);
      spam.remove(thread.id);
      announce(t('spamView.restored', { id: result.ticket_id }));
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }
  return (
    <RestorePage
      paged={spam}
      title={t('spamView.title')}
      note={t('spamView.note')}
      empty={t('spamView.empty')}
      testid="spam-table"
      columns={[t('spamView.subject'), t('spamView.from'), t('spamView.ticket'), t('spamView.markedAt')]}
      row={(thread) => (
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
      )}
    >
      <p>
        <button type="button" class="link" onClick={() => navigate('/tickets')}>
          {t('spamView.back')}
        </button>
      </p>
    </RestorePage>
  );
}
