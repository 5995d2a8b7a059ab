// Typed calls of the gateway's endpoints the workspace uses. Every one is in the OpenAPI document.
import type { Upload } from './compose';
import { api, etagFor, fetchBlob, newIdempotencyKey, request, type Query } from './api';
import type {
  ApiToken,
  AssociationKind,
  Board,
  BinItem,
  BulkResult,
  FeedItem,
  Job,
  Message,
  Follower,
  Page,
  Pipeline,
  Preferences,
  SavedView,
  SlaPolicy,
  SlaPolicyFields,
  Recommendation,
  Suggestion,
  Team,
  Ticket,
  Thread,
  ThreadSummary,
  TicketPatch,
  TimelineItem,
  User,
  Workspace,
} from './types';

export const tickets = {
  list: (query: Query, signal?: AbortSignal) => api.get<Page<Ticket>>('/tickets', query, signal),
  board: (query: Query, signal?: AbortSignal) => api.get<Board>('/tickets/board', query, signal),
  get: (id: number) => api.get<Ticket>(`/tickets/${id}`),
  /** PATCH with `If-Match` of the version the user saw: 412 (ApiError) when someone changed it since. */
  update: (ticket: Pick<Ticket, 'id' | 'version'>, patch: TicketPatch) =>
    request<Ticket>('PATCH', `/tickets/${ticket.id}`, { body: patch, ifMatch: etagFor(ticket.version) }).then((r) => r.data),
  create: (body: TicketPatch & { name: string }) =>
    api.post<Ticket>('/tickets', body, { idempotencyKey: newIdempotencyKey() }),
  bulkUpdate: (ids: number[], changes: Pick<TicketPatch, 'owner_id' | 'status' | 'priority'>) =>
    api.post<BulkResult>('/tickets/bulk-update', { ids, changes }),
  timeline: (id: number, cursor?: string | null) =>
    api.get<Page<TimelineItem>>(`/tickets/${id}/timeline`, { limit: 50, cursor }),
  followers: (id: number) => api.get<Page<Follower>>(`/tickets/${id}/followers`, { limit: 100 }),
  follow: (id: number) => api.put<{ ticket_id: number; following: boolean }>(`/tickets/${id}/follow`),
  unfollow: (id: number) => api.del<{ ticket_id: number; following: boolean }>(`/tickets/${id}/follow`),
  markRead: (id: number) => api.post<{ ticket_id: number; unread: boolean }>(`/tickets/${id}/read`),
  markUnread: (id: number) => api.post<{ ticket_id: number; unread: boolean }>(`/tickets/${id}/unread`),
  addAssociation: (id: number, kind: AssociationKind, ref: number) =>
    api.post<Ticket>(`/tickets/${id}/associations/${kind}/${ref}`),
  removeAssociation: (id: number, kind: AssociationKind, ref: number) =>
    api.del<Ticket>(`/tickets/${id}/associations/${kind}/${ref}`),
  /** The split layout in one call: the ticket (marked read), its threads, the latest timeline. */
  workspace: (id: number) => api.get<Workspace>(`/tickets/${id}/workspace`),
  threads: (id: number) => api.get<Page<Thread>>(`/tickets/${id}/threads`, { limit: 100 }),
  merge: (primaryId: number, secondaryId: number) =>
    api.post<Ticket>('/tickets/merge', { primary_id: primaryId, secondary_id: secondaryId }, { idempotencyKey: newIdempotencyKey() }),
  split: (id: number, messageIds: number[], ticket: TicketPatch & { name: string }) =>
    api.post<Ticket>(`/tickets/${id}/split`, { message_ids: messageIds, ticket }, { idempotencyKey: newIdempotencyKey() }),
  spam: (id: number, threadIds: number[]) =>
    api.post<{ ticket_id: number; thread_ids: number[]; ticket_deleted: boolean }>(
      `/tickets/${id}/spam`,
      { thread_ids: threadIds },
      { idempotencyKey: newIdempotencyKey() },
    ),
  remove: (id: number) => api.del<BinItem>(`/tickets/${id}`),
  /** `confirm_count` is the number the user typed; the gateway refuses it unless it equals ids.length. */
  bulkDelete: (ids: number[], confirmCount: number) =>
    request<Job>('POST', '/tickets/bulk-delete', {
      body: { ids, confirm_count: confirmCount },
      idempotencyKey: newIdempotencyKey(),
    }).then((r) => r.data),
  job: (id: number) => api.get<Job>(`/jobs/${id}`),
  bin: (cursor?: string | null) => api.get<Page<BinItem>>('/recycle-bin', { limit: 50, cursor }),
  restore: (id: number) => api.post<Ticket>(`/tickets/${id}/restore`),
};

/** Seat features that help write: suggestions (change nothing) and recommended replies. */
export const assist = {
  /** `exclude`: what was shown already, so that asking again gives another candidate. */
  suggest: (id: number, kind: 'name' | 'summary', exclude: string[] = []) =>
    api.post<Suggestion>(`/tickets/${id}/suggestions/${kind}`, exclude.length ? { exclude } : undefined),
  replyRecommendations: (id: number) => api.get<{ items: Recommendation[] }>(`/tickets/${id}/reply-recommendations`),
};

