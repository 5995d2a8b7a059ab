import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { fakeFetch, jsonResponse } from '../test-helpers';
import type { Message, Thread, Ticket } from '../types';
import { confirmsCount, BulkBar } from './BulkBar';
import { canSplit, Conversation, formatSize } from './Conversation';
import { can } from '../store';
import { preferencesDiff } from './PreferencesPage';
import { mergePair } from './TicketActions';

afterEach(cleanup);

const ticket: Ticket = {
  id: 7,
  name: 'Printer',
  description: '',
  pipeline_id: 1,
  status: 1,
  priority: 'medium',
  category: null,
  owner_id: null,
  team_id: null,
  source: 'email',
  associations: { contacts: [], companies: [], deals: [] },
  created_at: '2026-01-01T00:00:00+00:00',
  updated_at: '2026-01-01T00:00:00+00:00',
  closed_at: null,
  version: 1,
  unread: false,
  following: false,
  merged_ticket_ids: [],
};

function message(id: number, kind: Message['kind'], text: string, extra: Partial<Message> = {}): Message {
  return {
    id,
    thread_id: 70,
    kind,
    channel: 'email',
    author_id: kind === 'customer' ? null : 1,
    sender: kind === 'customer' ? { email: 'zofia@example.com', name: 'Zofia' } : null,
    to: [],
    cc: [],
    subject: 'Printer',
    text,
    quoted_text: '',
    attachments: [],
    mentions: [],
    auto: null,
    delivery: null,
    created_at: '2026-01-01T10:00:00+00:00',
    ...extra,
  };
}

const thread: Thread = {
  id: 70,
  ticket_id: 7,
  subject: 'Printer on fire',
  channel: 'email',
  location: 'helpdesk',
  owner_id: null,
  customer: { email: 'zofia@example.com' },
  message_count: 2,
  spam: false,
  created_at: '2026-01-01T10:00:00+00:00',
  updated_at: '2026-01-01T10:00:00+00:00',
  last_message_at: '2026-01-01T10:00:00+00:00',
  messages: [
    message(1, 'customer', 'It smokes', {
      quoted_text: '> old',
      attachments: [{ id: 5, filename: 'photo.jpg', content_type: 'image/jpeg', size: 2048, inline: false, content_id: null }],
    }),
    message(2, 'note', 'Call the fire brigade'),
  ],
  messages_next_cursor: null,
};

describe('conversation pane', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });

  it('shows messages with kinds and attachments, and sends a reply to the thread', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.startsWith('/api/v1/tickets/7/threads')) return jsonResponse(200, { items: [thread], next_cursor: null, total: 1 });
      if (call.url === '/api/v1/threads/70/messages' && call.method === 'POST') return jsonResponse(201, message(3, 'reply', String((call.body as { body: string }).body)));
      if (call.url.startsWith('/api/v1/users')) return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
      return jsonResponse(404, { status: 404, title: 'nf', detail: 'nf', type: 'x' });
    });
    setFetch(fetch);
    const touched = vi.fn();
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={touched} />);
    await screen.findByText('It smokes');
    expect(screen.getByText('Call the fire brigade').closest('li')?.getAttribute('data-kind')).toBe('note');
    expect(screen.getByRole('link', { name: 'Download photo.jpg' })).toBeTruthy();
    expect(screen.getByText('Show quoted history')).toBeTruthy();

    fireEvent.input(screen.getByRole('textbox', { name: /Reply to the customer/ }), { target: { value: 'We are on it' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    await waitFor(() => expect(touched).toHaveBeenCalled());
    const sent = calls.find((c) => c.method === 'POST');
    expect(sent?.body).toEqual({ kind: 'reply', body: 'We are on it' });
    expect(sent?.headers['Idempotency-Key']).toBeTruthy();
    expect(sent?.headers.Authorization).toBe('Bearer tok');
  });

  it('a reply takes changed recipients and attached files', async () => {
    const withCc = { ...thread, messages: [message(1, 'customer', 'It smokes', { cc: [{ email: 'boss@example.com', name: '' }] })] };
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.startsWith('/api/v1/tickets/7/threads')) return jsonResponse(200, { items: [withCc], next_cursor: null, total: 1 });
      if (call.method === 'POST') return jsonResponse(201, message(3, 'reply', 'x'));
      return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
    });
    setFetch(fetch);
    const touched = vi.fn();
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={touched} />);
    await screen.findByText('It smokes');
    const to = screen.getByRole('textbox', { name: 'To' }) as HTMLInputElement;
    const ccField = screen.getByRole('textbox', { name: 'Cc' }) as HTMLInputElement;
    await waitFor(() => expect(ccField.value).toBe('boss@example.com'));
    expect(to.value).toBe('zofia@example.com');

    fireEvent.input(screen.getByRole('textbox', { name: /Reply to the customer/ }), { target: { value: 'See attached' } });
    fireEvent.input(ccField, { target: { value: 'not an address' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Cc: “not” is not an email address.');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);

    fireEvent.input(ccField, { target: { value: '' } });
    fireEvent.input(to, { target: { value: 'zofia@example.com, mum@example.com' } });
    const picker = screen.getByLabelText(/Attach files/) as HTMLInputElement;
    Object.defineProperty(picker, 'files', { configurable: true, value: [new File(['hello'], 'hi.txt', { type: 'text/plain' })] });
    fireEvent.change(picker);
    expect(await screen.findByRole('button', { name: 'Remove hi.txt' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    await waitFor(() => expect(touched).toHaveBeenCalled());
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
      kind: 'reply',
      body: 'See attached',
      to: ['zofia@example.com', 'mum@example.com'],
      cc: [],
      attachments: [{ filename: 'hi.txt', content_type: 'text/plain', content_b64: 'aGVsbG8=' }],
    });
  });

  it('a note goes as kind note', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.startsWith('/api/v1/tickets/7/threads')) return jsonResponse(200, { items: [thread], next_cursor: null, total: 1 });
      if (call.method === 'POST') return jsonResponse(201, message(3, 'note', 'x'));
      if (call.url.startsWith('/api/v1/pipelines')) return jsonResponse(200, []);
      return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
    });
    setFetch(fetch);
    render(<Conversation ticket={ticket} reloadKey={0} onTicketTouched={() => {}} />);
    await screen.findByText('It smokes');
    fireEvent.click(screen.getByRole('radio', { name: 'Internal note' }));
    fireEvent.input(screen.getByRole('textbox', { name: /Internal note/ }), { target: { value: 'psst' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add note' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ kind: 'note', body: 'psst' });
  });
});

