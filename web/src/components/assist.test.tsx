import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { clearSharedData } from '../store';
import { fakeFetch, jsonResponse } from '../test-helpers';
import type { Message, Thread, Ticket } from '../types';
import { Conversation } from './Conversation';
import { Suggestions, suggestionPatch } from './Suggestions';
import { TicketPicker } from './TicketPicker';

afterEach(cleanup);

const ticket = { id: 7, name: 'Printer', version: 1, closed_at: null } as Ticket;
const note = { id: 3, thread_id: 70, kind: 'note', text: 'x', attachments: [], to: [], cc: [], mentions: [] } as unknown as Message;
const thread = {
  id: 70,
  ticket_id: 7,
  subject: 'Printer on fire',
  channel: 'email',
  location: 'helpdesk',
  owner_id: null,
  customer: { email: 'zofia@example.com' },
  message_count: 0,
  spam: false,
  messages: [],
  messages_next_cursor: null,
} as unknown as Thread;
const user = (id: number, name: string, seat = true) => ({ id, name, email: `${name.split(' ')[0].toLowerCase()}@example.com`, seat, permissions: ['service_access'] });
const page = (items: unknown[]) => ({ items, next_cursor: null, total: items.length });

beforeEach(async () => {
  sessionStorage.clear();
  clearSharedData();
  auth.reloadForTests();
  await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
});

function conversationFetch(me = user(1, 'Me Myself'), extra: (url: string) => Response | null = () => null) {
  return fakeFetch((call) => {
    const answer = extra(call.url);
    if (answer) return answer;
    if (call.url.startsWith('/api/v1/tickets/7/threads')) return jsonResponse(200, page([thread]));
    if (call.url.startsWith('/api/v1/users')) return jsonResponse(200, page([me, user(2, 'Ada Agent'), user(3, 'Bożena Kowalska')]));
    if (call.url === '/api/v1/me') return jsonResponse(200, me);
    if (call.method === 'POST') return jsonResponse(201, note);
    return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
  });
}

describe('mentions in a note', () => {
  it('offer matching people as a listbox, pick by keyboard, and send their ids', async () => {
    const { fetch, calls } = conversationFetch();
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    fireEvent.click(await screen.findByRole('radio', { name: 'Internal note' }));
    const field = screen.getByRole('textbox', { name: /Internal note/ }) as HTMLTextAreaElement;
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/v1/users'))).toBe(true));

    fireEvent.input(field, { target: { value: 'Ask @bo', selectionStart: 7 } });
    const list = await screen.findByRole('listbox', { name: 'People to mention' });
    expect(screen.getAllByRole('option').map((o) => o.textContent)).toEqual(['Bożena Kowalska bożena@example.com']);
    expect(field.getAttribute('aria-controls')).toBe(list.id);
    expect(field.getAttribute('aria-activedescendant')).toBe(screen.getByRole('option').id);
    fireEvent.keyDown(field, { key: 'Enter' });
    expect(field.value).toBe('Ask @Bożena Kowalska ');
    expect(screen.queryByRole('listbox')).toBeNull();

    // the writer is not offered; arrows move; Escape closes without picking
    fireEvent.input(field, { target: { value: 'Ask @Bożena Kowalska and @m', selectionStart: 27 } });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.input(field, { target: { value: 'Ask @Bożena Kowalska and @a', selectionStart: 27 } });
    expect(screen.getAllByRole('option').map((o) => o.getAttribute('aria-selected'))).toEqual(['true']);
    fireEvent.keyDown(field, { key: 'Escape' });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.input(field, { target: { value: 'Ask @Bożena Kowalska and @ad', selectionStart: 28 } });
    fireEvent.click(screen.getByRole('option', { name: /Ada Agent/ }));
    expect(field.value).toBe('Ask @Bożena Kowalska and @Ada Agent ');

    fireEvent.click(screen.getByRole('button', { name: 'Add note' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ kind: 'note', body: 'Ask @Bożena Kowalska and @Ada Agent ', mentions: [3, 2] });
  });

  it('are not offered in a reply, which never sends mentions', async () => {
    const { fetch, calls } = conversationFetch();
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    const field = (await screen.findByRole('textbox', { name: /Reply to the customer/ })) as HTMLTextAreaElement;
    await waitFor(() => expect(calls.some((c) => c.url.startsWith('/api/v1/users'))).toBe(true));
    fireEvent.input(field, { target: { value: 'Hi @Ada Agent', selectionStart: 7 } });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ kind: 'reply', body: 'Hi @Ada Agent' });
  });
});

