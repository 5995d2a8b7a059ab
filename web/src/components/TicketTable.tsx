/**
 * The ticket list of the table and split layouts: cursor-paged (100 a page, loaded as the user
 * scrolls) and virtualised (only the rows in view are in the DOM, so 10,000 rows scroll as
 * smoothly as 100). Unread tickets are bold. j/k move the current row, Enter/o open it, x selects.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { tickets as ticketApi } from '../endpoints';
import { filtersToQuery, nextSort, sortState, type Filters } from '../filters';
import { formatDateTime, formatRelative, t, type MessageKey } from '../i18n';
import { moveIndex, useShortcuts } from '../keyboard';
import { applyUpdate, goneIds, useLive } from '../live';
import { CursorList } from '../paging';
import { onLinkClick } from '../router';
import { errorText, stageById, usePipelines, userName, useUsers } from '../store';
import type { Ticket } from '../types';
import { nearEnd, rowWindow, scrollToReveal } from '../virtual';

export const ROW_HEIGHT = 36;

export type ColumnKey = 'id' | 'name' | 'status' | 'priority' | 'owner' | 'category' | 'source' | 'created_at' | 'updated_at' | 'sla';
interface Column {
  key: ColumnKey;
  label: MessageKey;
  sort?: string;
}
/** The table's columns, in order; `name` is always shown. */
export const COLUMNS: Column[] = [
  { key: 'id', label: 'col.id', sort: 'id' },
  { key: 'name', label: 'col.name', sort: 'name' },
  { key: 'status', label: 'col.status' },
  { key: 'priority', label: 'col.priority', sort: 'priority' },
  { key: 'owner', label: 'col.owner' },
  { key: 'category', label: 'ticket.category' },
  { key: 'source', label: 'ticket.source' },
  { key: 'created_at', label: 'col.created', sort: 'created_at' },
  { key: 'updated_at', label: 'col.updated', sort: 'updated_at' },
  /** A seat feature: offered to seat holders only. */
  { key: 'sla', label: 'sla.label', sort: 'sla_due_at' },
];
export const DEFAULT_COLUMNS: ColumnKey[] = ['id', 'name', 'status', 'priority', 'owner', 'updated_at'];
const COMPACT_COLUMNS = COLUMNS.filter((c) => ['name', 'status', 'updated_at'].includes(c.key));
export const PAGE_SIZE = 100;

export interface TicketTableHandle {
  list: CursorList<Ticket>;
}

interface Props {
  /** The filters in effect (sort marks on the headers). */
  filters: Filters;
  /** What the list is fetched with, when not `filters` (a saved view's id and the filters beside it). */
  query?: Filters;
  compact?: boolean;
  openId?: number | null;
  selection?: Set<number>;
  onSelectionChange?: (ids: Set<number>) => void;
  onSort?: (sort: string) => void;
  onOpen: (ticket: Ticket) => void;
  /** In split, moving with j/k also opens the ticket. */
  openOnMove?: boolean;
  reloadKey?: number;
  handle?: { current: TicketTableHandle | null };
  label: string;
  columns?: ColumnKey[];
}

