import { useMemo } from 'preact/hooks';
import { filtersToSearch, parseFilters, type Filters } from '../filters';
import { navigate } from '../router';
import { hasSeat, useMe, useViews } from '../store';
import type { SavedView } from '../types';
import { changedFilters, shownFilters } from '../views';

export interface FilterState {
  /** The filters in the URL: what the list is fetched with (`view_id` and the filters set beside it). */
  url: Filters;
  /** The saved view the URL applies, once the views are loaded. */
  view: SavedView | undefined;
}

/**
 * The filters in effect (the URL's, over the applied saved view's), a setter that rewrites the
 * query string (no history entry), and what the URL itself says.
 */
export function useFilters(search: string): [Filters, (next: Filters) => void, FilterState] {
  const url = useMemo(() => parseFilters(search), [search]);
  const me = useMe();
  const views = useViews(url.view_id !== undefined && hasSeat(me));
  const view = url.view_id === undefined ? undefined : views?.find((v) => v.id === url.view_id);
  const shown = useMemo(() => shownFilters(url, view), [url, view]);
  const setFilters = (next: Filters) =>
    navigate(`${window.location.pathname}${filtersToSearch(changedFilters(url, view, next))}`, { replace: true });
  return [shown, setFilters, { url, view }];
}
