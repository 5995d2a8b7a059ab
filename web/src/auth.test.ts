import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as auth from './auth';
import { fakeFetch, jsonResponse } from './test-helpers';

function clearCookies() {
  for (const part of document.cookie.split(';')) {
    const name = part.split('=')[0].trim();
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
  }
}

beforeEach(() => {
  sessionStorage.clear();
  clearCookies();
  auth.reloadForTests();
});
afterEach(() => {
  sessionStorage.clear();
  clearCookies();
});

describe('token mode (while the gateway has no sessions)', () => {
  it('checks the token with /me, keeps it in sessionStorage and sends it as Bearer', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, { id: 1, name: 'admin' }));
    expect(await auth.signInWithToken('  secret-token  ', fetch)).toEqual({ ok: true });
    expect(calls[0].url).toBe('/api/v1/me');
    expect(calls[0].headers.Authorization).toBe('Bearer secret-token');
    expect(auth.isSignedIn()).toBe(true);
    expect(auth.authMode()).toBe('token');
    expect(JSON.parse(sessionStorage.getItem(auth.STORAGE_KEY)!)).toEqual({ mode: 'token', token: 'secret-token' });
    expect(auth.credentialsFor('POST')).toEqual({ headers: { Authorization: 'Bearer secret-token' }, credentials: 'omit' });
  });

  it('refuses a token the gateway refuses, and keeps nothing', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(401, { type: 'x', title: 'Unauthenticated', status: 401, detail: 'bad token' }));
    expect(await auth.signInWithToken('nope', fetch)).toEqual({ ok: false, status: 401, detail: 'bad token' });
    expect(auth.isSignedIn()).toBe(false);
    expect(sessionStorage.getItem(auth.STORAGE_KEY)).toBeNull();
  });

  it('forgets the token when the gateway rejects it later, and tells listeners', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(200, {}));
    await auth.signInWithToken('t', fetch);
    let told = 0;
    const off = auth.onAuthChange(() => told++);
    auth.credentialsRejected();
    off();
    expect(told).toBe(1);
    expect(auth.isSignedIn()).toBe(false);
  });

  it('signs out locally without calling the gateway', async () => {
    const ok = fakeFetch(() => jsonResponse(200, {}));
    await auth.signInWithToken('t', ok.fetch);
    const { fetch, calls } = fakeFetch(() => jsonResponse(204));
    await auth.signOut(fetch);
    expect(calls).toHaveLength(0);
    expect(auth.isSignedIn()).toBe(false);
  });
});

describe('password sign-in (session cookie + CSRF)', () => {
  it('answers unsupported when POST /api/v1/sessions is 404, so the token form is offered', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(404, { type: 'x', title: 'Not found', status: 404, detail: 'no route' }));
    expect(await auth.signInWithPassword('a@b.c', 'pw', fetch)).toEqual({ ok: false, reason: 'unsupported' });
    expect(calls[0]).toMatchObject({ url: '/api/v1/sessions', method: 'POST', body: { email: 'a@b.c', password: 'pw' }, credentials: 'same-origin' });
    expect(auth.isSignedIn()).toBe(false);
  });

  it('answers invalid on 401 and throttled with Retry-After on 429', async () => {
    const bad = fakeFetch(() => jsonResponse(401, { status: 401, title: 'Unauthenticated', detail: 'wrong password' }));
    expect(await auth.signInWithPassword('a@b.c', 'pw', bad.fetch)).toEqual({ ok: false, reason: 'invalid', detail: 'wrong password' });
    const slow = fakeFetch(() => jsonResponse(429, { status: 429, title: 'Too many', detail: 'later' }, { 'Retry-After': '30' }));
    expect(await auth.signInWithPassword('a@b.c', 'pw', slow.fetch)).toMatchObject({ ok: false, reason: 'throttled', retryAfter: 30 });
  });

  it('uses the cookie and echoes the CSRF cookie on state-changing requests only', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(201, { id: 1 }));
    document.cookie = `${auth.CSRF_COOKIE}=csrf-123; path=/`;
    expect(await auth.signInWithPassword('a@b.c', 'pw', fetch)).toEqual({ ok: true });
    expect(auth.authMode()).toBe('session');
    expect(auth.credentialsFor('GET')).toEqual({ headers: {}, credentials: 'same-origin' });
    for (const method of ['POST', 'PATCH', 'PUT', 'DELETE']) {
      expect(auth.credentialsFor(method)).toEqual({ headers: { [auth.CSRF_HEADER]: 'csrf-123' }, credentials: 'same-origin' });
    }
  });

  it('signs out with DELETE /api/v1/sessions/current carrying the CSRF token', async () => {
    document.cookie = `${auth.CSRF_COOKIE}=tok; path=/`;
    await auth.signInWithPassword('a@b.c', 'pw', fakeFetch(() => jsonResponse(201, {})).fetch);
    const { fetch, calls } = fakeFetch(() => jsonResponse(204));
    await auth.signOut(fetch);
    expect(calls[0]).toMatchObject({ url: '/api/v1/sessions/current', method: 'DELETE', headers: { [auth.CSRF_HEADER]: 'tok' } });
    expect(auth.isSignedIn()).toBe(false);
  });

  it('finds an existing session from its CSRF cookie after a reload', () => {
    document.cookie = `${auth.CSRF_COOKIE}=abc; path=/`;
    auth.reloadForTests();
    expect(auth.authMode()).toBe('session');
  });
});