export const conversations = {
  /** `extra`: recipients the agent changed (`to`/`cc`, replies only), files (`attachments`), people a note mentions. */
  reply: (
    threadId: number,
    kind: 'reply' | 'note',
    body: string,
    extra: { to?: string[]; cc?: string[]; attachments?: Upload[]; mentions?: number[] } = {},
  ) =>
    api.post<Message>(`/threads/${threadId}/messages`, { kind, body, ...extra }, { idempotencyKey: newIdempotencyKey() }),
  messages: (threadId: number, cursor: string | null) =>
    api.get<Page<Message>>(`/threads/${threadId}/messages`, { limit: 100, cursor }),
  moveToInbox: (threadId: number, body: { owner_id: number | null; comment: string | null }) =>
    api.post<Thread>(`/threads/${threadId}/move`, { to: 'inbox', ...body }),
  inbox: (cursor?: string | null) => api.get<Page<ThreadSummary>>('/inbox', { limit: 50, cursor }),
  /** To the help desk: the thread joins `ticket_id`, or a new ticket when it is null. */
  moveToHelpdesk: (threadId: number, body: { ticket_id: number | null; owner_id: number | null; comment: string | null }) =>
    api.post<Thread>(`/threads/${threadId}/move`, { to: 'helpdesk', ...body }),
  spamView: (cursor?: string | null) => api.get<Page<Thread>>('/spam', { limit: 50, cursor }),
  notSpam: (threadId: number) =>
    api.post<{ thread_id: number; ticket_id: number }>(`/threads/${threadId}/not-spam`, undefined, { idempotencyKey: newIdempotencyKey() }),
  /** A URL the browser can open or download: the bytes fetched with our credentials, as a blob. */
  blobUrl: async (path: string): Promise<string> => URL.createObjectURL(await fetchBlob(path)),
};

export const pipelines = {
  list: () => api.get<Pipeline[]>('/pipelines'),
  create: (label: string, stages: { label: string; state: 'OPEN' | 'CLOSED' }[]) =>
    api.post<Pipeline>('/pipelines', { label, stages }, { idempotencyKey: newIdempotencyKey() }),
  rename: (id: number, label: string) => api.patch<Pipeline>(`/pipelines/${id}`, { label }),
  addStage: (id: number, label: string, state: 'OPEN' | 'CLOSED') =>
    api.post<Pipeline>(`/pipelines/${id}/stages`, { label, state }, { idempotencyKey: newIdempotencyKey() }),
  renameStage: (id: number, stageId: number, label: string) =>
    api.patch<Pipeline>(`/pipelines/${id}/stages/${stageId}`, { label }),
  reorder: (id: number, stageIds: number[]) => api.put<Pipeline>(`/pipelines/${id}/stage-order`, { stage_ids: stageIds }),
};

export const people = {
  me: () => api.get<User>('/me'),
  /** The caller's own password; a session's cookies are replaced by the answer (every session ends). */
  changePassword: (currentPassword: string, newPassword: string) =>
    api.put<{ user_id: number; password_set_at: string; sessions_ended: number }>('/me/password', {
      current_password: currentPassword,
      new_password: newPassword,
    }),
  users: (query: Query) => api.get<Page<User>>('/users', query),
  createUser: (body: Partial<User>) => api.post<User>('/users', body, { idempotencyKey: newIdempotencyKey() }),
  updateUser: (id: number, body: Partial<User>) => api.patch<User>(`/users/${id}`, body),
  teams: (query: Query) => api.get<Page<Team>>('/teams', query),
  createTeam: (name: string) => api.post<Team>('/teams', { name }, { idempotencyKey: newIdempotencyKey() }),
  renameTeam: (id: number, name: string) => api.patch<Team>(`/teams/${id}`, { name }),
  setMembers: (id: number, userIds: number[]) => api.put<Team>(`/teams/${id}/members`, { user_ids: userIds }),
  tokens: (userId: number, cursor?: string | null) =>
    api.get<Page<ApiToken>>(`/users/${userId}/tokens`, { limit: 100, cursor }),
  issueToken: (userId: number, label: string | null) => api.post<ApiToken>(`/users/${userId}/tokens`, { label }),
  revokeToken: (id: number) => api.del<void>(`/tokens/${id}`),
};

export const notifications = {
  feed: (limit = 50, cursor?: string | null) => api.get<Page<FeedItem>>('/notifications', { limit, cursor }),
  markRead: (id: number) => api.post<FeedItem>(`/notifications/${id}/read`),
  preferences: () => api.get<Preferences>('/me/notification-preferences'),
  savePreferences: (body: Partial<Preferences>) => api.put<Preferences>('/me/notification-preferences', body),
};

/** Saved views (seat): the caller's, their teams' and everyone's. */
export const savedViews = {
  list: (cursor?: string | null) => api.get<Page<SavedView>>('/views', { limit: 100, cursor }),
  create: (body: Partial<SavedView> & { name: string }) =>
    api.post<SavedView>('/views', body, { idempotencyKey: newIdempotencyKey() }),
  update: (id: number, body: Partial<SavedView>) => api.patch<SavedView>(`/views/${id}`, body),
  remove: (id: number) => api.del<void>(`/views/${id}`),
};

/** SLA policies: seat to read, account access to change. */
export const slaPolicies = {
  list: (cursor?: string | null) => api.get<Page<SlaPolicy>>('/sla-policies', { limit: 100, cursor }),
  create: (body: SlaPolicyFields) => api.post<SlaPolicy>('/sla-policies', body, { idempotencyKey: newIdempotencyKey() }),
  update: (id: number, body: Partial<SlaPolicyFields>) => api.patch<SlaPolicy>(`/sla-policies/${id}`, body),
  remove: (id: number) => api.del<void>(`/sla-policies/${id}`),
};

/** Every page of a paged list, up to `maxPages` (reference data: users, teams). */
export async function allPages<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>, maxPages = 20): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page: Page<T> = await fetchPage(cursor);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}
