// Shapes of the gateway's answers (see /api/v1/openapi.json); only what the workspace reads.

export type Priority = 'low' | 'medium' | 'high' | 'urgent';
export const PRIORITIES: Priority[] = ['low', 'medium', 'high', 'urgent'];
export type Source = 'email' | 'chat' | 'form' | 'api';
export const SOURCES: Source[] = ['email', 'chat', 'form', 'api'];
export type AssociationKind = 'contacts' | 'companies' | 'deals';
export const ASSOCIATION_KINDS: AssociationKind[] = ['contacts', 'companies', 'deals'];
export type ViewName = 'unassigned' | 'mine' | 'following' | 'open' | 'unread';
export const VIEWS: ViewName[] = ['unassigned', 'mine', 'following', 'open', 'unread'];
export const SORTABLE = ['updated_at', 'created_at', 'priority', 'name', 'id'] as const;
export type SortKey = (typeof SORTABLE)[number];

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total: number;
  /** True when there are more than `total` (the gateway counts up to 1,000). */
  total_capped?: boolean;
}

export interface Ticket {
  id: number;
  name: string;
  description: string;
  pipeline_id: number;
  status: number;
  priority: Priority;
  category: string | null;
  owner_id: number | null;
  team_id: number | null;
  source: Source;
  associations: Record<AssociationKind, number[]>;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  version: number;
  unread: boolean;
  following: boolean;
  merged_ticket_ids: number[];
  /** Only for callers with a service seat; null when no policy applies. */
  sla?: TicketSla | null;
}

export type TicketPatch = Partial<
  Pick<Ticket, 'name' | 'description' | 'pipeline_id' | 'status' | 'priority' | 'category' | 'owner_id' | 'team_id' | 'source'>
>;

export interface Stage {
  id: number;
  label: string;
  state: 'OPEN' | 'CLOSED';
}

export interface Pipeline {
  id: number;
  label: string;
  stages: Stage[];
}

export interface BoardColumn {
  stage: Stage;
  items: Ticket[];
  total: number;
  total_capped?: boolean;
  next_cursor: string | null;
}

export interface Board {
  pipeline_id: number;
  columns: BoardColumn[];
}

export interface TimelineItem {
  id: number;
  type: string;
  actor_id: number;
  at: string;
  field: string | null;
  old: unknown;
  new: unknown;
}

export interface Follower {
  user_id: number;
  since: string;
}

export interface BulkResult {
  results: { id: number; status: number; ticket?: Ticket; error?: { detail?: string; title?: string } }[];
}

export type Permission =
  | 'service_access'
  | 'sales_access'
  | 'delete_tickets'
  | 'bulk_delete'
  | 'account_access'
  | 'super_admin';
export const PERMISSIONS: Permission[] = [
  'service_access',
  'sales_access',
  'delete_tickets',
  'bulk_delete',
  'account_access',
  'super_admin',
];
export type AccessLevel = 'everything' | 'team' | 'owned' | 'none';
export const ACCESS_LEVELS: AccessLevel[] = ['everything', 'team', 'owned', 'none'];

export interface User {
  id: number;
  name: string;
  email: string;
  permissions: Permission[];
  access_level: AccessLevel;
  include_unassigned: boolean;
  team_ids: number[];
  seat: boolean;
  created_at: string;
  updated_at: string;
}

export interface Team {
  id: number;
  name: string;
  member_ids: number[];
  created_at: string;
  updated_at: string;
}