describe('sessions end cleanly', () => {
  it('forgets the CSRF cookie when the gateway refuses the session, so a reload shows sign-in', async () => {
    document.cookie = `${auth.CSRF_COOKIE}=stale; path=/`;
    auth.reloadForTests();
    expect(auth.authMode()).toBe('session');
    auth.credentialsRejected();
    expect(auth.readCookie(auth.CSRF_COOKIE)).toBeNull();
    auth.reloadForTests();
    expect(auth.isSignedIn()).toBe(false);
  });

  it('forgets the CSRF cookie on sign-out even when the gateway cannot be reached', async () => {
    document.cookie = `${auth.CSRF_COOKIE}=tok; path=/`;
    auth.reloadForTests();
    await auth.signOut((() => Promise.reject(new Error('offline'))) as unknown as typeof fetch);
    expect(auth.readCookie(auth.CSRF_COOKIE)).toBeNull();
    expect(auth.isSignedIn()).toBe(false);
  });
});

describe('set-password links', () => {
  it('reads the token from the fragment only', () => {
    expect(auth.inviteTokenFrom('#token=hi_abc-123')).toBe('hi_abc-123');
    expect(auth.inviteTokenFrom('')).toBeNull();
    expect(auth.inviteTokenFrom('#other=1')).toBeNull();
  });

  it('sets the password once with POST /api/v1/invites/accept and hands the address to the sign-in form', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, { user_id: 4, email: 'ana@example.com' }));
    expect(await auth.setPasswordWithInvite('hi_abc', 'correct horse battery', fetch)).toEqual({ ok: true, email: 'ana@example.com' });
    expect(calls[0]).toMatchObject({ url: '/api/v1/invites/accept', method: 'POST', body: { token: 'hi_abc', password: 'correct horse battery' } });
    expect(auth.takeHandedOverEmail()).toBe('ana@example.com');
    expect(auth.takeHandedOverEmail()).toBeNull();
    expect(auth.isSignedIn()).toBe(false);
  });

  it('tells a used or expired link from a refused password and from throttling', async () => {
    const used = fakeFetch(() => jsonResponse(422, { status: 422, detail: 'invalid', errors: { token: ['used'] } }));
    expect(await auth.setPasswordWithInvite('hi_x', 'long enough pw', used.fetch)).toMatchObject({ ok: false, reason: 'invalidLink' });
    const weak = fakeFetch(() => jsonResponse(422, { status: 422, detail: 'invalid', errors: { password: ['too short'] } }));
    expect(await auth.setPasswordWithInvite('hi_x', 'long enough pw', weak.fetch)).toMatchObject({ ok: false, reason: 'weak', detail: 'too short' });
    const slow = fakeFetch(() => jsonResponse(429, { status: 429, detail: 'later' }, { 'Retry-After': '12' }));
    expect(await auth.setPasswordWithInvite('hi_x', 'long enough pw', slow.fetch)).toMatchObject({ ok: false, reason: 'throttled', retryAfter: 12 });
  });

  it('refuses a short password without asking the gateway', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, {}));
    expect(await auth.setPasswordWithInvite('hi_x', 'short', fetch)).toEqual({ ok: false, reason: 'weak' });
    expect(calls).toHaveLength(0);
  });
});
