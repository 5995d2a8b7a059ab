/**
 * The open ticket's conversation (split layout): its threads with their messages (oldest first;
 * quoted history collapsed; attachments as downloads), a reply/note composer, and the thread
 * actions: print, move to the inbox, split chosen messages off to a new ticket. r focuses the
 * composer.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { insertAt } from '../assist';
import { checkFiles, defaultRecipients, MAX_RECIPIENTS, MAX_UPLOADS, recipientsPatch, toUpload } from '../compose';
import { conversations, tickets as ticketApi } from '../endpoints';
import { formatDateTime, formatNumber, t } from '../i18n';
import { useShortcuts } from '../keyboard';
import { mentionedIds } from '../mentions';
import { navigate } from '../router';
import { can, errorText, useMe, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { Attachment, Message, Thread, Ticket } from '../types';
import { Dialog } from './Dialog';
import { useMentions } from './Mentions';
import { ReplyRecommendations } from './ReplyRecommendations';

interface Props {
  ticket: Ticket;
  /** Bumped by the parent when the ticket changed elsewhere (live update): reload the threads. */
  reloadKey: number;
  /** Something the conversation did changed the ticket (a reply may assign it): reload it. */
  onTicketTouched: () => void;
}

/** `12 KB`-style size of an attachment. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${formatNumber(bytes)} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(Math.round(bytes / 1024))} KB`;
  return `${formatNumber(Math.round((bytes / (1024 * 1024)) * 10) / 10)} MB`;
}

/** Whether a split of these picked messages of a thread is allowed: some, not all (the API's rule). */
export function canSplit(picked: number, threadSize: number, closed: boolean): boolean {
  return !closed && picked > 0 && picked < threadSize && threadSize > 1;
}

