/**
 * The conversations inbox: threads that are not in the help desk (yet). A thread opens below the
 * list with its messages; "Move to help desk" attaches it to a ticket (a new one unless a ticket
 * number is given). j/k move through the list, o or Enter opens the current thread.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ticketNumber } from '../assist';
import { conversations } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { moveIndex, useShortcuts } from '../keyboard';
import { navigate } from '../router';
import { can, errorText, useMe, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { Message, Thread, ThreadSummary } from '../types';
import { usePaged } from './BinPage';
import { MessageItem, MoveFields } from './Conversation';
import { Dialog } from './Dialog';
import { TicketPicker } from './TicketPicker';

export interface HelpdeskMove {
  ticket_id: number | null;
  owner_id: number | null;
  comment: string | null;
}

/**
 * The body of a move to the help desk from the dialog's fields, or the message key of what is
 * wrong: an empty ticket field means a new ticket, anything else must be a ticket number (the
 * picker puts `#id` there).
 */
export function helpdeskMove(ticket: string, owner: string, comment: string): HelpdeskMove | { error: 'inbox.badTicket' } {
  const typed = ticket.trim();
  const ticketId = ticketNumber(typed);
  if (typed && ticketId === null) return { error: 'inbox.badTicket' };
  return {
    ticket_id: ticketId,
    owner_id: owner ? Number(owner) : null,
    comment: comment.trim() || null,
  };
}

