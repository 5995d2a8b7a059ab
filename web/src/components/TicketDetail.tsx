/**
 * The open ticket of the split layout: name and description, the properties sidebar (inline edit,
 * saved with If-Match so a concurrent change is never overwritten), associations, followers and
 * the activity timeline, the conversation, and the lifecycle actions (merge, spam, delete). f
 * follows/unfollows, u marks unread/read, m merges. A change another agent makes arrives over the
 * live stream and shows in place.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { tickets as ticketApi } from '../endpoints';
import { formatDateTime, t } from '../i18n';
import { useShortcuts } from '../keyboard';
import { applyUpdate, goneIds, ticketIdOf, useLive } from '../live';
import { navigate } from '../router';
import { can, errorText, stageById, useMe, usePipelines, userName, useTeams, useUsers } from '../store';
import { announce } from '../toast';
import {
  ASSOCIATION_KINDS,
  PRIORITIES,
  SOURCES,
  type AssociationKind,
  type Follower,
  type Ticket,
  type TicketPatch,
  type TimelineItem,
} from '../types';
import { ConflictDialog } from './ConflictDialog';
import { Conversation } from './Conversation';
import { DeleteDialog, MergeDialog, SpamDialog } from './TicketActions';
import { InlineSelect, InlineText, type Option } from './Inline';
import { SlaStatus } from './SlaStatus';
import { Suggestions } from './Suggestions';

interface Props {
  ticketId: number;
  onChanged: (ticket: Ticket) => void;
  /** The ticket left the lists (deleted, marked spam as a whole, merged into another, out of sight). */
  onRemoved?: (id: number) => void;
}

type Action = 'merge' | 'spam' | 'delete' | null;