async function download(attachment: Attachment) {
  try {
    const url = await conversations.blobUrl(`/attachments/${attachment.id}`);
    const a = document.createElement('a');
    a.href = url;
    a.download = attachment.filename || `attachment-${attachment.id}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    announce(t('app.error', { detail: errorText(e) }), 'error');
  }
}

async function printThread(thread: Thread) {
  // opened now, while the click still counts as the user's, and pointed at the page once fetched
  const win = window.open('about:blank', '_blank');
  try {
    const url = await conversations.blobUrl(`/threads/${thread.id}/print`);
    if (win) win.location.href = url;
    else window.location.assign(url);
  } catch (e) {
    win?.close();
    announce(t('app.error', { detail: errorText(e) }), 'error');
  }
}

export function Conversation({ ticket, reloadKey, onTicketTouched }: Props) {
  const [threads, setThreads] = useState<Thread[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [splitting, setSplitting] = useState<Thread | null>(null);
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const [splitOpen, setSplitOpen] = useState(false);
  const [moving, setMoving] = useState<Thread | null>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);
  const [tick, setTick] = useState(0);
  const me = useMe();

  useEffect(() => {
    let live = true;
    ticketApi.threads(ticket.id).then(
      (page) => live && (setThreads(page.items), setError(null)),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [ticket.id, reloadKey, tick]);

  useShortcuts([{ key: 'r', run: () => composerRef.current?.focus() }]);

  const reload = () => setTick((n) => n + 1);
  const helpdeskThreads = (threads ?? []).filter((th) => th.location === 'helpdesk' && !th.spam);

  async function more(thread: Thread) {
    try {
      const page = await conversations.messages(thread.id, thread.messages_next_cursor);
      setThreads((all) =>
        (all ?? []).map((th) => (th.id === thread.id ? { ...th, messages: [...th.messages, ...page.items], messages_next_cursor: page.next_cursor } : th)),
      );
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }

  function startSplit(thread: Thread) {
    setSplitting(thread);
    setPicked(new Set());
  }

  return (
    <section aria-labelledby="conv-title" class="conversation" data-testid="conversation">
      <h3 id="conv-title">{t('ticket.conversation')}</h3>
      {error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(error) })}{' '}
          <button type="button" onClick={reload}>
            {t('app.retry')}
          </button>
        </p>
      )}
      {threads === null && error === null && <p class="muted">{t('app.loading')}</p>}
      {threads !== null && threads.length === 0 && <p class="muted">{t('conv.empty')}</p>}
      {threads?.map((thread) => {
        const inSplit = splitting?.id === thread.id;
        return (
          <article class="thread" aria-labelledby={`thread-${thread.id}-title`} data-thread-id={thread.id}>
            <header class="thread-head">
              <h4 id={`thread-${thread.id}-title`}>
                {thread.subject || t('conv.noSubject')}{' '}
                <span class="muted small">
                  {t(`conv.channel.${thread.channel === 'email' || thread.channel === 'chat' || thread.channel === 'form' ? thread.channel : 'other'}`)} ·{' '}
                  {thread.customer?.email}
                  {thread.location === 'inbox' && ` · ${t('conv.inInbox')}`}
                  {thread.spam && ` · ${t('conv.isSpam')}`}
                </span>
              </h4>
              <div class="thread-actions">
                <button type="button" class="small" onClick={() => void printThread(thread)}>
                  {t('conv.print')}
                </button>
                {thread.location === 'helpdesk' && can(me, 'account_access') && (
                  <button type="button" class="small" onClick={() => setMoving(thread)}>
                    {t('conv.moveToInbox')}
                  </button>
                )}
                {thread.channel === 'email' && thread.message_count > 1 && !inSplit && (!me || me.seat) && (
                  <button type="button" class="small" onClick={() => startSplit(thread)}>
                    {t('conv.split')}
                  </button>
                )}
              </div>
            </header>
            {inSplit && (
              <p class="split-hint" role="status">
                {t('conv.splitHint')}{' '}
                <button
                  type="button"
                  class="primary small"
                  disabled={!canSplit(picked.size, thread.message_count, ticket.closed_at !== null)}
                  onClick={() => setSplitOpen(true)}
                >
                  {t('conv.splitPicked', { count: picked.size })}
                </button>{' '}
                <button type="button" class="ghost small" onClick={() => setSplitting(null)}>
                  {t('app.cancel')}
                </button>
              </p>
            )}
            <ol class="messages">
              {thread.messages.map((message) => (
                <MessageItem
                  message={message}
                  pickable={inSplit}
                  picked={picked.has(message.id)}
                  onPick={() => {
                    const next = new Set(picked);
                    if (next.has(message.id)) next.delete(message.id);
                    else next.add(message.id);
                    setPicked(next);
                  }}
                />
              ))}
            </ol>
            {thread.messages_next_cursor && (
              <button type="button" class="small" onClick={() => void more(thread)}>
                {t('conv.moreMessages')}
              </button>
            )}
          </article>
        );
      })}
      {threads !== null && (
        <Composer
          ticketId={ticket.id}
          threads={helpdeskThreads}
          textareaRef={composerRef}
          onSent={() => {
            reload();
            onTicketTouched();
          }}
        />
      )}
      {splitOpen && splitting && (
        <SplitDialog
          ticket={ticket}
          messageIds={[...picked]}
          onClose={() => setSplitOpen(false)}
          onDone={(created) => {
            setSplitOpen(false);
            setSplitting(null);
            announce(t('conv.splitDone', { id: created.id }));
            navigate(`/split/${created.id}${window.location.search}`);
          }}
        />
      )}
      {moving && (
        <MoveDialog
          thread={moving}
          onClose={() => setMoving(null)}
          onDone={() => {
            setMoving(null);
            announce(t('conv.moved'));
            reload();
            onTicketTouched();
          }}
        />
      )}
    </section>
  );
}

export function MessageItem({ message, pickable, picked, onPick }: { message: Message; pickable: boolean; picked: boolean; onPick: () => void }) {
  const users = useUsers();
  const who =
    message.kind === 'customer'
      ? message.sender?.name || message.sender?.email || t('conv.customer')
      : message.author_id !== null
        ? userName(users, message.author_id)
        : message.sender?.email ?? '';
  const files = message.attachments;
  return (
    <li class={`message kind-${message.kind}`} data-message-id={message.id} data-kind={message.kind}>
      <div class="message-head">
        {pickable && (
          <input type="checkbox" checked={picked} onChange={onPick} aria-label={t('conv.pick', { id: message.id })} />
        )}
        <span class={`badge kind kind-${message.kind}`}>{t(`conv.kind.${message.kind}`)}</span>{' '}
        <strong>{who}</strong>{' '}
        <time class="muted small" dateTime={message.created_at}>
          {formatDateTime(message.created_at)}
        </time>
        {message.auto && <span class="badge">{t('conv.auto')}</span>}
        {message.delivery && message.kind === 'reply' && (
          <span class={`muted small delivery-${message.delivery.state}`}> · {t('conv.delivery', { state: message.delivery.state })}</span>
        )}
      </div>
      {message.kind !== 'note' && message.to.length > 0 && (
        <p class="muted small">
          {t('conv.to')}: {message.to.map((a) => a.email).join(', ')}
          {message.cc.length > 0 && ` · ${t('conv.cc')}: ${message.cc.map((a) => a.email).join(', ')}`}
        </p>
      )}
      <div class="message-text">{message.text}</div>
      {message.quoted_text && (
        <details class="quoted">
          <summary>{t('conv.quoted')}</summary>
          <div class="message-text muted">{message.quoted_text}</div>
        </details>
      )}
      {files.length > 0 && (
        <ul class="attachments" aria-label={t('conv.attachments')}>
          {files.map((a) => (
            <li>
              <a
                href={`/api/v1/attachments/${a.id}`}
                download={a.filename}
                onClick={(e) => {
                  e.preventDefault();
                  void download(a);
                }}
              >
                {t('conv.download', { name: a.filename || `#${a.id}` })}
              </a>{' '}
              <span class="muted small">({formatSize(a.size)})</span>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function Composer({
  ticketId,
  threads,
  textareaRef,
  onSent,
}: {
  ticketId: number;
  threads: Thread[];
  textareaRef: { current: HTMLTextAreaElement | null };
  onSent: () => void;
}) {
  const [kind, setKind] = useState<'reply' | 'note'>('reply');
  const [body, setBody] = useState('');
  const [threadId, setThreadId] = useState<number | null>(threads[0]?.id ?? null);
  const [toText, setToText] = useState('');
  const [ccText, setCcText] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const me = useMe();
  const users = useUsers();
  const people = (users ?? []).filter((u) => u.id !== me?.id);
  const mentions = useMentions({ enabled: kind === 'note', people, text: body, setText: setBody, field: textareaRef });
  const thread = threads.find((th) => th.id === threadId) ?? threads[0];
  const defaults = thread ? defaultRecipients(thread) : { to: [], cc: [] };
  useEffect(() => {
    if (threadId === null || !threads.some((th) => th.id === threadId)) setThreadId(threads[0]?.id ?? null);
  }, [threads.map((th) => th.id).join(',')]);
  useEffect(() => {
    setToText(defaults.to.join(', '));
    setCcText(defaults.cc.join(', '));
  }, [thread?.id, defaults.to.join(','), defaults.cc.join(',')]);

  if (threads.length === 0) return <p class="muted">{t('conv.noThread')}</p>;

  function pick(list: FileList | null) {
    const next = [...files, ...Array.from(list ?? [])];
    const wrong = checkFiles(next);
    if (wrong) setProblem(wrong.error === 'tooMany' ? t('conv.tooManyFiles', { max: MAX_UPLOADS }) : t('conv.fileTooLarge', { name: wrong.name }));
    else {
      setProblem(null);
      setFiles(next);
    }
    if (fileInput.current) fileInput.current.value = '';
  }

  async function send(event: Event) {
    event.preventDefault();
    if (!body.trim() || threadId === null) return;
    let recipients: { to?: string[]; cc?: string[] } = {};
    if (kind === 'reply') {
      const patch = recipientsPatch(toText, ccText, defaults);
      if ('error' in patch) {
        const field = t(patch.field === 'to' ? 'conv.to' : 'conv.cc');
        setProblem(
          patch.error === 'invalid'
            ? t('conv.badAddress', { field, address: patch.address })
            : patch.error === 'noRecipient'
              ? t('conv.noRecipient')
              : t('conv.tooManyRecipients', { field, max: MAX_RECIPIENTS }),
        );
        return;
      }
      recipients = patch;
    }
    setBusy(true);
    setProblem(null);
    try {
      const attachments = await Promise.all(files.map(toUpload));
      const mentioned = kind === 'note' ? mentionedIds(body, people) : [];
      await conversations.reply(threadId, kind, body, {
        ...recipients,
        ...(attachments.length ? { attachments } : {}),
        ...(mentioned.length ? { mentions: mentioned } : {}),
      });
      setBody('');
      setFiles([]);
      announce(kind === 'reply' ? t('conv.replySent') : t('conv.noteAdded'));
      onSent();
    } catch (e) {
      setProblem(t('app.error', { detail: errorText(e) }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class={`composer kind-${kind}`} onSubmit={send} aria-labelledby="composer-title">
      <h4 id="composer-title">{t('conv.compose')}</h4>
      <fieldset class="composer-kind">
        <legend class="sr-only">{t('conv.kindLegend')}</legend>
        <label class="check">
          <input type="radio" name="composer-kind" value="reply" checked={kind === 'reply'} onChange={() => setKind('reply')} /> {t('conv.kind.reply')}
        </label>
        <label class="check">
          <input type="radio" name="composer-kind" value="note" checked={kind === 'note'} onChange={() => setKind('note')} /> {t('conv.kind.note')}
        </label>
        {threads.length > 1 && (
          <label>
            {t('conv.thread')}{' '}
            <select value={String(threadId)} onChange={(e) => setThreadId(Number((e.target as HTMLSelectElement).value))}>
              {threads.map((th) => (
                <option value={th.id}>{th.subject || `#${th.id}`}</option>
              ))}
            </select>
          </label>
        )}
      </fieldset>
      {kind === 'reply' && (
        <div class="composer-recipients">
          <label class="stack">
            {t('conv.to')}
            <input type="text" name="to" value={toText} autoComplete="off" onInput={(e) => setToText((e.target as HTMLInputElement).value)} />
          </label>
          <label class="stack">
            {t('conv.cc')}
            <input type="text" name="cc" value={ccText} autoComplete="off" aria-describedby="composer-cc-hint" onInput={(e) => setCcText((e.target as HTMLInputElement).value)} />
          </label>
          <p id="composer-cc-hint" class="muted small">
            {t('conv.recipientsHint')}
          </p>
        </div>
      )}
      {kind === 'reply' && (!me || me.seat) && (
        <ReplyRecommendations
          ticketId={ticketId}
          onInsert={(snippet) => {
            const field = textareaRef.current;
            const next = insertAt(body, field?.selectionStart ?? body.length, field?.selectionEnd ?? body.length, snippet);
            setBody(next.text);
            requestAnimationFrame(() => {
              field?.focus();
              field?.setSelectionRange(next.caret, next.caret);
            });
          }}
        />
      )}
      <label class="composer-body">
        <span>
          {kind === 'reply' ? t('conv.replyLabel') : t('conv.noteLabel')} <kbd aria-hidden="true">r</kbd>
        </span>
        <textarea
          ref={textareaRef}
          rows={4}
          value={body}
          aria-keyshortcuts="r"
          aria-describedby={kind === 'note' ? 'composer-mention-hint' : undefined}
          {...mentions.fieldProps}
          onInput={(e) => {
            const field = e.target as HTMLTextAreaElement;
            setBody(field.value);
            mentions.track(field.value, field.selectionStart);
          }}
          onClick={(e) => mentions.track(body, (e.target as HTMLTextAreaElement).selectionStart)}
          onKeyDown={(e) => {
            if (mentions.onKeyDown(e)) return;
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
          }}
          onKeyUp={(e) => {
            const field = e.target as HTMLTextAreaElement;
            if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) mentions.track(field.value, field.selectionStart);
          }}
          onBlur={() => mentions.track('', 0)}
          required
        />
      </label>
      {mentions.popup}
      {kind === 'note' && (
        <p id="composer-mention-hint" class="muted small">
          {t('assist.mentionNoteHint')}
        </p>
      )}
      <div class="composer-files">
        <label>
          {t('conv.attach')} <input ref={fileInput} type="file" multiple onChange={(e) => pick((e.target as HTMLInputElement).files)} />
        </label>
        {files.length > 0 && (
          <ul aria-label={t('conv.attachments')}>
            {files.map((file, index) => (
              <li>
                {file.name} <span class="muted small">({formatSize(file.size)})</span>{' '}
                <button
                  type="button"
                  class="ghost small"
                  aria-label={t('conv.removeFile', { name: file.name })}
                  onClick={() => setFiles(files.filter((_, i) => i !== index))}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <div class="composer-actions">
        <span class="muted small">{t('conv.sendHint')}</span>
        <button type="submit" class="primary" disabled={busy || !body.trim()}>
          {kind === 'reply' ? t('conv.sendReply') : t('conv.addNote')}
        </button>
      </div>
    </form>
  );
}

function SplitDialog({ ticket, messageIds, onClose, onDone }: { ticket: Ticket; messageIds: number[]; onClose: () => void; onDone: (t: Ticket) => void }) {
  const [name, setName] = useState(t('conv.splitName', { name: ticket.name }));
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t('conv.splitTitle')} onClose={onClose} id="split-dialog">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            onDone(await ticketApi.split(ticket.id, messageIds, { name, pipeline_id: ticket.pipeline_id, priority: ticket.priority }));
          } catch (err) {
            announce(t('app.error', { detail: errorText(err) }), 'error');
            setBusy(false);
          }
        }}
      >
        <p>{t('conv.splitBody', { count: messageIds.length })}</p>
        <label class="stack">
          {t('conv.splitNewName')}
          <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required maxLength={500} />
        </label>
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {t('conv.splitConfirm')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The owner and comment of a thread's move, to the inbox or to the help desk. */
export function MoveFields({ owner, setOwner, comment, setComment }: { owner: string; setOwner: (v: string) => void; comment: string; setComment: (v: string) => void }) {
  const users = useUsers();
  return (
    <>
      <label class="stack">
        {t('conv.moveOwner')}
        <select value={owner} onChange={(e) => setOwner((e.target as HTMLSelectElement).value)}>
          <option value="">{t('filters.unassigned')}</option>
          {users?.map((u) => (
            <option value={u.id}>{u.name}</option>
          ))}
        </select>
      </label>
      <label class="stack">
        {t('conv.moveComment')}
        <textarea rows={3} value={comment} onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)} />
      </label>
    </>
  );
}

function MoveDialog({ thread, onClose, onDone }: { thread: Thread; onClose: () => void; onDone: () => void }) {
  const [owner, setOwner] = useState(thread.owner_id === null ? '' : String(thread.owner_id));
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t('conv.moveTitle')} onClose={onClose} id="move-dialog">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            await conversations.moveToInbox(thread.id, { owner_id: owner ? Number(owner) : null, comment: comment.trim() || null });
            onDone();
          } catch (err) {
            announce(t('app.error', { detail: errorText(err) }), 'error');
            setBusy(false);
          }
        }}
      >
        <p>{t('conv.moveBody')}</p>
        <MoveFields owner={owner} setOwner={setOwner} comment={comment} setComment={setComment} />
        <div class="dialog-actions">
          <button type="button" class="ghost" onClick={onClose}>
            {t('app.cancel')}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {t('conv.moveConfirm')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
