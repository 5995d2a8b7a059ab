/**
 * Board layout: a column per stage of one pipeline. Dragging a card to another column (or
 * Shift+←/→ on a focused card, or its "Move to" menu) changes the ticket's status with If-Match;
 * when someone changed the ticket meanwhile the answer is 412, the card goes back, and the fresh
 * ticket is shown: nothing is overwritten.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { tickets as ticketApi } from '../endpoints';
import { filtersToQuery } from '../filters';
import { t } from '../i18n';
import { applyUpdate, goneIds, useLive } from '../live';
import { useShortcuts } from '../keyboard';
import { navigate, onLinkClick } from '../router';
import { errorText, usePipelines, userName, useUsers } from '../store';
import { announce } from '../toast';
import type { BoardColumn, Ticket } from '../types';
import { ConflictDialog } from './ConflictDialog';
import { FilterBar } from './FilterBar';
import { useFilters } from './useFilters';

const DRAG_TYPE = 'application/x-helpdesk-ticket';

export function BoardPage({ search }: { search: string }) {
  const [filters, setFilters, { url }] = useFilters(search);
  const pipelines = usePipelines();
  const users = useUsers();
  const [columns, setColumns] = useState<BoardColumn[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState<Set<number>>(new Set());
  const [conflict, setConflict] = useState<Ticket | null>(null);
  const [dropTarget, setDropTarget] = useState<number | null>(null);
  const [reload, setReload] = useState(0);
  const pipelineId = filters.pipeline_id ?? pipelines?.[0]?.id;
  const query = useMemo(() => ({ ...filtersToQuery(url), pipeline_id: pipelineId }), [search, pipelineId]);

  useEffect(() => {
    if (pipelineId === undefined) return;
    const controller = new AbortController();
    setError(null);
    ticketApi.board(query, controller.signal).then(
      (board) => setColumns(board.columns),
      (e) => (e as Error).name !== 'AbortError' && setError(e),
    );
    return () => controller.abort();
  }, [JSON.stringify(query), reload]);

  // other agents' changes, in place: a card whose status changed moves to its new column
  useLive((event) => {
    if (event.event === 'reset') return setReload((n) => n + 1);
    const gone = new Set(goneIds(event));
    if (gone.size) {
      setColumns((cols) =>
        cols?.map((col) => {
          const items = col.items.filter((x) => !gone.has(x.id));
          return items.length === col.items.length ? col : { ...col, items, total: col.total - (col.items.length - items.length) };
        }) ?? cols,
      );
      return;
    }
    if (event.event !== 'ticket_updated') return;
    setColumns((cols) => {
      if (!cols) return cols;
      for (const col of cols) {
        const card = col.items.find((x) => x.id === event.data.ticket_id);
        if (!card) continue;
        const updated = applyUpdate(card, event);
        if (!updated) return cols;
        if (updated.pipeline_id !== card.pipeline_id) {
          return cols.map((c) => (c === col ? { ...c, items: c.items.filter((x) => x.id !== card.id), total: c.total - 1 } : c));
        }
        if (cols.some((c) => c.stage.id === updated.status)) return place(cols, updated, updated.status);
        return cols.map((c) => (c === col ? { ...c, items: c.items.map((x) => (x.id === card.id ? updated : x)) } : c));
      }
      return cols;
    });
  });

  function locate(id: number): { column: number; ticket: Ticket } | null {
    for (let c = 0; c < (columns ?? []).length; c++) {
      const ticket = columns![c].items.find((x) => x.id === id);
      if (ticket) return { column: c, ticket };
    }
    return null;
  }

  function place(cols: BoardColumn[], ticket: Ticket, stageId: number): BoardColumn[] {
    return cols.map((col) => {
      const without = col.items.filter((x) => x.id !== ticket.id);
      const removed = without.length !== col.items.length;
      if (col.stage.id === stageId) {
        return { ...col, items: [ticket, ...without], total: col.total + (removed ? 0 : 1) };
      }
      return removed ? { ...col, items: without, total: col.total - 1 } : col;
    });
  }

  async function move(id: number, stageId: number) {
    const found = locate(id);
    if (!found || !columns || found.ticket.status === stageId || pending.has(id)) return;
    const { ticket } = found;
    const stage = columns.find((c) => c.stage.id === stageId)?.stage;
    setColumns((cols) => (cols ? place(cols, { ...ticket, status: stageId }, stageId) : cols));
    setPending((p) => new Set(p).add(id));
    try {
      const saved = await ticketApi.update(ticket, { status: stageId });
      setColumns((cols) => (cols ? place(cols, saved, saved.status) : cols));
      announce(t('board.moved', { id, stage: stage?.label ?? String(stageId) }));
    } catch (e) {
      setColumns((cols) => (cols ? place(cols, ticket, ticket.status) : cols));
      if (e instanceof ApiError && e.status === 412) {
        const fresh = await ticketApi.get(id);
        setColumns((cols) => (cols ? place(cols, fresh, fresh.status) : cols));
        setConflict(fresh);
      } else {
        announce(t('app.error', { detail: errorText(e) }), 'error');
      }
    } finally {
      setPending((p) => {
        const next = new Set(p);
        next.delete(id);
        return next;
      });
    }
  }

  function neighbour(id: number, delta: number) {
    const found = locate(id);
    if (!found || !columns) return;
    const target = columns[found.column + delta];
    if (target) {
      void move(id, target.stage.id).then(() => {
        document.querySelector<HTMLElement>(`[data-card-id="${id}"] a`)?.focus();
      });
    }
  }

  function focusCard(delta: number) {
    const links = [...document.querySelectorAll<HTMLElement>('.card a.card-link')];
    const index = links.indexOf(document.activeElement as HTMLElement);
    const next = links[index < 0 ? (delta > 0 ? 0 : links.length - 1) : Math.max(0, Math.min(links.length - 1, index + delta))];
    next?.focus();
  }

  useShortcuts([
    { key: 'j', run: () => focusCard(1) },
    { key: 'k', run: () => focusCard(-1) },
  ]);

  const stagesOfPipeline = columns?.map((c) => c.stage) ?? [];

  return (
    <section class="page board-page" aria-labelledby="page-title">
      <h1 id="page-title" class="sr-only">
        {t('board.title')}
      </h1>
      <FilterBar filters={{ ...filters, pipeline_id: pipelineId }} onChange={setFilters} requirePipeline />
      <p id="board-hint" class="muted small hint">
        {t('board.dragHint')}
      </p>
      {error !== null && (
        <p class="error" role="alert">
          {t('app.error', { detail: errorText(error) })}{' '}
          <button type="button" onClick={() => setReload((n) => n + 1)}>
            {t('app.retry')}
          </button>
        </p>
      )}
      {pipelines && pipelines.length === 0 && <p>{t('board.noPipeline')}</p>}
      {columns === null && error === null && <p class="muted">{t('app.loading')}</p>}
      <div class="board" data-testid="board">
        {columns?.map((col) => (
          <section
            key={col.stage.id}
            class={`column ${dropTarget === col.stage.id ? 'drop-target' : ''} ${col.stage.state === 'CLOSED' ? 'closed' : ''}`}
            aria-labelledby={`stage-${col.stage.id}`}
            data-stage-id={col.stage.id}
            onDragOver={(e) => {
              if (e.dataTransfer?.types.includes(DRAG_TYPE)) {
                e.preventDefault();
                e.dataTransfer.dropEffect = 'move';
                if (dropTarget !== col.stage.id) setDropTarget(col.stage.id);
              }
            }}
            onDragLeave={(e) => {
              if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node)) setDropTarget(null);
            }}
            onDrop={(e) => {
              e.preventDefault();
              setDropTarget(null);
              const id = Number(e.dataTransfer?.getData(DRAG_TYPE));
              if (id) void move(id, col.stage.id);
            }}
          >
            <h2 id={`stage-${col.stage.id}`} class="column-title">
              {col.stage.label} <span class="count">{col.total_capped ? `${col.total}+` : col.total}</span>
            </h2>
            {col.items.length === 0 ? (
              <p class="muted small empty-column">{t('board.emptyColumn')}</p>
            ) : (
              <ul class="cards">
                {col.items.map((ticket) => (
                  <li
                    key={ticket.id}
                    class={`card ${ticket.unread ? 'unread' : ''} ${pending.has(ticket.id) ? 'pending' : ''}`}
                    draggable
                    data-card-id={ticket.id}
                    data-state={pending.has(ticket.id) ? 'saving' : 'saved'}
                    onDragStart={(e) => {
                      e.dataTransfer?.setData(DRAG_TYPE, String(ticket.id));
                      e.dataTransfer?.setData('text/plain', `#${ticket.id} ${ticket.name}`);
                      if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
                    }}
                    onDragEnd={() => setDropTarget(null)}
                    onKeyDown={(e) => {
                      if (e.shiftKey && e.key === 'ArrowRight') {
                        e.preventDefault();
                        neighbour(ticket.id, 1);
                      } else if (e.shiftKey && e.key === 'ArrowLeft') {
                        e.preventDefault();
                        neighbour(ticket.id, -1);
                      }
                    }}
                  >
                    <a
                      class="card-link"
                      href={`/split/${ticket.id}${search}`}
                      draggable={false}
                      onClick={onLinkClick}
                      aria-describedby="board-hint"
                      aria-keyshortcuts="Shift+ArrowLeft Shift+ArrowRight"
                    >
                      <span class="muted">#{ticket.id}</span> {ticket.name}
                      {ticket.unread && <span class="sr-only"> ({t('table.unread')})</span>}
                    </a>
                    <div class="card-meta">
                      <span class={`badge priority-${ticket.priority}`}>{t(`priority.${ticket.priority}`)}</span>
                      <span class="muted small">{userName(users, ticket.owner_id)}</span>
                    </div>
                    <label class="card-move">
                      <span class="sr-only">{t('board.moveTo', { id: ticket.id })}</span>
                      <select
                        value={String(ticket.status)}
                        disabled={pending.has(ticket.id)}
                        onChange={(e) => void move(ticket.id, Number((e.target as HTMLSelectElement).value))}
                      >
                        {stagesOfPipeline.map((s) => (
                          <option value={s.id}>{s.label}</option>
                        ))}
                      </select>
                    </label>
                  </li>
                ))}
              </ul>
            )}
            {col.total > col.items.length && (
              <a
                class="small more"
                href={`/tickets?pipeline_id=${pipelineId}&status=${col.stage.id}`}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(`/tickets?pipeline_id=${pipelineId}&status=${col.stage.id}`);
                }}
              >
                {t('board.more', { count: col.total - col.items.length })}
              </a>
            )}
          </section>
        ))}
      </div>
      {conflict && <ConflictDialog fresh={conflict} onClose={() => setConflict(null)} />}
    </section>
  );
}
