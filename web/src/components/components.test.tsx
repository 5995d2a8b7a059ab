import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { parseStages } from '../admin/PipelinesAdmin';
import { fakeFetch, jsonResponse } from '../test-helpers';
import type { Ticket } from '../types';
import { unreadLabel } from './Bell';
import { InlineSelect, InlineText } from './Inline';
import { TicketTable } from './TicketTable';

afterEach(cleanup);

describe('inline edit', () => {
  it('a select property saves what is picked and goes back to its value', async () => {
    const onSave = vi.fn();
    render(
      <InlineSelect label="Priority" display="Medium" value="medium" options={[{ value: 'medium', label: 'Medium' }, { value: 'high', label: 'High' }]} onSave={onSave} />,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Edit Priority: Medium' }));
    const select = screen.getByRole('combobox', { name: 'Priority' });
    fireEvent.change(select, { target: { value: 'high' } });
    expect(onSave).toHaveBeenCalledWith('high');
    await waitFor(() => expect(screen.getByRole('button', { name: /Edit Priority/ })).toBeTruthy());
  });

  it('Escape cancels a text edit; Enter saves a changed value once', () => {
    const onSave = vi.fn();
    render(<InlineText label="Category" display="None" value="" onSave={onSave} />);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Category: None' }));
    let input = screen.getByRole('textbox', { name: 'Category' });
    fireEvent.input(input, { target: { value: 'Billing' } });
    fireEvent.keyDown(input, { key: 'Escape' });
    expect(onSave).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Edit Category: None' }));
    input = screen.getByRole('textbox', { name: 'Category' });
    fireEvent.input(input, { target: { value: ' Billing ' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    fireEvent.blur(input);
    expect(onSave).toHaveBeenCalledTimes(1);
    expect(onSave).toHaveBeenCalledWith('Billing');
  });
});

function ticket(id: number): Ticket {
  return {
    id,
    name: `Ticket ${id}`,
    description: '',
    pipeline_id: 1,
    status: 1,
    priority: 'medium',
    category: null,
    owner_id: null,
    team_id: null,
    source: 'api',
    associations: { contacts: [], companies: [], deals: [] },
    created_at: '2026-01-01T00:00:00+00:00',
    updated_at: '2026-01-01T00:00:00+00:00',
    closed_at: null,
    version: 1,
    unread: id % 2 === 0,
    following: false,
    merged_ticket_ids: [],
  };
}

describe('ticket table', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });

  it('with 10,000 tickets keeps a few dozen rows in the DOM, unread ones bold', async () => {
    const TOTAL = 10_000;
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.startsWith('/api/v1/tickets?')) {
        const url = new URL(call.url, 'http://x');
        const start = Number(url.searchParams.get('cursor') ?? 0);
        const items = Array.from({ length: 100 }, (_, i) => ticket(TOTAL - start - i));
        return jsonResponse(200, { items, next_cursor: String(start + 100), total: TOTAL });
      }
      if (call.url.startsWith('/api/v1/pipelines')) return jsonResponse(200, [{ id: 1, label: 'Support', stages: [{ id: 1, label: 'New', state: 'OPEN' }] }]);
      if (call.url.startsWith('/api/v1/users')) return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
      return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
    });
    setFetch(fetch);
    render(<TicketTable label="Tickets" filters={{ view: 'open' }} onOpen={() => {}} selection={new Set()} onSelectionChange={() => {}} />);
    await screen.findByText('Ticket 10000');
    const rows = document.querySelectorAll('tr.row');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(60);
    expect(document.querySelector('table')?.getAttribute('aria-rowcount')).toBe(String(TOTAL + 1));
    expect(document.querySelector('tr.row.unread')?.textContent).toContain('Ticket 10000');
    const listCalls = calls.filter((c) => c.url.startsWith('/api/v1/tickets?'));
    expect(listCalls[0].url).toContain('view=open');
    expect(listCalls[0].url).toContain('limit=100');
  });
});

describe('small helpers', () => {
  it('the bell counts unread items of the first page, with + when there may be more', () => {
    const item = (id: number, read: boolean) => ({ id, type: 'ticket_created', ticket_id: id, created_at: '', read });
    expect(unreadLabel([item(1, false), item(2, true)], false)).toEqual({ count: 1, text: '1' });
    expect(unreadLabel([item(1, false), item(2, false)], true)).toEqual({ count: 2, text: '2+' });
    expect(unreadLabel([], false)).toEqual({ count: 0, text: '0' });
  });

  it('pipeline stages are typed one per line, "closed" marks a closed stage', () => {
    expect(parseStages('New\n  Waiting \n\nDone closed')).toEqual([
      { label: 'New', state: 'OPEN' },
      { label: 'Waiting', state: 'OPEN' },
      { label: 'Done', state: 'CLOSED' },
    ]);
  });
});
