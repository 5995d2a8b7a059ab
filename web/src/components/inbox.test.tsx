import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { matchRoute } from '../router';
import { clearSharedData } from '../store';
import { fakeFetch, jsonResponse } from '../test-helpers';
import type { Message, ThreadSummary } from '../types';
import { helpdeskMove, InboxPage } from './InboxPage';

afterEach(cleanup);

/** A thread as the inbox lists it: without its messages. */
function inboxThread(id: number, subject: string, extra: Partial<ThreadSummary> = {}): ThreadSummary {
  return {
    id,
    ticket_id: null,
    subject,
    channel: 'email',
    location: 'inbox',
    owner_id: null,
    customer: { email: `c${id}@example.com` },
    message_count: 1,
    spam: false,
    created_at: '2026-01-01T10:00:00+00:00',
    updated_at: '2026-01-01T10:00:00+00:00',
    last_message_at: '2026-01-01T10:00:00+00:00',
    ...extra,
  };
}

function firstMessage(id: number, subject: string): Message {
  return {
    id: id * 10,
    thread_id: id,
    kind: 'customer',
    channel: 'email',
    author_id: null,
    sender: { email: `c${id}@example.com`, name: '' },
    to: [],
    cc: [],
    subject,
    text: `Body of ${subject}`,
    quoted_text: '',
    attachments: [],
    mentions: [],
    auto: null,
    delivery: null,
    created_at: '2026-01-01T10:00:00+00:00',
  };
}

describe('helpdesk move body', () => {
  it('an empty ticket field means a new ticket; a number (with or without #) names one', () => {
    expect(helpdeskMove('', '', '')).toEqual({ ticket_id: null, owner_id: null, comment: null });
    expect(helpdeskMove(' #42 ', '3', '  why  ')).toEqual({ ticket_id: 42, owner_id: 3, comment: 'why' });
  });

  it('anything else in the ticket field is refused before a request', () => {
    for (const typed of ['abc', '0', '4.2', '-1', '1234567890123']) expect(helpdeskMove(typed, '', '')).toEqual({ error: 'inbox.badTicket' });
  });
});

describe('inbox page', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    clearSharedData();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });

  it('is a route of its own', () => {
    expect(matchRoute('/inbox')).toEqual({ page: 'inbox' });
  });

  it('pages through the inbox, opens a thread and moves it to the help desk', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.startsWith('/api/v1/inbox') && !call.url.includes('cursor='))
        return jsonResponse(200, { items: [inboxThread(1, 'First')], next_cursor: 'c2', total: 2 });
      if (call.url.startsWith('/api/v1/inbox')) return jsonResponse(200, { items: [inboxThread(2, 'Second')], next_cursor: null, total: 2 });
      if (call.url.startsWith('/api/v1/threads/2/messages')) return jsonResponse(200, { items: [firstMessage(2, 'Second')], next_cursor: null, total: 1 });
      if (call.url === '/api/v1/threads/2/move') return jsonResponse(200, { ...inboxThread(2, 'Second'), location: 'helpdesk', ticket_id: 99 });
      if (call.url === '/api/v1/me') return jsonResponse(200, { id: 1, name: 'A', permissions: ['account_access'] });
      return jsonResponse(200, { items: [], next_cursor: null, total: 0 });
    });
    setFetch(fetch);
    render(<InboxPage />);
    await screen.findByRole('button', { name: 'First' });
    fireEvent.click(screen.getByRole('button', { name: 'Show more' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Second' }));
    expect(await screen.findByText('Body of Second')).toBeTruthy();

    fireEvent.click(await screen.findByRole('button', { name: 'Move to help desk' }));
    fireEvent.input(screen.getByRole('combobox', { name: /Add to ticket/ }), { target: { value: 'x1' } });
    fireEvent.submit(screen.getByRole('combobox', { name: /Add to ticket/ }).closest('form')!);
    expect(await screen.findByText(/from the list/)).toBeTruthy();
    expect(calls.some((c) => c.url.endsWith('/move'))).toBe(false);

    fireEvent.input(screen.getByRole('combobox', { name: /Add to ticket/ }), { target: { value: '' } });
    fireEvent.submit(screen.getByRole('combobox', { name: /Add to ticket/ }).closest('form')!);
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Second' })).toBeNull());
    expect(calls.find((c) => c.url.endsWith('/move'))?.body).toEqual({ to: 'helpdesk', ticket_id: null, owner_id: null, comment: null });
    expect(screen.getByRole('button', { name: 'First' })).toBeTruthy();
  });
});
