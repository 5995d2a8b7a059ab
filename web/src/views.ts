/**
 * Saved views in the URL. Applying a view puts only `view_id` in the query string and the list
 * (and board) is fetched with it: the gateway applies the view's filters and sort under each
 * caller's own access rule, and any filter given beside it wins. So a link to a shared view
 * follows the view when its owner changes it, and a layout switch keeps it like any filter.
 *
 * The filter bar shows what is in effect (the view's filters under the URL's own); a change made
 * there is written as the few filters that differ from the view. A filter the view sets that the
 * user clears cannot be said next to `view_id` (an absent parameter means "the view's"), so such
 * a change leaves the view and writes every filter in effect instead.
 */
import { DEFAULT_SORT, parseFilters, type Filters } from './filters';
import { COLUMNS, type ColumnKey } from './components/TicketTable';
import type { SavedView } from './types';

type FilterKey = Exclude<keyof Filters, 'view_id'>;

/** The view's filters and sort as the workspace's filters (what the workspace cannot show is left out). */
export function viewFilters(view: SavedView): Filters {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(view.filters ?? {})) {
    if (value !== null && value !== undefined && key !== 'view_id') params.set(key, String(value));
  }
  if (view.sort) params.set('sort', view.sort);
  const filters = parseFilters(params);
  delete filters.view_id;
  return filters;
}

function defined(filters: Filters): Filters {
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined && v !== '')) as Filters;
}

/** The filters in effect: the applied view's, under those in the URL. */
export function shownFilters(url: Filters, view: SavedView | undefined): Filters {
  if (!view || url.view_id !== view.id) return url;
  return { ...viewFilters(view), ...defined(url) };
}

/** The URL's filters once the user changed the shown ones to `next` (see the module's note). */
export function changedFilters(url: Filters, view: SavedView | undefined, next: Filters): Filters {
  const wanted = defined({ ...next, view_id: undefined });
  if (wanted.sort === DEFAULT_SORT) delete wanted.sort;
  if (url.view_id === undefined || next.view_id === undefined) return wanted;
  if (!view || view.id !== url.view_id) return { view_id: url.view_id, ...wanted };
  const base = viewFilters(view);
  const keys = Object.keys(base) as FilterKey[];
  if (keys.some((key) => wanted[key] === undefined)) return wanted;
  const explicit: Filters = { view_id: view.id };
  for (const key of Object.keys(wanted) as FilterKey[]) {
    if (wanted[key] !== base[key]) (explicit as Record<string, unknown>)[key] = wanted[key];
  }
  return explicit;
}

/** The workspace's column keys under the API's names (the owner column is `owner_id` there). */
const API_NAME: Partial<Record<ColumnKey, string>> = { owner: 'owner_id' };

export function columnsToApi(columns: ColumnKey[]): string[] {
  return COLUMNS.filter((c) => c.key === 'name' || columns.includes(c.key)).map((c) => API_NAME[c.key] ?? c.key);
}

/** A view's columns as the table's, in the table's order; null when it names none the table has. */
export function columnsFromApi(columns: string[] | undefined): ColumnKey[] | null {
  const names = new Set(columns ?? []);
  const keys = COLUMNS.filter((c) => c.key !== 'name' && names.has(API_NAME[c.key] ?? c.key)).map((c) => c.key);
  return keys.length > 0 ? keys : null;
}

/** What "Save current view" stores: the filters in effect, their sort, and the columns shown. */
export function viewContent(shown: Filters, columns: ColumnKey[]): Pick<SavedView, 'filters' | 'sort' | 'columns'> {
  const { view_id: _ignored, sort, ...rest } = defined(shown);
  return { filters: rest as Record<string, unknown>, sort: sort ?? DEFAULT_SORT, columns: columnsToApi(columns) };
}

/** Views the user may rename, change or delete: their own (account access: any, as the gateway allows). */
export function mayChange(view: SavedView, userId: number | undefined, accountAccess: boolean): boolean {
  return accountAccess || view.owner_id === userId;
}
