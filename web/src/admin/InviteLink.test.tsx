import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setFetch } from '../api';
import { setLanguage } from '../i18n';
import { fakeFetch, jsonResponse } from '../test-helpers';
import { InviteLink } from './InviteLink';

beforeEach(() => setLanguage('en'));
afterEach(cleanup);

describe('invite link', () => {
  it('asks the gateway for a one-time link and shows it once', async () => {
    const url = 'http://desk.example/set-password#token=hi_abc';
    const { fetch, calls } = fakeFetch(() => jsonResponse(201, { user_id: 3, token: 'hi_abc', url, expires_at: '2026-12-05T10:00:00+00:00' }));
    setFetch(fetch);
    render(<InviteLink user={{ id: 3, name: 'Ana' }} />);
    fireEvent.click(screen.getByRole('button', { name: 'Invite link for Ana' }));
    await waitFor(() => expect((screen.getByRole('textbox') as HTMLInputElement).value).toBe(url));
    expect(calls[0]).toMatchObject({ url: '/api/v1/users/3/invite', method: 'POST' });
    expect(screen.getByRole('textbox').getAttribute('aria-label')).toContain('works once');
  });
});
