/**
 * The list filters, kept in the URL's query string so that switching layouts (table, board,
 * split), reloading and sharing a link keep them.
 */
import { PRIORITIES, SLA_STATES, SORTABLE, VIEWS, type Priority, type SlaState, type ViewName } from './types';

export interface Filters {
  /** A saved view applied by the gateway; the other filters here are set on top of it and win. */
  view_id?: number;
  view?: ViewName;
  q?: string;
  status?: number;
  priority?: Priority;
  owner_id?: number | 'none';
  pipeline_id?: number;
  /** SLA state (a seat feature, like sorting by the SLA's next due time). */
  sla_state?: SlaState;
  sort?: string;
}

export const DEFAULT_SORT = '-updated_at';
const SORTS = new Set<string>([...SORTABLE, ...SORTABLE.map((s) => `-${s}`), 'sla_due_at', '-sla_due_at']);

function positiveInt(raw: string | null): number | undefined {
  if (!raw || !/^\d{1,12}$/.test(raw)) return undefined;
  const value = Number(raw);
  return value > 0 ? value : undefined;
}

/** Filters from a query string; unknown or malformed values are dropped. */
export function parseFilters(search: string | URLSearchParams): Filters {
  const params = typeof search === 'string' ? new URLSearchParams(search) : search;
  const filters: Filters = {};
  const viewId = positiveInt(params.get('view_id'));
  if (viewId) filters.view_id = viewId;
  const view = params.get('view');
  if (view && (VIEWS as string[]).includes(view)) filters.view = view as ViewName;
  const q = params.get('q')?.trim();
  if (q) filters.q = q.slice(0, 200);
  const status = positiveInt(params.get('status'));
  if (status) filters.status = status;
  const priority = params.get('priority');
  if (priority && (PRIORITIES as string[]).includes(priority)) filters.priority = priority as Priority;
  const owner = params.get('owner_id');
  if (owner === 'none') filters.owner_id = 'none';
  else if (positiveInt(owner)) filters.owner_id = positiveInt(owner);
  const pipeline = positiveInt(params.get('pipeline_id'));
  if (pipeline) filters.pipeline_id = pipeline;
  const slaState = params.get('sla_state');
  if (slaState && (SLA_STATES as string[]).includes(slaState)) filters.sla_state = slaState as SlaState;
  const sort = params.get('sort');
  if (sort && SORTS.has(sort) && sort !== DEFAULT_SORT) filters.sort = sort;
  return filters;
}

/** The query string for filters, in a stable order; empty filters give ''. */
export function filtersToSearch(filters: Filters): string {
  const params = new URLSearchParams();
  const order: (keyof Filters)[] = ['view_id', 'view', 'q', 'pipeline_id', 'status', 'priority', 'owner_id', 'sla_state', 'sort'];
  for (const key of order) {
    const value = filters[key];
    if (value === undefined || value === '' || (key === 'sort' && value === DEFAULT_SORT)) continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `?${qs}` : '';
}

/** The API query of the table and board layouts for these filters. */
export function filtersToQuery(filters: Filters): Record<string, string | number> {
  const query: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(filters)) {
    if (value !== undefined && value !== '') query[key] = value as string | number;
  }
  return query;
}

/** Clicking a column header: first ascending... for names, descending for dates; again flips. */
export function nextSort(current: string | undefined, key: string): string {
  const active = current ?? DEFAULT_SORT;
  if (active === key) return `-${key}`;
  if (active === `-${key}`) return key;
  return key === 'name' || key === 'id' || key === 'sla_due_at' ? key : `-${key}`;
}

export function sortState(current: string | undefined, key: string): 'ascending' | 'descending' | 'none' {
  const active = current ?? DEFAULT_SORT;
  if (active === key) return 'ascending';
  if (active === `-${key}`) return 'descending';
  return 'none';
}
