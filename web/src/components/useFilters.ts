import { useMemo } from 'preact/hooks';
import { filtersToSearch, parseFilters, type Filters } from '../filters';
import { navigate } from '../router';

/** The filters in the URL's query string, and a setter that rewrites it (no history entry). */
export function useFilters(search: string): [Filters, (next: Filters) => void] {
  const filters = useMemo(() => parseFilters(search), [search]);
  const setFilters = (next: Filters) => navigate(`${window.location.pathname}${filtersToSearch(next)}`, { replace: true });
  return [filters, setFilters];
}