export function TicketDetail({ ticketId, onChanged, onRemoved }: Props) {
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [action, setAction] = useState<Action>(null);
  const [conversationKey, setConversationKey] = useState(0);
  // why the open ticket went: deleted or merged away, or out of the reader's sight (reassigned)
  const [gone, setGone] = useState<false | 'gone' | 'hidden'>(false);
  const [error, setError] = useState<unknown>(null);
  const [conflict, setConflict] = useState<Ticket | null>(null);
  const [timelineKey, setTimelineKey] = useState(0);
  const pipelines = usePipelines();
  const users = useUsers();
  const teams = useTeams();
  const me = useMe();
  const stages = useMemo(() => stageById(pipelines), [pipelines]);

  useEffect(() => {
    let live = true;
    setTicket(null);
    setError(null);
    ticketApi.get(ticketId).then(
      (loaded) => {
        if (!live) return;
        setTicket(loaded);
        onChanged(loaded); // opening marked it read
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [ticketId]);

  async function refresh() {
    try {
      accept(await ticketApi.get(ticketId));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone('gone');
    }
  }

  // another agent's change, as it happens
  useLive((event) => {
    if (!ticket) return;
    if (goneIds(event).includes(ticket.id)) {
      if (event.event === 'ticket_merged' && typeof event.data.ticket_id === 'number') {
        onRemoved?.(ticket.id);
        navigate(`/split/${event.data.ticket_id}${window.location.search}`, { replace: true });
      } else setGone(event.event === 'ticket_hidden' ? 'hidden' : 'gone');
      return;
    }
    const about = (event.data.notification as { ticket_id?: unknown } | undefined)?.ticket_id;
    if (event.event === 'reset' || (event.event === 'notification' && about === ticket.id)) {
      // a notification about the open ticket may be a new message: the stream carries no message events
      void refresh();
      setConversationKey((n) => n + 1);
      return;
    }
    if (ticketIdOf(event) !== ticket.id) return;
    const updated = applyUpdate(ticket, event);
    if (updated) accept(updated);
    else if (event.event !== 'ticket_updated') {
      void refresh();
      setConversationKey((n) => n + 1);
    }
  });

  function accept(updated: Ticket) {
    setTicket(updated);
    onChanged(updated);
    setTimelineKey((n) => n + 1);
  }

  async function save(patch: TicketPatch, field: string) {
    if (!ticket) return;
    try {
      accept(await ticketApi.update(ticket, patch));
      announce(t('ticket.saved', { field }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        const fresh = await ticketApi.get(ticket.id);
        accept(fresh);
        setConflict(fresh);
      } else {
        announce(t('app.error', { detail: errorText(e) }), 'error');
      }
    }
  }

  async function toggleFollow() {
    if (!ticket) return;
    try {
      const state = ticket.following ? await ticketApi.unfollow(ticket.id) : await ticketApi.follow(ticket.id);
      accept({ ...ticket, following: state.following });
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }

  async function toggleRead() {
    if (!ticket) return;
    try {
      const state = ticket.unread ? await ticketApi.markRead(ticket.id) : await ticketApi.markUnread(ticket.id);
      const next = { ...ticket, unread: state.unread };
      setTicket(next);
      onChanged(next);
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  }

  useShortcuts([
    { key: 'f', run: () => void toggleFollow() },
    { key: 'u', run: () => void toggleRead() },
    { key: 'm', run: () => setAction('merge') },
  ]);

  const removed = (id: number) => {
    setAction(null);
    onRemoved?.(id);
    navigate(`/split${window.location.search}`, { replace: true });
  };

  if (error) {
    return (
      <p class="error" role="alert">
        {error instanceof ApiError && error.status === 404 ? t('ticket.notFound') : t('app.error', { detail: errorText(error) })}
      </p>
    );
  }
  if (!ticket) return <p class="muted">{t('ticket.loading')}</p>;
  if (gone) {
    return (
      <p class="warning" role="status">
        {t(gone === 'hidden' ? 'ticket.hidden' : 'ticket.gone', { id: ticket.id })}
      </p>
    );
  }

  const stageOptions: Option[] = (pipelines ?? [])
    .filter((p) => p.id === ticket.pipeline_id)
    .flatMap((p) => p.stages.map((s) => ({ value: String(s.id), label: s.label })));
  const userOptions: Option[] = [{ value: '', label: t('filters.unassigned') }, ...(users ?? []).map((u) => ({ value: String(u.id), label: u.name }))];
  const teamOptions: Option[] = [{ value: '', label: t('app.none') }, ...(teams ?? []).map((x) => ({ value: String(x.id), label: x.name }))];
  const teamName = ticket.team_id === null ? t('app.none') : teams?.find((x) => x.id === ticket.team_id)?.name ?? `#${ticket.team_id}`;
  const pipelineName = pipelines?.find((p) => p.id === ticket.pipeline_id)?.label ?? `#${ticket.pipeline_id}`;
  const nullableInt = (v: string) => (v === '' ? null : Number(v));

  return (
    <article class="ticket" aria-labelledby="ticket-title" data-ticket-id={ticket.id} data-version={ticket.version}>
      <header class="ticket-header">
        <h2 id="ticket-title">
          <span class="muted">#{ticket.id} </span>
          <InlineText label={t('ticket.name')} display={ticket.name} value={ticket.name} allowEmpty={false} onSave={(name) => save({ name }, t('ticket.name'))} testId="edit-name" />
        </h2>
        <div class="ticket-actions">
          <button type="button" onClick={toggleFollow} aria-pressed={ticket.following} aria-keyshortcuts="f">
            {ticket.following ? t('ticket.unfollow') : t('ticket.follow')} <kbd aria-hidden="true">f</kbd>
          </button>
          <button type="button" onClick={toggleRead} aria-keyshortcuts="u">
            {ticket.unread ? t('ticket.markRead') : t('ticket.markUnread')} <kbd aria-hidden="true">u</kbd>
          </button>
          {me && ticket.owner_id !== me.id && (
            <button type="button" onClick={() => save({ owner_id: me.id }, t('col.owner'))}>
              {t('ticket.assignToMe')}
            </button>
          )}
          <button type="button" onClick={() => setAction('merge')} aria-keyshortcuts="m">
            {t('merge.open')} <kbd aria-hidden="true">m</kbd>
          </button>
          {can(me, 'delete_tickets') && (
            <button type="button" onClick={() => setAction('spam')}>
              {t('spam.open')}
            </button>
          )}
          {can(me, 'delete_tickets') && (
            <button type="button" class="danger" onClick={() => setAction('delete')}>
              {t('delete.open')}
            </button>
          )}
        </div>
      </header>
      <div class="ticket-body">
        <div class="ticket-main">
          <section aria-labelledby="desc-title">
            <h3 id="desc-title">{t('ticket.description')}</h3>
            <InlineText
              label={t('ticket.description')}
              display={ticket.description || t('ticket.noDescription')}
              value={ticket.description}
              multiline
              onSave={(description) => save({ description }, t('ticket.description'))}
            />
          </section>
          <Conversation
            ticket={ticket}
            reloadKey={conversationKey}
            onTicketTouched={() => {
              void refresh();
              setTimelineKey((n) => n + 1);
            }}
          />
          <Timeline ticketId={ticket.id} reloadKey={timelineKey} />
        </div>
        <aside class="ticket-sidebar" aria-label={t('ticket.sidebar')}>
          <section aria-labelledby="props-title">
            <h3 id="props-title">{t('ticket.properties')}</h3>
            <dl class="props">
              <dt>{t('col.status')}</dt>
              <dd>
                <InlineSelect
                  label={t('col.status')}
                  display={stages.get(ticket.status)?.label ?? String(ticket.status)}
                  value={String(ticket.status)}
                  options={stageOptions}
                  onSave={(v) => save({ status: Number(v) }, t('col.status'))}
                  testId="edit-status"
                />
              </dd>
              <dt>{t('col.priority')}</dt>
              <dd>
                <InlineSelect
                  label={t('col.priority')}
                  display={t(`priority.${ticket.priority}`)}
                  value={ticket.priority}
                  options={PRIORITIES.map((p) => ({ value: p, label: t(`priority.${p}`) }))}
                  onSave={(v) => save({ priority: v as Ticket['priority'] }, t('col.priority'))}
                  testId="edit-priority"
                />
              </dd>
              <dt>{t('col.owner')}</dt>
              <dd>
                <InlineSelect
                  label={t('col.owner')}
                  display={userName(users, ticket.owner_id)}
                  value={ticket.owner_id === null ? '' : String(ticket.owner_id)}
                  options={userOptions}
                  onSave={(v) => save({ owner_id: nullableInt(v) }, t('col.owner'))}
                  testId="edit-owner"
                />
              </dd>
              <dt>{t('ticket.team')}</dt>
              <dd>
                <InlineSelect
                  label={t('ticket.team')}
                  display={teamName}
                  value={ticket.team_id === null ? '' : String(ticket.team_id)}
                  options={teamOptions}
                  onSave={(v) => save({ team_id: nullableInt(v) }, t('ticket.team'))}
                />
              </dd>
              <dt>{t('filters.pipeline')}</dt>
              <dd>
                <InlineSelect
                  label={t('filters.pipeline')}
                  display={pipelineName}
                  value={String(ticket.pipeline_id)}
                  options={(pipelines ?? []).map((p) => ({ value: String(p.id), label: p.label }))}
                  onSave={(v) => save({ pipeline_id: Number(v) }, t('filters.pipeline'))}
                />
              </dd>
              <dt>{t('ticket.category')}</dt>
              <dd>
                <InlineText
                  label={t('ticket.category')}
                  display={ticket.category || t('app.none')}
                  value={ticket.category ?? ''}
                  onSave={(v) => save({ category: v || null }, t('ticket.category'))}
                />
              </dd>
              <dt>{t('ticket.source')}</dt>
              <dd>
                <InlineSelect
                  label={t('ticket.source')}
                  display={t(`source.${ticket.source}`)}
                  value={ticket.source}
                  options={SOURCES.map((s) => ({ value: s, label: t(`source.${s}`) }))}
                  onSave={(v) => save({ source: v as Ticket['source'] }, t('ticket.source'))}
                />
              </dd>
              <dt>{t('ticket.created')}</dt>
              <dd>
                <time dateTime={ticket.created_at}>{formatDateTime(ticket.created_at)}</time>
              </dd>
              <dt>{t('ticket.updated')}</dt>
              <dd>
                <time dateTime={ticket.updated_at}>{formatDateTime(ticket.updated_at)}</time>
              </dd>
              {ticket.closed_at && (
                <>
                  <dt>{t('ticket.closed')}</dt>
                  <dd>
                    <time dateTime={ticket.closed_at}>{formatDateTime(ticket.closed_at)}</time>
                  </dd>
                </>
              )}
              {ticket.sla && (
                <>
                  <dt class="sla-label">{t('sla.label')}</dt>
                  <dd>
                    <SlaStatus sla={ticket.sla} />
                  </dd>
                </>
              )}
              {ticket.merged_ticket_ids?.length > 0 && (
                <>
                  <dt>{t('ticket.merged')}</dt>
                  <dd data-testid="merged-ids">{ticket.merged_ticket_ids.map((id) => `#${id}`).join(', ')}</dd>
                </>
              )}
            </dl>
          </section>
          {(!me || me.seat) && (
            <Suggestions ticketId={ticket.id} onUse={(patch, kind) => save(patch, kind === 'name' ? t('ticket.name') : t('ticket.description'))} />
          )}
          <Associations ticket={ticket} onChanged={accept} />
          <Followers ticketId={ticket.id} following={ticket.following} />
        </aside>
      </div>
      {conflict && <ConflictDialog fresh={conflict} onClose={() => setConflict(null)} />}
      {action === 'merge' && (
        <MergeDialog
          ticket={ticket}
          onClose={() => setAction(null)}
          onMerged={(survivor) => {
            setAction(null);
            if (survivor.id === ticket.id) {
              accept(survivor);
              setConversationKey((n) => n + 1);
            } else {
              onRemoved?.(ticket.id);
              navigate(`/split/${survivor.id}${window.location.search}`, { replace: true });
            }
          }}
        />
      )}
      {action === 'spam' && (
        <SpamDialog
          ticket={ticket}
          onClose={() => setAction(null)}
          onDone={(deleted) => {
            if (deleted) removed(ticket.id);
            else {
              setAction(null);
              setConversationKey((n) => n + 1);
              setTimelineKey((n) => n + 1);
            }
          }}
        />
      )}
      {action === 'delete' && <DeleteDialog ticket={ticket} onClose={() => setAction(null)} onDeleted={() => removed(ticket.id)} />}
    </article>
  );
}

function Associations({ ticket, onChanged }: { ticket: Ticket; onChanged: (t: Ticket) => void }) {
  const [kind, setKind] = useState<AssociationKind>('contacts');
  const [ref, setRef] = useState('');
  const run = async (call: Promise<Ticket>) => {
    try {
      onChanged(await call);
    } catch (e) {
      announce(t('app.error', { detail: errorText(e) }), 'error');
    }
  };
  return (
    <section aria-labelledby="assoc-title">
      <h3 id="assoc-title">{t('ticket.associations')}</h3>
      {ASSOCIATION_KINDS.map((k) => {
        const ids = ticket.associations?.[k] ?? [];
        return (
          <div class="assoc-kind">
            <h4>{t(`ticket.assoc.${k}`)}</h4>
            {ids.length === 0 ? (
              <p class="muted small">{t('ticket.assocNone')}</p>
            ) : (
              <ul class="chips">
                {ids.map((id) => (
                  <li>
                    #{id}{' '}
                    <button
                      type="button"
                      class="ghost small"
                      aria-label={t('ticket.assocRemove', { kind: t(`ticket.assoc.${k}`), id })}
                      onClick={() => run(ticketApi.removeAssociation(ticket.id, k, id))}
                    >
                      ×
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </div>
        );
      })}
      <form
        class="assoc-add"
        onSubmit={(e) => {
          e.preventDefault();
          const id = Number(ref);
          if (Number.isInteger(id) && id > 0) {
            setRef('');
            void run(ticketApi.addAssociation(ticket.id, kind, id));
          }
        }}
      >
        <label>
          {t('ticket.assocKind')}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as AssociationKind)}>
            {ASSOCIATION_KINDS.map((k) => (
              <option value={k}>{t(`ticket.assoc.${k}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('ticket.assocId')}
          <input type="number" min={1} inputMode="numeric" value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} required />
        </label>
        <button type="submit">{t('ticket.assocAdd')}</button>
      </form>
    </section>
  );
}

function Followers({ ticketId, following }: { ticketId: number; following: boolean }) {
  const users = useUsers();
  const [items, setItems] = useState<Follower[] | null>(null);
  useEffect(() => {
    ticketApi.followers(ticketId).then((page) => setItems(page.items), () => setItems([]));
  }, [ticketId, following]);
  return (
    <section aria-labelledby="followers-title">
      <h3 id="followers-title">{t('ticket.followers')}</h3>
      {items === null ? (
        <p class="muted small">{t('app.loading')}</p>
      ) : items.length === 0 ? (
        <p class="muted small">{t('ticket.noFollowers')}</p>
      ) : (
        <ul class="plain" data-testid="followers">
          {items.map((f) => (
            <li>{userName(users, f.user_id)}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Timeline({ ticketId, reloadKey }: { ticketId: number; reloadKey: number }) {
  const users = useUsers();
  const pipelines = usePipelines();
  const teams = useTeams();
  const stages = useMemo(() => stageById(pipelines), [pipelines]);
  const [items, setItems] = useState<TimelineItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);

  useEffect(() => {
    setLoaded(false);
    ticketApi.timeline(ticketId).then(
      (page) => {
        setItems(page.items);
        setCursor(page.next_cursor);
        setLoaded(true);
      },
      () => setLoaded(true),
    );
  }, [ticketId, reloadKey]);

  const value = (field: string | null, raw: unknown): string => {
    if (raw === null || raw === undefined || raw === '') return t('app.none');
    switch (field) {
      case 'status':
        return stages.get(Number(raw))?.label ?? String(raw);
      case 'owner_id':
        return userName(users, Number(raw));
      case 'priority':
        return t(`priority.${raw as Ticket['priority']}`);
      case 'pipeline_id':
        return pipelines?.find((p) => p.id === Number(raw))?.label ?? String(raw);
      case 'team_id':
        return teams?.find((x) => x.id === Number(raw))?.name ?? String(raw);
      case 'source':
        return t(`source.${raw as Ticket['source']}`);
      default:
        return String(raw);
    }
  };
  const fieldName = (field: string | null): string => {
    const names: Record<string, string> = {
      status: t('col.status'),
      priority: t('col.priority'),
      owner_id: t('col.owner'),
      team_id: t('ticket.team'),
      pipeline_id: t('filters.pipeline'),
      category: t('ticket.category'),
      source: t('ticket.source'),
      name: t('ticket.name'),
      description: t('ticket.description'),
      contacts: t('ticket.assoc.contacts'),
      companies: t('ticket.assoc.companies'),
      deals: t('ticket.assoc.deals'),
    };
    return field ? names[field] ?? field : '';
  };
  const describe = (item: TimelineItem): string => {
    const actor = userName(users, item.actor_id);
    const params = { actor, field: fieldName(item.field), type: item.type };
    switch (item.type) {
      case 'created':
      case 'followed':
      case 'unfollowed':
        return t(`timeline.${item.type}`, params);
      case 'property_changed':
        if (item.field === 'description') return t('timeline.property_changed', { ...params, old: '…', new: '…' });
        return t('timeline.property_changed', { ...params, old: value(item.field, item.old), new: value(item.field, item.new) });
      case 'association_added':
        return t('timeline.association_added', { ...params, new: String(item.new) });
      case 'association_removed':
        return t('timeline.association_removed', { ...params, old: String(item.old) });
      case 'message': {
        const auto = (item.new as { auto?: string } | null)?.auto;
        if (auto) return t('timeline.message.auto', { ...params, auto });
        const kind = item.field === 'reply' || item.field === 'note' ? item.field : 'customer';
        return t(`timeline.message.${kind}`, params);
      }
      case 'thread_moved': {
        const to = (item.new as { location?: string } | null)?.location;
        return t(to === 'inbox' ? 'timeline.thread_moved.inbox' : 'timeline.thread_moved.helpdesk', params);
      }
      default:
        return t('timeline.other', params);
    }
  };

  return (
    <section aria-labelledby="timeline-title">
      <h3 id="timeline-title">{t('ticket.timeline')}</h3>
      {loaded && items.length === 0 && <p class="muted">{t('timeline.empty')}</p>}
      <ol class="timeline" data-testid="timeline">
        {items.map((item) => (
          <li key={item.id}>
            <span>{describe(item)}</span>{' '}
            <time class="muted small" dateTime={item.at}>
              {formatDateTime(item.at)}
            </time>
          </li>
        ))}
      </ol>
      {cursor && (
        <button
          type="button"
          onClick={() =>
            ticketApi.timeline(ticketId, cursor).then((page) => {
              setItems((old) => [...old, ...page.items]);
              setCursor(page.next_cursor);
            })
          }
        >
          {t('ticket.timelineMore')}
        </button>
      )}
    </section>
  );
}
