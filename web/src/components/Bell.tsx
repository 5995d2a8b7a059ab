// The notification bell: unread count from the in-app feed, the feed in a panel, mark read.
import { useEffect, useRef, useState } from 'preact/hooks';
import { notifications } from '../endpoints';
import { formatRelative, t, type MessageKey } from '../i18n';
import { navigate } from '../router';
import type { FeedItem } from '../types';

const FEED_PAGE = 50;
const POLL_MS = 30_000;
const KNOWN = new Set([
  'ticket_created',
  'record_updated',
  'assigned_to_you',
  'new_message',
  'status_changed',
  'sla_breached',
  'mentioned',
]);

/** Unread items of the first page; "50+" when the whole page is unread and more pages exist. */
export function unreadLabel(items: FeedItem[], hasMore: boolean): { count: number; text: string } {
  const count = items.filter((x) => !x.read).length;
  return { count, text: hasMore && count === items.length && count > 0 ? `${count}+` : String(count) };
}

export function Bell() {
  const [items, setItems] = useState<FeedItem[]>([]);
  const [hasMore, setHasMore] = useState(false);
  const [open, setOpen] = useState(false);
  const panelRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);

  const load = () =>
    notifications.feed(FEED_PAGE).then(
      (page) => {
        setItems(page.items);
        setHasMore(page.next_cursor !== null);
      },
      () => {},
    );

  useEffect(() => {
    void load();
    const timer = setInterval(() => document.visibilityState === 'visible' && void load(), POLL_MS);
    // PLACE FOR GET /api/v1/stream (Server-Sent Events) once the gateway serves it: no polling then.
    return () => clearInterval(timer);
  }, []);

  useEffect(() => {
    if (!open) return;
    void load();
    const onDown = (e: MouseEvent) => {
      if (!panelRef.current?.contains(e.target as Node) && !buttonRef.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        buttonRef.current?.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const unread = unreadLabel(items, hasMore);

  async function read(item: FeedItem) {
    if (!item.read) {
      await notifications.markRead(item.id).catch(() => {});
      setItems((all) => all.map((x) => (x.id === item.id ? { ...x, read: true } : x)));
    }
  }

  return (
    <div class="bell">
      <button
        ref={buttonRef}
        type="button"
        class="ghost bell-button"
        aria-expanded={open}
        aria-controls="bell-panel"
        aria-label={t('bell.unread', { count: unread.count })}
        onClick={() => setOpen(!open)}
      >
        <svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
          <path
            fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
          />
        </svg>
        {unread.count > 0 && (
          <span class="bell-count" aria-hidden="true" data-testid="bell-count">
            {unread.text}
          </span>
        )}
      </button>
      {open && (
        <div id="bell-panel" class="bell-panel" ref={panelRef} role="region" aria-label={t('bell.label')}>
          <div class="bell-head">
            <h2>{t('bell.label')}</h2>
            {unread.count > 0 && (
              <button type="button" class="link" onClick={() => items.filter((x) => !x.read).forEach((x) => void read(x))}>
                {t('bell.markAll')}
              </button>
            )}
          </div>
          {items.length === 0 ? (
            <p class="muted">{t('bell.empty')}</p>
          ) : (
            <ul class="feed">
              {items.map((item) => {
                const key = (KNOWN.has(item.type) ? `bell.type.${item.type}` : 'bell.type.other') as MessageKey;
                return (
                  <li class={item.read ? '' : 'unread'}>
                    <button
                      type="button"
                      class="feed-item"
                      onClick={async () => {
                        await read(item);
                        setOpen(false);
                        if (item.ticket_id) navigate(`/split/${item.ticket_id}`);
                      }}
                    >
                      <span>{(item.count ?? 1) > 1 && item.title ? item.title : t(key, { id: item.ticket_id ?? '' })}</span>
                      <time class="muted small" dateTime={item.created_at}>
                        {formatRelative(item.created_at)}
                      </time>
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