export interface ApiToken {
  id: number;
  token?: string;
  user_id: number;
  label: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface FeedItem {
  id: number;
  type: string;
  ticket_id: number | null;
  created_at: string;
  read: boolean;
  /** A bulk change is one notification about `count` tickets; `title` says so. */
  count?: number;
  ticket_ids?: number[];
  title?: string;
}

export interface Address {
  email: string;
  name?: string | null;
}

export interface Attachment {
  id: number;
  filename: string;
  content_type: string;
  size: number;
  inline: boolean;
  content_id: string | null;
}

export type MessageKind = 'customer' | 'reply' | 'note';

export interface Message {
  id: number;
  thread_id: number;
  kind: MessageKind;
  channel: string;
  author_id: number | null;
  sender: Address | null;
  to: Address[];
  cc: Address[];
  subject: string;
  text: string;
  quoted_text: string;
  attachments: Attachment[];
  mentions: number[];
  auto: string | null;
  delivery: { state: string; reason: string | null; attempts: number; sent_at: string | null } | null;
  created_at: string;
}

export interface Thread {
  id: number;
  ticket_id: number | null;
  subject: string;
  channel: string;
  location: 'inbox' | 'helpdesk';
  owner_id: number | null;
  customer: Address;
  message_count: number;
  spam: boolean;
  created_at: string;
  updated_at: string;
  last_message_at: string;
  messages: Message[];
  messages_next_cursor: string | null;
  spam_at?: string;
  spam_by?: number | null;
}

/** A thread as lists that leave its messages out show it (the inbox). */
export type ThreadSummary = Omit<Thread, 'messages' | 'messages_next_cursor'>;

export interface Workspace {
  ticket: Ticket;
  threads: Page<Thread>;
  timeline: Page<TimelineItem>;
}

/** A suggested name or summary (`POST /tickets/{id}/suggestions/...`): nothing changes until a PATCH. */
export interface Suggestion {
  kind: 'name' | 'summary';
  suggestion: string;
}

/** A reply from a similar closed ticket; `score` compares within one answer (higher is closer). */
export interface Recommendation {
  body: string;
  score: number;
  source_ticket_id: number;
  message_id: number;
}

export interface BinItem extends Ticket {
  deleted_at: string;
  deleted_by: number | null;
  purging: boolean;
}

export interface Job {
  id: number;
  kind: string;
  state: 'running' | 'done' | 'failed' | string;
  total: number;
  processed: number;
  done: number;
  skipped: number;
  failed: number;
  error: string | null;
  results?: { id: number; status: number; error?: { detail?: string } }[];
}

export const NOTIFICATION_TYPES = [
  'ticket_created',
  'record_updated',
  'assigned_to_you',
  'new_message',
  'status_changed',
  'mentioned',
  'sla_breached',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export interface Preferences {
  types: Record<string, { in_app: boolean; email: boolean }>;
  email_digest: 'off' | 'hourly';
}

// -- saved views and SLAs (seat features) --------------------------------------------------------

export type Sharing = 'private' | 'team' | 'everyone';
export const SHARING: Sharing[] = ['private', 'team', 'everyone'];

export interface SavedView {
  id: number;
  owner_id: number;
  name: string;
  /** The list's query parameters as the gateway stored them. */
  filters: Record<string, unknown>;
  sort: string;
  columns: string[];
  shared_with: Sharing;
  team_id: number | null;
  created_at: string;
  updated_at: string;
}

export type SlaState = 'on_track' | 'due_soon' | 'breached' | 'paused' | 'met';
export const SLA_STATES: SlaState[] = ['on_track', 'due_soon', 'breached', 'paused', 'met'];
export type SlaGoalName = 'first_reply' | 'next_reply' | 'close';
export const SLA_GOALS: SlaGoalName[] = ['first_reply', 'next_reply', 'close'];
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface SlaGoal {
  goal: SlaGoalName;
  state: SlaState;
  started_at: string;
  due_at: string | null;
  met_at: string | null;
  breached_at: string | null;
  remaining_seconds: number | null;
}

export interface TicketSla {
  policy_id: number;
  state: SlaState;
  next_due_at: string | null;
  breached_at: string | null;
  goals: SlaGoal[];
}

export interface Opening {
  day: Weekday;
  start: string;
  end: string;
}

export interface BusinessHours {
  timezone: string;
  weekly: Opening[];
  holidays: string[];
}

export interface SlaPolicyFields {
  name: string;
  priority: Priority | null;
  pipeline_id: number | null;
  first_reply_minutes: number | null;
  next_reply_minutes: number | null;
  close_minutes: number | null;
  business_hours: BusinessHours | null;
  pause_stage_ids: number[];
  due_soon_minutes: number;
}

export interface SlaPolicy extends SlaPolicyFields {
  id: number;
  version: number;
  created_at: string;
  updated_at: string;
}
