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