describe('bulk delete', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });

  it('is enabled only by the exact count typed, and sends it as confirm_count', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url === '/api/v1/tickets/bulk-delete')
        return jsonResponse(200, { id: 9, kind: 'bulk_delete', state: 'done', total: 3, processed: 3, done: 3, skipped: 0, failed: 0, error: null, results: [] });
      if (call.url.startsWith('/api/v1/pipelines')) return jsonResponse(200, []);
      return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
    });
    setFetch(fetch);
    const onDeleted = vi.fn();
    render(<BulkBar ids={[1, 2, 3]} onClear={() => {}} onDone={() => {}} onDeleted={onDeleted} />);
    fireEvent.click(screen.getByRole('button', { name: 'Delete selected…' }));
    const confirm = screen.getByRole('button', { name: 'Delete 3 tickets' }) as HTMLButtonElement;
    const input = screen.getByRole('textbox', { name: /type the number of tickets/ });
    fireEvent.input(input, { target: { value: '2' } });
    expect(confirm.disabled).toBe(true);
    fireEvent.input(input, { target: { value: '3' } });
    expect(confirm.disabled).toBe(false);
    fireEvent.click(confirm);
    await waitFor(() => expect(onDeleted).toHaveBeenCalledWith([1, 2, 3]));
    expect(calls.find((c) => c.url === '/api/v1/tickets/bulk-delete')?.body).toEqual({ ids: [1, 2, 3], confirm_count: 3 });
  });
});

describe('action helpers', () => {
  it('typed counts must be exactly the number', () => {
    expect(confirmsCount('3', 3)).toBe(true);
    expect(confirmsCount(' 3 ', 3)).toBe(true);
    expect(confirmsCount('03', 3)).toBe(true);
    expect(confirmsCount('3.0', 3)).toBe(false);
    expect(confirmsCount('', 0)).toBe(false);
    expect(confirmsCount('4', 3)).toBe(false);
  });

  it('actions are offered by permission; a super admin holds them all', () => {
    const user = (permissions: string[]) => ({ permissions }) as unknown as Parameters<typeof can>[0];
    expect(can(user(['service_access']), 'delete_tickets')).toBe(false);
    expect(can(user(['delete_tickets']), 'delete_tickets', 'bulk_delete')).toBe(true);
    expect(can(user(['super_admin']), 'bulk_delete')).toBe(true);
    expect(can(undefined, 'bulk_delete')).toBe(true);
  });

  it('merge sends the kept ticket as primary', () => {
    expect(mergePair(1, 2, 'current')).toEqual({ primary: 1, secondary: 2 });
    expect(mergePair(1, 2, 'other')).toEqual({ primary: 2, secondary: 1 });
  });

  it('split needs some, not all, messages of an open ticket', () => {
    expect(canSplit(1, 3, false)).toBe(true);
    expect(canSplit(3, 3, false)).toBe(false);
    expect(canSplit(0, 3, false)).toBe(false);
    expect(canSplit(1, 3, true)).toBe(false);
  });

  it('sizes read as B, KB, MB', () => {
    expect(formatSize(500)).toBe('500 B');
    expect(formatSize(2048)).toBe('2 KB');
    expect(formatSize(5 * 1024 * 1024)).toBe('5 MB');
  });

  it('preferences send only what changed', () => {
    const saved = { types: { a: { in_app: true, email: false }, b: { in_app: true, email: true } }, email_digest: 'off' as const };
    expect(preferencesDiff(saved, saved)).toEqual({});
    const edited = { ...saved, types: { ...saved.types, b: { in_app: true, email: false } }, email_digest: 'hourly' as const };
    expect(preferencesDiff(saved, edited)).toEqual({ types: { b: { in_app: true, email: false } }, email_digest: 'hourly' });
  });
});
