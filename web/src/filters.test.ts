import { describe, expect, it } from 'vitest';
import { filtersToQuery, filtersToSearch, nextSort, parseFilters, sortState } from './filters';

describe('filters in the URL', () => {
  it('round-trip through the query string in a stable order', () => {
    const filters = { view: 'open' as const, q: 'paczka', pipeline_id: 1, status: 3, priority: 'high' as const, owner_id: 'none' as const, sort: 'name' };
    const search = filtersToSearch(filters);
    expect(search).toBe('?view=open&q=paczka&pipeline_id=1&status=3&priority=high&owner_id=none&sort=name');
    expect(parseFilters(search)).toEqual(filters);
  });

  it('drop unknown and malformed values, and the default sort', () => {
    expect(parseFilters('?view=bogus&status=abc&priority=extreme&owner_id=-2&pipeline_id=0&sort=drop+table&x=1')).toEqual({});
    expect(parseFilters('?sort=-updated_at&q=%20%20')).toEqual({});
    expect(filtersToSearch({})).toBe('');
    expect(filtersToSearch({ sort: '-updated_at' })).toBe('');
  });

  it('carry the SLA filter and sort (seat features) like the others', () => {
    expect(parseFilters('?sla_state=due_soon&sort=sla_due_at')).toEqual({ sla_state: 'due_soon', sort: 'sla_due_at' });
    expect(parseFilters('?sla_state=late')).toEqual({});
    expect(filtersToSearch({ sort: 'sla_due_at', sla_state: 'breached', priority: 'high' })).toBe('?priority=high&sla_state=breached&sort=sla_due_at');
  });

  it('become the API query unchanged', () => {
    expect(filtersToQuery({ view: 'mine', owner_id: 4, q: undefined })).toEqual({ view: 'mine', owner_id: 4 });
  });
});

describe('column sorting', () => {
  it('flips between ascending and descending, dates newest first', () => {
    expect(nextSort(undefined, 'updated_at')).toBe('updated_at');
    expect(nextSort('updated_at', 'updated_at')).toBe('-updated_at');
    expect(nextSort(undefined, 'name')).toBe('name');
    expect(nextSort('name', 'name')).toBe('-name');
    expect(nextSort('-name', 'created_at')).toBe('-created_at');
    // the SLA's next due time: soonest first
    expect(nextSort(undefined, 'sla_due_at')).toBe('sla_due_at');
    expect(nextSort('sla_due_at', 'sla_due_at')).toBe('-sla_due_at');
    expect(sortState(undefined, 'updated_at')).toBe('descending');
    expect(sortState('name', 'name')).toBe('ascending');
    expect(sortState('name', 'id')).toBe('none');
  });
});
