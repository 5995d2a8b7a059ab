// Typed calls of the gateway's endpoints the workspace uses. Every one is in the OpenAPI document.
import { api, etagFor, newIdempotencyKey, request, type Query } from './api';
import type {
  ApiToken,
  AssociationKind,
  Board,
  BulkResult,
  FeedItem,
  Follower,
  Page,
  Pipeline,
  Team,
  Ticket,
  TicketPatch,
  TimelineItem,
  User,
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
  // PLACE FOR the conversations API (threads, messages, reply composer): GET /tickets/{id}/threads,
  // POST /threads/{id}/messages. Not in the gateway yet.
  // PLACE FOR merge, split, spam, delete and the recycle bin: not in the gateway yet.
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