export function InboxPage() {
  const inbox = usePaged<ThreadSummary>((cursor) => conversations.inbox(cursor));
  const users = useUsers();
  const me = useMe();
  const [current, setCurrent] = useState(-1);
  const [open, setOpen] = useState<ThreadSummary | null>(null);
  const [moving, setMoving] = useState<ThreadSummary | null>(null);
  const rows = useRef<HTMLTableSectionElement>(null);
  const items = inbox.items ?? [];

  const focusRow = (index: number) => {
    setCurrent(index);
    rows.current?.querySelectorAll<HTMLButtonElement>('button.open-thread')[index]?.focus();
  };
  useShortcuts([
    { key: 'j', run: () => focusRow(moveIndex(current, 1, items.length)) },
    { key: 'k', run: () => focusRow(moveIndex(current, -1, items.length)) },
    { key: 'o', run: () => items[current] && setOpen(items[current]) },
  ]);

  return (
    <section class="page list-page inbox-page" aria-labelledby="page-title">
      <h1 id="page-title">{t('inbox.title')}</h1>
      <p class="muted">{t('inbox.note')}</p>
      {inbox.error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(inbox.error) })}
        </p>
      )}
      {inbox.items === null && <p class="muted">{t('app.loading')}</p>}
      {inbox.items?.length === 0 && inbox.error === null && <p class="muted">{t('inbox.empty')}</p>}
      {items.length > 0 && (
        <table class="plain-table" data-testid="inbox-table">
          <caption class="sr-only">{t('inbox.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('spamView.subject')}</th>
              <th scope="col">{t('spamView.from')}</th>
              <th scope="col">{t('inbox.channel')}</th>
              <th scope="col">{t('inbox.messages')}</th>
              <th scope="col">{t('inbox.owner')}</th>
              <th scope="col">{t('inbox.lastActivity')}</th>
            </tr>
          </thead>
          <tbody ref={rows}>
            {items.map((thread, index) => (
              <tr data-thread-id={thread.id} class={index === current ? 'current' : undefined} aria-selected={open?.id === thread.id}>
                <td>
                  <button
                    type="button"
                    class="link open-thread"
                    aria-expanded={open?.id === thread.id}
                    aria-controls="inbox-thread"
                    onFocus={() => setCurrent(index)}
                    onClick={() => setOpen(thread)}
                  >
                    {thread.subject || t('conv.noSubject')}
                  </button>
                </td>
                <td>{thread.customer?.email}</td>
                <td>{t(`conv.channel.${thread.channel === 'email' || thread.channel === 'chat' || thread.channel === 'form' ? thread.channel : 'other'}`)}</td>
                <td>{thread.message_count}</td>
                <td>{thread.owner_id === null ? t('app.none') : userName(users, thread.owner_id)}</td>
                <td>
                  <time dateTime={thread.last_message_at}>{formatDateTime(thread.last_message_at)}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {inbox.cursor && (
        <button type="button" onClick={() => void inbox.more()}>
          {t('app.more')}
        </button>
      )}
      {open && (
        <InboxThread
          key={open.id}
          thread={open}
          mayMove={can(me, 'account_access')}
          onMove={() => setMoving(open)}
          onClose={() => setOpen(null)}
        />
      )}
      {moving && (
        <MoveToHelpdeskDialog
          thread={moving}
          onClose={() => setMoving(null)}
          onDone={(moved) => {
            setMoving(null);
            setOpen(null);
            inbox.remove(moved.id);
            announce(t('inbox.moved', { id: moved.ticket_id ?? '' }));
            if (moved.ticket_id !== null) navigate(`/split/${moved.ticket_id}`);
          }}
        />
      )}
    </section>
  );
}

function InboxThread({ thread, mayMove, onMove, onClose }: { thread: ThreadSummary; mayMove: boolean; onMove: () => void; onClose: () => void }) {
  // the inbox lists threads without their messages: the first page is read when one opens
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => void load(null), [thread.id]);

  async function load(from: string | null) {
    try {
      const page = await conversations.messages(thread.id, from);
      setMessages((old) => (from ? [...(old ?? []), ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <article id="inbox-thread" class="thread inbox-thread" aria-labelledby="inbox-thread-title" data-thread-id={thread.id}>
      <header class="thread-head">
        <h2 id="inbox-thread-title" ref={heading} tabIndex={-1}>
          {thread.subject || t('conv.noSubject')} <span class="muted small">{thread.customer?.email}</span>
        </h2>
        <div class="thread-actions">
          {mayMove && (
            <button type="button" class="primary small" onClick={onMove}>
              {t('inbox.moveToHelpdesk')}
            </button>
          )}
          <button type="button" class="ghost small" onClick={onClose}>
            {t('app.close')}
          </button>
        </div>
      </header>
      {error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(error) })}{' '}
          <button type="button" onClick={() => void load(null)}>
            {t('app.retry')}
          </button>
        </p>
      )}
      {messages === null && error === null && <p class="muted">{t('app.loading')}</p>}
      <ol class="messages">
        {messages?.map((message) => (
          <MessageItem message={message} pickable={false} picked={false} onPick={() => {}} />
        ))}
      </ol>
      {cursor && (
        <button type="button" class="small" onClick={() => void load(cursor)}>
          {t('conv.moreMessages')}
        </button>
      )}
    </article>
  );
}

function MoveToHelpdeskDialog({ thread, onClose, onDone }: { thread: ThreadSummary; onClose: () => void; onDone: (moved: Thread) => void }) {
  const [ticket, setTicket] = useState('');
  const [owner, setOwner] = useState(thread.owner_id === null ? '' : String(thread.owner_id));
  const [comment, setComment] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t('inbox.moveTitle')} onClose={onClose} id="helpdesk-move-dialog">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const body = helpdeskMove(ticket, owner, comment);
          if ('error' in body) {
            setProblem(t(body.error));
            return;
          }
          setBusy(true);
          try {
            onDone(await conversations.moveToHelpdesk(thread.id, body));
          } catch (err) {
            setProblem(errorText(err));
            setBusy(false);
          }
        }}
      >
        <p>{t('inbox.moveBody')}</p>
        <label class="stack" for="helpdesk-move-ticket">
          {t('inbox.moveTicket')}
        </label>
        <TicketPicker id="helpdesk-move-ticket" value={ticket} onChange={setTicket} invalid={problem !== null} describedBy="helpdesk-move-hint" />
        <p id="helpdesk-move-hint" class="muted small">
          {t('inbox.moveTicketHint')}
        </p>
        <MoveFields owner={owner} setOwner={setOwner} comment={comment} setComment={setComment} />
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {t('inbox.moveConfirm')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