describe('recommended replies', () => {
  it('are asked for when opened and one is inserted into the reply', async () => {
    const recs = { items: [{ body: 'Restart the spooler.', score: 4, source_ticket_id: 31, message_id: 9 }, { body: 'Check the toner.', score: 2, source_ticket_id: 32, message_id: 10 }] };
    const { fetch, calls } = conversationFetch(user(1, 'Me Myself'), (url) => (url === '/api/v1/tickets/7/reply-recommendations' ? jsonResponse(200, recs) : null));
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    const open = await screen.findByRole('button', { name: 'Recommended replies' });
    expect(calls.some((c) => c.url.includes('reply-recommendations'))).toBe(false);
    fireEvent.click(open);
    expect(open.getAttribute('aria-expanded')).toBe('true');
    expect(await screen.findByText('From ticket #32 · match 50%')).toBeTruthy();
    const field = screen.getByRole('textbox', { name: /Reply to the customer/ }) as HTMLTextAreaElement;
    fireEvent.input(field, { target: { value: 'Hello,' } });
    field.setSelectionRange(6, 6);
    fireEvent.click(screen.getByRole('button', { name: 'Insert recommended reply 2' }));
    expect(field.value).toBe('Hello,\n\nCheck the toner.');
    expect(screen.queryByTestId('recommended-replies')).toBeNull();
  });

  it('are not offered without a seat, nor for a note', async () => {
    const { fetch } = conversationFetch(user(1, 'Me Myself', false));
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    await screen.findByRole('textbox', { name: /Reply to the customer/ });
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Recommended replies' })).toBeNull());
  });

  it('say so when there is nothing to recommend', async () => {
    const { fetch } = conversationFetch(user(1, 'Me Myself'), (url) => (url.includes('reply-recommendations') ? jsonResponse(200, { items: [] }) : null));
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Recommended replies' }));
    expect(await screen.findByText(/No similar closed ticket/)).toBeTruthy();
  });
});

describe('suggestions', () => {
  it('show a name, ask for another leaving out what was shown, and use it', async () => {
    const names = ['Printer prints blank pages', 'Toner batch fault'];
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url === '/api/v1/tickets/7/suggestions/name') {
        const shown = (call.body as { exclude?: string[] } | undefined)?.exclude ?? [];
        return jsonResponse(200, { kind: 'name', suggestion: names[shown.length] });
      }
      return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
    });
    setFetch(fetch);
    const onUse = vi.fn(async () => {});
    render(<Suggestions ticketId={7} onUse={onUse} />);
    fireEvent.click(screen.getByRole('button', { name: 'Suggest name' }));
    expect(await screen.findByText('Printer prints blank pages')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Another' }));
    expect(await screen.findByText('Toner batch fault')).toBeTruthy();
    expect(calls.map((c) => c.body)).toEqual([undefined, { exclude: ['Printer prints blank pages'] }]);
    fireEvent.click(screen.getByRole('button', { name: 'Use it' }));
    await waitFor(() => expect(onUse).toHaveBeenCalledWith({ name: 'Toner batch fault' }, 'name'));
    await waitFor(() => expect(screen.queryByTestId('suggestion')).toBeNull());
  });

  it('show the refusal of a ticket without a conversation, and can be dismissed', async () => {
    setFetch(fakeFetch(() => jsonResponse(409, { status: 409, title: 'Conflict', detail: 'The ticket has no conversation yet.', type: 'x' })).fetch);
    render(<Suggestions ticketId={7} onUse={async () => {}} />);
    fireEvent.click(screen.getByRole('button', { name: 'Suggest summary' }));
    expect(await screen.findByText(/no conversation yet/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('suggestion')).toBeNull();
  });

  it('a name replaces the name, a summary the description', () => {
    expect(suggestionPatch('name', 'N')).toEqual({ name: 'N' });
    expect(suggestionPatch('summary', 'S')).toEqual({ description: 'S' });
  });
});

describe('ticket picker', () => {
  it('finds tickets by words and by number, picks by keyboard, and puts #id in the field', async () => {
      const found = [{ id: 12, name: 'Printer jam' }, { id: 42, name: 'Printer on fire' }];
      const { fetch, calls } = fakeFetch((call) => {
      if (call.url === '/api/v1/tickets/42') return jsonResponse(200, { id: 42, name: 'Printer on fire' });
      if (call.url.startsWith('/api/v1/tickets?')) return jsonResponse(200, page(call.url.includes('q=printer') ? found : []));
      return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
      });
      setFetch(fetch);
      let value = '';
      const onChange = vi.fn((text: string) => (value = text));
      const view = render(<TicketPicker id="tp" value={value} onChange={onChange} invalid={false} describedBy="hint" />);
      const rerender = () => view.rerender(<TicketPicker id="tp" value={value} onChange={onChange} invalid={false} describedBy="hint" />);
      const box = screen.getByRole('combobox');
      fireEvent.input(box, { target: { value: 'printer' } });
      rerender();
      await waitFor(() => expect(screen.getAllByRole('option')).toHaveLength(2));
      expect(box.getAttribute('aria-expanded')).toBe('true');
      expect(calls.find((c) => c.url.startsWith('/api/v1/tickets?'))?.url).toContain('q=printer');
      fireEvent.keyDown(box, { key: 'ArrowDown' });
      fireEvent.keyDown(box, { key: 'ArrowDown' });
      expect(box.getAttribute('aria-activedescendant')).toBe(screen.getAllByRole('option')[1].id);
      fireEvent.keyDown(box, { key: 'Enter' });
      expect(onChange).toHaveBeenLastCalledWith('#42');
      rerender();
      expect(screen.getByText('The thread will join #42: Printer on fire')).toBeTruthy();
      expect(box.getAttribute('aria-expanded')).toBe('false');

      // a typed number finds that ticket even when no name matches
      fireEvent.input(box, { target: { value: '' } });
      rerender();
      expect(screen.queryByText(/will join/)).toBeNull();
      fireEvent.input(box, { target: { value: '42' } });
      rerender();
      await waitFor(() => expect(screen.getAllByRole('option').map((o) => o.textContent)).toEqual(['#42 Printer on fire']));
      fireEvent.keyDown(box, { key: 'Escape' });
      expect(box.getAttribute('aria-expanded')).toBe('false');
  });
});
