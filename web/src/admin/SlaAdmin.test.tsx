import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setFetch } from '../api';
import * as auth from '../auth';
import { clearSharedData, hasSeat } from '../store';
import { fakeFetch, jsonResponse } from '../test-helpers';
import type { SlaPolicy, User } from '../types';
import { SlaAdmin } from './SlaAdmin';

afterEach(cleanup);

const policy: SlaPolicy = {
  id: 5,
  version: 1,
  created_at: '2026-01-01T00:00:00+00:00',
  updated_at: '2026-01-01T00:00:00+00:00',
  name: 'Gold',
  priority: 'urgent',
  pipeline_id: null,
  first_reply_minutes: 90,
  next_reply_minutes: null,
  close_minutes: null,
  due_soon_minutes: 30,
  pause_stage_ids: [],
  business_hours: null,
};

function me(permissions: string[], seat: boolean): Partial<User> {
  return { id: 1, name: 'Ann', permissions: permissions as User['permissions'], seat, team_ids: [] };
}

function serve(user: Partial<User>) {
  return fakeFetch((call) => {
    if (call.url === '/api/v1/me') return jsonResponse(200, user);
    if (call.url === '/api/v1/pipelines') return jsonResponse(200, [{ id: 1, label: 'Support', stages: [{ id: 2, label: 'Waiting', state: 'OPEN' }] }]);
    if (call.url.startsWith('/api/v1/sla-policies') && call.method === 'GET') return jsonResponse(200, { items: [policy], next_cursor: null, total: 1 });
    if (call.url === '/api/v1/sla-policies/5' && call.method === 'PATCH') return jsonResponse(200, { ...policy, ...(call.body as object) });
    return jsonResponse(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: call.url });
  });
}

describe('seat features are offered by seat', () => {
  it('a seat or super admin has one; nobody known yet has none', () => {
    expect(hasSeat(me(['service_access'], true) as User)).toBe(true);
    expect(hasSeat(me(['super_admin'], false) as User)).toBe(true);
    expect(hasSeat(me(['account_access'], false) as User)).toBe(false);
    expect(hasSeat(undefined)).toBe(false);
  });
});

describe('SLA policies page', () => {
  beforeEach(async () => {
    sessionStorage.clear();
    auth.reloadForTests();
    clearSharedData();
    await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
  });

  it('without a seat says so and asks for nothing', async () => {
    const { fetch, calls } = serve(me(['account_access'], false));
    setFetch(fetch);
    render(<SlaAdmin />);
    expect(await screen.findByText(/need a service seat/)).toBeTruthy();
    expect(calls.some((c) => c.url.startsWith('/api/v1/sla-policies'))).toBe(false);
  });

  it('a seat without account access sees the policies but is offered no change', async () => {
    setFetch(serve(me(['service_access'], true)).fetch);
    render(<SlaAdmin />);
    expect(await screen.findByText('First reply: 1 h 30 min')).toBeTruthy();
    expect(screen.getByText(/changing them needs account access/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Edit SLA policy Gold' })).toBeNull();
    expect(screen.queryByRole('form', { name: 'New SLA policy' })).toBeNull();
  });

  it('account access edits a policy with PATCH of the whole form', async () => {
    const { fetch, calls } = serve(me(['service_access', 'account_access'], true));
    setFetch(fetch);
    render(<SlaAdmin />);
    fireEvent.click(await screen.findByRole('button', { name: 'Edit SLA policy Gold' }));
    const form = screen.getByRole('form', { name: 'Edit SLA policy Gold' });
    const close = form.querySelector<HTMLInputElement>('input[id$="-close"]')!;
    fireEvent.input(close, { target: { value: '600' } });
    fireEvent.submit(form);
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({
      name: 'Gold',
      priority: 'urgent',
      pipeline_id: null,
      first_reply_minutes: 90,
      next_reply_minutes: null,
      close_minutes: 600,
      due_soon_minutes: 30,
      business_hours: null,
      pause_stage_ids: [],
    });
  });
});
