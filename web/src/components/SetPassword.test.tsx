import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setLanguage } from '../i18n';
import { fakeFetch, jsonResponse } from '../test-helpers';
import { SetPassword } from './SetPassword';
import { SignIn } from './SignIn';

beforeEach(() => setLanguage('en'));
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  window.history.replaceState(null, '', '/');
});

function fill(label: string, value: string) {
  fireEvent.input(screen.getByLabelText(label), { target: { value } });
}

describe('set-password page', () => {
  it('sets the password with the link token, then the sign-in form has the address', async () => {
    window.history.replaceState(null, '', '/set-password#token=hi_link');
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, { user_id: 3, email: 'ana@example.com' }));
    vi.stubGlobal('fetch', fetch);
    render(<SetPassword />);
    fill('New password', 'correct horse battery');
    fill('Repeat the password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Set password' }));
    await waitFor(() => expect(window.location.pathname).toBe('/signin'));
    expect(window.location.hash).toBe('');
    expect(calls[0].body).toEqual({ token: 'hi_link', password: 'correct horse battery' });
    cleanup();
    render(<SignIn />);
    expect((screen.getByLabelText('Email') as HTMLInputElement).value).toBe('ana@example.com');
    expect(screen.getByRole('status').textContent).toContain('Your password is set');
  });

  it('says when the passwords differ, without asking the gateway', async () => {
    window.history.replaceState(null, '', '/set-password#token=hi_link');
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, {}));
    vi.stubGlobal('fetch', fetch);
    render(<SetPassword />);
    fill('New password', 'correct horse battery');
    fill('Repeat the password', 'correct horse batterY');
    fireEvent.click(screen.getByRole('button', { name: 'Set password' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('differ'));
    expect(calls).toHaveLength(0);
  });

  it('explains a link that no longer works', async () => {
    window.history.replaceState(null, '', '/set-password#token=hi_used');
    vi.stubGlobal('fetch', fakeFetch(() => jsonResponse(422, { status: 422, detail: 'no', errors: { token: ['used'] } })).fetch);
    render(<SetPassword />);
    fill('New password', 'correct horse battery');
    fill('Repeat the password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Set password' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Ask an admin for a new link'));
  });

  it('without a token there is no form, only the way to ask for one', () => {
    window.history.replaceState(null, '', '/set-password');
    render(<SetPassword />);
    expect(screen.queryByRole('button', { name: 'Set password' })).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain('needs the link');
  });
});

describe('change-password page', () => {
  it('checks the pair first, then sends current and new password', async () => {
    const { ChangePasswordPage } = await import('./ChangePasswordPage');
    const { setFetch } = await import('../api');
    const { fetch, calls } = fakeFetch((call) =>
      (call.body as { current_password: string }).current_password === 'old one'
        ? jsonResponse(200, { user_id: 1, password_set_at: '2026-01-01T00:00:00Z', sessions_ended: 2 })
        : jsonResponse(422, { type: 'x', title: 'Validation failed', status: 422, detail: 'no', errors: { current_password: ['This is not your current password.'] } }),
    );
    setFetch(fetch);
    render(<ChangePasswordPage />);
    fill('Current password', 'wrong one');
    fill('New password', 'correct horse battery');
    fill('Repeat the password', 'correct horse batter');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The two passwords differ.');
    expect(calls).toHaveLength(0);

    fill('Repeat the password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('That is not your current password.'));
    expect(calls[0]).toMatchObject({ method: 'PUT', url: '/api/v1/me/password', body: { current_password: 'wrong one', new_password: 'correct horse battery' } });

    fill('Current password', 'old one');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('status')).textContent).toBe('Your password is changed; 2 sessions were signed out.');
    expect(screen.queryByRole('alert')).toBeNull();
    expect((screen.getByLabelText('Current password') as HTMLInputElement).value).toBe('');
  });
});

describe('shared password form pieces', () => {
  it('a new password needs the minimum length and the same text twice', async () => {
    const { newPasswordProblem } = await import('./PasswordForms');
    expect(newPasswordProblem('short', 'short')).toBe('The password needs at least 10 characters.');
    expect(newPasswordProblem('long enough!', 'long enough?')).toBe('The two passwords differ.');
    expect(newPasswordProblem('long enough!', 'long enough!')).toBeNull();
  });
});
