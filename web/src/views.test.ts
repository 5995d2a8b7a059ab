import { describe, expect, it } from 'vitest';
import { filtersToSearch, parseFilters } from './filters';
import type { SavedView } from './types';
import { changedFilters, columnsFromApi, columnsToApi, mayChange, shownFilters, viewContent, viewFilters } from './views';

const view = (over: Partial<SavedView> = {}): SavedView => ({
  id: 7,
  owner_id: 2,
  name: 'Urgent open',
  filters: { priority: 'urgent', view: 'open', owner_id: 'none' },
  sort: '-created_at',
  columns: ['id', 'name', 'owner_id', 'priority'],
  shared_with: 'everyone',
  team_id: null,
  created_at: '2026-01-01T00:00:00+00:00',
  updated_at: '2026-01-01T00:00:00+00:00',
  ...over,
});

describe('saved views in the URL', () => {
  it('keep view_id in the query string, first, so a layout switch keeps it', () => {
    expect(filtersToSearch({ view_id: 7, priority: 'high' })).toBe('?view_id=7&priority=high');
    expect(parseFilters('?view_id=7&priority=high')).toEqual({ view_id: 7, priority: 'high' });
    expect(parseFilters('?view_id=0')).toEqual({});
  });

  it('show the view’s filters and sort under the URL’s own', () => {
    expect(viewFilters(view())).toEqual({ priority: 'urgent', view: 'open', owner_id: 'none', sort: '-created_at' });
    expect(viewFilters(view({ filters: { priority: 'extreme', status: 4 }, sort: '-updated_at' }))).toEqual({ status: 4 });
    expect(shownFilters({ view_id: 7, priority: 'low' }, view())).toEqual({
      view_id: 7,
      priority: 'low',
      view: 'open',
      owner_id: 'none',
      sort: '-created_at',
    });
    // another view, or none loaded yet: just the URL
    expect(shownFilters({ view_id: 8 }, view())).toEqual({ view_id: 8 });
    expect(shownFilters({ view_id: 7 }, undefined)).toEqual({ view_id: 7 });
  });

  it('write a change as the filters that differ from the view', () => {
    const url = { view_id: 7 };
    const shown = shownFilters(url, view());
    expect(changedFilters(url, view(), { ...shown, q: 'printer' })).toEqual({ view_id: 7, q: 'printer' });
    expect(changedFilters(url, view(), { ...shown, sort: 'name' })).toEqual({ view_id: 7, sort: 'name' });
    // set back to the view's own value: nothing explicit left
    expect(changedFilters({ view_id: 7, priority: 'low' }, view(), { ...shown, priority: 'urgent' })).toEqual({ view_id: 7 });
  });

  it('leave the view when a filter it sets is cleared (an absent parameter would mean the view’s)', () => {
    const url = { view_id: 7 };
    const shown = shownFilters(url, view());
    expect(changedFilters(url, view(), { ...shown, priority: undefined })).toEqual({ view: 'open', owner_id: 'none', sort: '-created_at' });
    // the default sort cannot be said beside a view that sorts otherwise either
    expect(changedFilters(url, view(), { ...shown, sort: '-updated_at' })).toEqual({ priority: 'urgent', view: 'open', owner_id: 'none' });
    expect(changedFilters(url, view(), {})).toEqual({});
  });

  it('without a view, a change is the filters as given', () => {
    expect(changedFilters({}, undefined, { priority: 'high', sort: '-updated_at' })).toEqual({ priority: 'high' });
    // the view is not loaded yet: keep its id and the change
    expect(changedFilters({ view_id: 9 }, undefined, { view_id: 9, q: 'x' })).toEqual({ view_id: 9, q: 'x' });
  });
});

describe('saving a view', () => {
  it('stores the filters in effect, their sort and the columns under the API’s names', () => {
    expect(viewContent({ view_id: 7, priority: 'urgent', q: 'printer', sort: 'name' }, ['owner', 'id'])).toEqual({
      filters: { priority: 'urgent', q: 'printer' },
      sort: 'name',
      columns: ['id', 'name', 'owner_id'],
    });
    expect(viewContent({}, []).sort).toBe('-updated_at');
  });

  it('maps columns both ways and ignores those the table does not have', () => {
    expect(columnsToApi(['updated_at', 'owner', 'status'])).toEqual(['name', 'status', 'owner_id', 'updated_at']);
    expect(columnsFromApi(['sla', 'owner_id', 'name', 'id', 'team_id'])).toEqual(['id', 'owner', 'sla']);
    expect(columnsFromApi(['name', 'team_id'])).toBeNull();
    expect(columnsFromApi(undefined)).toBeNull();
  });

  it('may be changed by its owner, or anyone with account access', () => {
    expect(mayChange(view(), 2, false)).toBe(true);
    expect(mayChange(view(), 3, false)).toBe(false);
    expect(mayChange(view(), 3, true)).toBe(true);
  });
});
