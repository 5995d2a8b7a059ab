// The notification bell: the unread count (live over the stream), the in-app feed in a panel, mark read.
import { useEffect, useRef, useState } from 'preact/hooks';
import { notifications } from '../endpoints';
import { useLive } from '../live';
import { formatRelative, t, type MessageKey } from '../i18n';
import { navigate, onLinkClick } from '../router';
import type { FeedItem } from '../types';

const FEED_PAGE = 50;
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
  /** The count the stream last told (all unread, not just the first page); null until it speaks. */
  const [liveUnread, setLiveUnread] = useState<number | null>(null);
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
  }, []);

  // no polling: the stream says hello with the count, then each new notification and each read
  useLive((event) => {
    const count = event.data.unread;
    if (event.event === 'hello' || event.event === 'notification' || event.event === 'unread') {
      if (typeof count === 'number') setLiveUnread(count);
      if (event.event === 'notification' || open) void load();
      if (event.event === 'unread' && Array.isArray(event.data.read_ids)) {
        const ids = new Set(event.data.read_ids as number[]);
        setItems((all) => all.map((x) => (ids.has(x.id) ? { ...x, read: true } : x)));
      }
    } else if (event.event === 'reset') void load();
  });

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

  const fromFeed = unreadLabel(items, hasMore);
  const unread = liveUnread === null ? fromFeed : { count: liveUnread, text: String(liveUnread) };

  async function read(item: FeedItem) {
    if (!item.read) {
      await notifications.markRead(item.id).catch(() => {});
      setItems((all) => all.map((x) => (x.id === item.id ? { ...x, read: true } : x)));
      setLiveUnread((n) => (n === null ? n : Math.max(0, n - 1)));
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
            <a href="/preferences" class="small" onClick={(e) => (onLinkClick(e), setOpen(false))}>
              {t('prefs.link')}
            </a>
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
