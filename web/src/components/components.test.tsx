import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { parseStages } from '../admin/PipelinesAdmin';
import { t } from '../i18n';
import { fakeFetch, jsonResponse, type Call } from '../test-helpers';
import type { Ticket } from '../types';
import { unreadLabel } from './Bell';
import { InlineSelect, InlineText } from './Inline';
import { TicketDetail } from './TicketDetail';
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

/** A live stream the test writes to: the fake fetch answers `GET /api/v1/stream` with it. */
function liveStream(): { response: () => Response; send: (event: string, data: unknown) => void } {
  const encoder = new TextEncoder();
  let write: ((text: string) => void) | null = null;
  const pending: string[] = [];
  let seq = 0;
  return {
    response: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            write = (text) => controller.enqueue(encoder.encode(text));
            pending.splice(0).forEach(write);
          },
        }),
        { status: 200, headers: { 'Content-Type': 'text/event-stream' } },
      ),
    send: (event, data) => {
      seq += 1;
      const text = `id: epoch-${seq}-k${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      if (write) write(text);
      else pending.push(text);
    },
  };
}

function answerWith(stream: ReturnType<typeof liveStream>, items: Ticket[]) {
  return (call: Call): Response => {
    if (call.url.startsWith('/api/v1/stream')) return stream.response();
    if (call.url.startsWith('/api/v1/tickets?')) return jsonResponse(200, { items, next_cursor: null, total: items.length });
    const one = /^\/api\/v1\/tickets\/(\d+)$/.exec(call.url);
    if (one) return jsonResponse(200, ticket(Number(one[1])));
    if (call.url.startsWith('/api/v1/pipelines')) return jsonResponse(200, [{ id: 1, label: 'Support', stages: [{ id: 1, label: 'New', state: 'OPEN' }] }]);
    if (call.url.startsWith('/api/v1/users') || call.url.startsWith('/api/v1/teams')) return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
    return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
  };
}

describe('a ticket that leaves the reader\'s sight (ticket_hidden on the stream)', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });
  afterEach(() => cleanup());

  it('leaves the table', async () => {
    const stream = liveStream();
    setFetch(fakeFetch(answerWith(stream, [ticket(3), ticket(2), ticket(1)])).fetch);
    render(<TicketTable label="Tickets" filters={{ view: 'open' }} onOpen={() => {}} selection={new Set()} onSelectionChange={() => {}} />);
    await screen.findByText('Ticket 2');
    stream.send('hello', { unread: 0, epoch: 'epoch' });
    stream.send('ticket_hidden', { type: 'ticket_hidden', ticket_id: 2 });
    await waitFor(() => expect(screen.queryByText('Ticket 2')).toBeNull());
    expect(screen.getByText('Ticket 3')).toBeTruthy();
    expect(screen.getByText('Ticket 1')).toBeTruthy();
  });

  it('closes the open ticket with a short message', async () => {
    const stream = liveStream();
    setFetch(fakeFetch(answerWith(stream, [])).fetch);
    render(<TicketDetail ticketId={7} onChanged={() => {}} />);
    await screen.findByText('Ticket 7');
    stream.send('ticket_hidden', { type: 'ticket_hidden', ticket_id: 8 });
    stream.send('ticket_hidden', { type: 'ticket_hidden', ticket_id: 7 });
    const message = await screen.findByRole('status');
    expect(message.textContent).toBe(t('ticket.hidden', { id: 7 }));
    expect(screen.queryByText('Ticket 7')).toBeNull();
  });
});