export function TicketTable(props: Props) {
  const { filters, compact = false, openId, selection, onSelectionChange, onSort, onOpen, label } = props;
  const [, rerender] = useState(0);
  const list = useMemo(() => new CursorList<Ticket>(() => Promise.reject(new Error('not started')), () => rerender((n) => n + 1)), []);
  if (props.handle) props.handle.current = { list };
  const pipelines = usePipelines();
  const users = useUsers();
  const stages = useMemo(() => stageById(pipelines), [pipelines]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });
  const [active, setActive] = useState(-1);
  const fetchWith = props.query ?? filters;
  const filterKey = JSON.stringify(filtersToQuery(fetchWith));

  useEffect(() => {
    const query = filtersToQuery(fetchWith);
    list.reset((cursor, signal) => ticketApi.list({ ...query, limit: PAGE_SIZE, cursor }, signal));
    setActive(-1);
    scrollRef.current?.scrollTo({ top: 0 });
    void list.loadMore();
  }, [filterKey, props.reloadKey]);

  // other agents' changes, in place: updated rows change, deleted or merged-away rows go; new
  // tickets are counted and shown on request (rows never jump under the user's pointer)
  const [arrived, setArrived] = useState<Set<number>>(new Set());
  const reload = () => {
    const query = filtersToQuery(fetchWith);
    list.reset((cursor, signal) => ticketApi.list({ ...query, limit: PAGE_SIZE, cursor }, signal));
    setArrived(new Set());
    void list.loadMore();
  };
  useEffect(() => setArrived(new Set()), [filterKey, props.reloadKey]);
  useLive((event) => {
    if (event.event === 'reset') return reload();
    const id = event.data.ticket_id;
    if ((event.event === 'ticket_created' || event.event === 'ticket_restored') && typeof id === 'number' && !list.items.some((x) => x.id === id)) {
      setArrived((old) => new Set(old).add(id));
      return;
    }
    const gone = goneIds(event);
    if (gone.length) list.remove(gone);
    else if (event.event === 'ticket_updated') list.patch((ticket) => applyUpdate(ticket, event));
  });

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const measure = () => setViewport({ top: el.scrollTop, height: el.clientHeight });
    measure();
    const observer = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(measure) : null;
    observer?.observe(el);
    return () => observer?.disconnect();
  }, []);

  const items = list.items;
  const win = rowWindow(viewport.top, viewport.height, ROW_HEIGHT, items.length);
  useEffect(() => {
    if (!list.loading && !list.done && list.error === null && items.length > 0 && nearEnd(win, items.length)) {
      void list.loadMore();
    }
  });

  // keep the open ticket as the current row when it is in the list (split)
  useEffect(() => {
    if (openId == null) return;
    const index = items.findIndex((x) => x.id === openId);
    if (index >= 0 && index !== active) setActive(index);
  }, [openId, items.length]);

  function reveal(index: number) {
    const el = scrollRef.current;
    if (!el) return;
    const top = scrollToReveal(index, el.scrollTop, el.clientHeight - ROW_HEIGHT, ROW_HEIGHT);
    if (top !== null) el.scrollTop = top;
  }

  function move(delta: number) {
    const next = moveIndex(active, delta, items.length);
    if (next < 0) return;
    setActive(next);
    reveal(next);
    if (props.openOnMove) onOpen(items[next]);
    if (delta > 0 && next >= items.length - 5) void list.loadMore();
  }

  function toggle(id: number) {
    if (!selection || !onSelectionChange) return;
    const next = new Set(selection);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    onSelectionChange(next);
  }

  useShortcuts([
    { key: 'j', run: () => move(1) },
    { key: 'k', run: () => move(-1) },
    { key: 'Enter', run: () => active >= 0 && onOpen(items[active]) },
    { key: 'o', run: () => active >= 0 && onOpen(items[active]) },
    { key: 'x', run: () => active >= 0 && toggle(items[active].id) },
    ...(props.openOnMove ? [] : [{ key: 'u', run: () => active >= 0 && void toggleRead(items[active]) }]),
  ]);

  async function toggleRead(ticket: Ticket) {
    try {
      const state = ticket.unread ? await ticketApi.markRead(ticket.id) : await ticketApi.markUnread(ticket.id);
      list.replace({ ...ticket, unread: state.unread });
    } catch {
      /* the row keeps its state */
    }
  }

  const allSelected = !!selection && items.length > 0 && items.every((x) => selection.has(x.id));
  const shown = compact ? COMPACT_COLUMNS : COLUMNS.filter((c) => c.key === 'name' || (props.columns ?? DEFAULT_COLUMNS).includes(c.key));
  const span = shown.length + (compact ? 0 : 1);
  const header = (column: Column) => {
    const text = t(column.label);
    if (!column.sort) {
      return (
        <th scope="col" class={`col-${column.key}`}>
          {text}
        </th>
      );
    }
    const state = sortState(filters.sort, column.sort);
    return (
      <th scope="col" aria-sort={state} class={`col-${column.key}`}>
        {onSort ? (
          <button type="button" class="th-sort" onClick={() => onSort(nextSort(filters.sort, column.sort!))}>
            {text}
            <span aria-hidden="true" class="sort-mark">
              {state === 'ascending' ? '▲' : state === 'descending' ? '▼' : ''}
            </span>
          </button>
        ) : (
          text
        )}
      </th>
    );
  };
  const cell = (column: Column, ticket: Ticket, index: number) => {
    switch (column.key) {
      case 'id':
        return <td class="col-id">#{ticket.id}</td>;
      case 'name':
        return (
          <td class="col-name">
            <a
              href={`/split/${ticket.id}${window.location.search}`}
              onClick={(e) => {
                if (e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey) {
                  e.preventDefault();
                  setActive(index);
                  onOpen(ticket);
                } else onLinkClick(e);
              }}
            >
              {compact && <span class="muted">#{ticket.id} </span>}
              {ticket.name}
            </a>
            {ticket.unread && <span class="sr-only"> ({t('table.unread')})</span>}
          </td>
        );
      case 'status':
        return <td class="col-status">{stages.get(ticket.status)?.label ?? ticket.status}</td>;
      case 'priority':
        return (
          <td class="col-priority">
            <span class={`badge priority-${ticket.priority}`}>{t(`priority.${ticket.priority}`)}</span>
          </td>
        );
      case 'owner':
        return <td class="col-owner">{userName(users, ticket.owner_id)}</td>;
      case 'category':
        return <td class="col-category">{ticket.category ?? ''}</td>;
      case 'source':
        return <td class="col-source">{t(`source.${ticket.source}`)}</td>;
      case 'sla':
        return (
          <td class="col-sla">
            {ticket.sla && (
              <>
                <span class={`badge sla-${ticket.sla.state}`}>{t(`sla.state.${ticket.sla.state}`)}</span>
                {ticket.sla.next_due_at && (
                  <>
                    {' '}
                    <time class="small" dateTime={ticket.sla.next_due_at} title={formatDateTime(ticket.sla.next_due_at)}>
                      {formatRelative(ticket.sla.next_due_at)}
                    </time>
                  </>
                )}
              </>
            )}
          </td>
        );
      case 'created_at':
      case 'updated_at':
        return (
          <td class={`col-${column.key}`} title={formatDateTime(ticket[column.key])}>
            <time dateTime={ticket[column.key]}>{formatRelative(ticket[column.key])}</time>
          </td>
        );
    }
  };

  return (
    <div class={`ticket-table ${compact ? 'compact' : ''}`}>
      <p class="table-count" aria-live="polite">
        {list.total === null ? t('app.loading') : t(list.totalCapped ? 'table.count_capped' : 'table.count', { count: list.total })}
        {arrived.size > 0 && (
          <>
            {' '}
            <button type="button" class="link" onClick={reload} data-testid="new-tickets">
              {t('table.newTickets', { count: arrived.size })}
            </button>
          </>
        )}
      </p>
      <div
        class="table-scroll"
        ref={scrollRef}
        onScroll={(e) => {
          const el = e.currentTarget as HTMLDivElement;
          setViewport({ top: el.scrollTop, height: el.clientHeight });
        }}
      >
        <table aria-label={label} aria-rowcount={(list.total ?? items.length) + 1} data-testid="ticket-table">
          <thead>
            <tr aria-rowindex={1}>
              {!compact && (
                <th scope="col" class="col-select">
                  <input
                    type="checkbox"
                    aria-label={t('table.selectAll')}
                    checked={allSelected}
                    onChange={() => onSelectionChange?.(allSelected ? new Set() : new Set(items.map((x) => x.id)))}
                  />
                </th>
              )}
              {shown.map(header)}
            </tr>
          </thead>
          <tbody>
            {win.padTop > 0 && (
              <tr aria-hidden="true" class="spacer">
                <td colSpan={span} style={{ height: `${win.padTop}px` }} />
              </tr>
            )}
            {items.slice(win.start, win.end).map((ticket, offset) => {
              const index = win.start + offset;
              const classes = ['row', ticket.unread ? 'unread' : '', index === active ? 'active' : '', ticket.id === openId ? 'open' : '']
                .filter(Boolean)
                .join(' ');
              return (
                <tr
                  key={ticket.id}
                  class={classes}
                  aria-rowindex={index + 2}
                  aria-current={ticket.id === openId ? 'true' : undefined}
                  data-ticket-id={ticket.id}
                  onClick={() => setActive(index)}
                >
                  {!compact && (
                    <td class="col-select">
                      <input
                        type="checkbox"
                        aria-label={t('table.selectTicket', { id: ticket.id })}
                        checked={selection?.has(ticket.id) ?? false}
                        onChange={() => toggle(ticket.id)}
                      />
                    </td>
                  )}
                  {shown.map((column) => cell(column, ticket, index))}
                </tr>
              );
            })}
            {win.padBottom > 0 && (
              <tr aria-hidden="true" class="spacer">
                <td colSpan={span} style={{ height: `${win.padBottom}px` }} />
              </tr>
            )}
          </tbody>
        </table>
        {list.total === 0 && <p class="empty">{t('table.empty')}</p>}
        {list.loading && items.length > 0 && <p class="muted loading-more">{t('table.loadingMore')}</p>}
        {list.error !== null && (
          <p class="error" role="alert">
            {t('app.error', { detail: errorText(list.error) })}{' '}
            <button type="button" onClick={() => void list.loadMore()}>
              {t('app.retry')}
            </button>
          </p>
        )}
      </div>
    </div>
  );
}
