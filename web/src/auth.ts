/**
 * How the workspace proves who it is: the only module that knows.
 *
 * Two modes, and pages never see which one is in use: they call `api()`, which asks this module
 * for `credentialsFor(method)`.
 *
 * - `session`: `POST /api/v1/sessions` with email and password; the gateway sets an HttpOnly,
 *   SameSite=Strict session cookie and a readable `helpdesk_csrf` cookie. Requests go with the
 *   cookie (`credentials: 'same-origin'`), and every state-changing one echoes the CSRF cookie in
 *   `X-CSRF-Token`. Sign-out is `DELETE /api/v1/sessions/current`.
 *   The CSRF cookie's value is derived from the session by the gateway, so a stale one is useless;
 *   it is forgotten when the gateway refuses the session (401) or on sign-out.
 * - `token`: a secondary way in (and the only one on a gateway without sessions, where
 *   `POST /api/v1/sessions` answers 404): the user pastes an API token; it lives in
 *   `sessionStorage` (gone with the tab) and goes as `Authorization: Bearer`.
 *
 * A new user gets a set-password link from an admin (`/set-password#token=...`: the token is in
 * the fragment, which no server sees); `setPasswordWithInvite` redeems it with
 * `POST /api/v1/invites/accept`, once.
 */

export type AuthMode = 'token' | 'session';
type Stored = { mode: 'token'; token: string } | { mode: 'session' };

export const STORAGE_KEY = 'helpdesk.auth';
export const CSRF_COOKIE = 'helpdesk_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const MIN_PASSWORD_LENGTH = 10;

export type PasswordResult =
  | { ok: true }
  | { ok: false; reason: 'unsupported' | 'invalid' | 'throttled' | 'error'; detail?: string; retryAfter?: number };

export type SetPasswordResult =
  | { ok: true; email: string }
  | { ok: false; reason: 'invalidLink' | 'weak' | 'throttled' | 'error'; detail?: string; retryAfter?: number };

let state: Stored | null = load();
let handedOver: string | null = null;
const listeners = new Set<() => void>();

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

function load(): Stored | null {
  const raw = storage()?.getItem(STORAGE_KEY);
  if (raw) {
    try {
      const parsed = JSON.parse(raw) as Stored;
      if (parsed.mode === 'token' && typeof parsed.token === 'string' && parsed.token) return parsed;
      if (parsed.mode === 'session') return parsed;
    } catch {
      /* ignore a damaged entry */
    }
  }
  // A session cookie outlives the tab; its readable CSRF twin says one may exist.
  return readCookie(CSRF_COOKIE) ? { mode: 'session' } : null;
}

function save(next: Stored | null): void {
  state = next;
  const store = storage();
  if (next) store?.setItem(STORAGE_KEY, JSON.stringify(next));
  else store?.removeItem(STORAGE_KEY);
  listeners.forEach((fn) => fn());
}

export function readCookie(name: string): string | null {
  const jar = typeof document === 'undefined' ? '' : document.cookie;
  for (const part of jar.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export function isSignedIn(): boolean {
  return state !== null;
}

export function authMode(): AuthMode | null {
  return state?.mode ?? null;
}

export function onAuthChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Headers and fetch credentials for one request of the given method. */
export function credentialsFor(method: string): { headers: Record<string, string>; credentials: RequestCredentials } {
  const headers: Record<string, string> = {};
  if (state?.mode === 'token') {
    headers.Authorization = `Bearer ${state.token}`;
    return { headers, credentials: 'omit' };
  }
  if (state?.mode === 'session' && !SAFE_METHODS.has(method.toUpperCase())) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  return { headers, credentials: 'same-origin' };
}

/** Email and password: a session cookie. `unsupported` means the gateway has no sessions yet. */
export async function signInWithPassword(
  email: string,
  password: string,
  fetchImpl: typeof fetch = fetch,
): Promise<PasswordResult> {
  let response: Response;
  try {
    response = await fetchImpl('/api/v1/sessions', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  } catch {
    return { ok: false, reason: 'error' };
  }
  if (response.ok) {
    save({ mode: 'session' });
    return { ok: true };
  }
  if (response.status === 404 || response.status === 405 || response.status === 501) {
    return { ok: false, reason: 'unsupported' };
  }
  const detail = await problemDetail(response);
  if (response.status === 429) {
    return { ok: false, reason: 'throttled', detail, retryAfter: Number(response.headers.get('Retry-After')) || undefined };
  }
  if (response.status === 401 || response.status === 422 || response.status === 400) {
    return { ok: false, reason: 'invalid', detail };
  }
  return { ok: false, reason: 'error', detail };
}

/** An API token: checked with `GET /api/v1/me` before it is kept. */
export async function signInWithToken(
  token: string,
  fetchImpl: typeof fetch = fetch,
): Promise<{ ok: true } | { ok: false; status: number; detail?: string }> {
  const value = token.trim();
  if (!value) return { ok: false, status: 401 };
  let response: Response;
  try {
    response = await fetchImpl('/api/v1/me', {
      headers: { Authorization: `Bearer ${value}`, Accept: 'application/json' },
      credentials: 'omit',
    });
  } catch {
    return { ok: false, status: 0 };
  }
  if (!response.ok) return { ok: false, status: response.status, detail: await problemDetail(response) };
  save({ mode: 'token', token: value });
  return { ok: true };
}

export async function signOut(fetchImpl: typeof fetch = fetch): Promise<void> {
  if (state?.mode === 'session') {
    const { headers, credentials } = credentialsFor('DELETE');
    try {
      await fetchImpl('/api/v1/sessions/current', { method: 'DELETE', headers, credentials });
    } catch {
      /* signed out locally all the same */
    }
    forgetCsrfCookie();
  }
  save(null);
}

/** The gateway refused our credentials (401): forget them; the app shows the sign-in page. */
export function credentialsRejected(): void {
  if (state?.mode === 'session') forgetCsrfCookie();
  if (state) save(null);
}

function forgetCsrfCookie(): void {
  if (typeof document !== 'undefined') document.cookie = `${CSRF_COOKIE}=; Max-Age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; SameSite=Strict`;
}

/** The invite token of a set-password link's fragment (`#token=...`), if there is one. */
export function inviteTokenFrom(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token');
  return token && token.trim() ? token.trim() : null;
}

/** Set the password with an invite's token (once). `weak` carries the gateway's reason. */
export async function setPasswordWithInvite(
  token: string,
  password: string,
  fetchImpl: typeof fetch = fetch,
): Promise<SetPasswordResult> {
  if (password.length < MIN_PASSWORD_LENGTH) return { ok: false, reason: 'weak' };
  let response: Response;
  try {
    response = await fetchImpl('/api/v1/invites/accept', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token, password }),
    });
  } catch {
    return { ok: false, reason: 'error' };
  }
  let body: { email?: string; detail?: string; errors?: Record<string, string[]> } = {};
  try {
    body = await response.json();
  } catch {
    /* no body */
  }
  if (response.ok && typeof body.email === 'string') {
    handedOver = body.email;
    return { ok: true, email: body.email };
  }
  if (response.status === 429) {
    return { ok: false, reason: 'throttled', detail: body.detail, retryAfter: Number(response.headers.get('Retry-After')) || undefined };
  }
  if (response.status === 422 && body.errors?.password) return { ok: false, reason: 'weak', detail: body.errors.password.join(' ') };
  if (response.status === 422) return { ok: false, reason: 'invalidLink', detail: body.detail };
  return { ok: false, reason: 'error', detail: body.detail };
}

/** The address whose password was just set, once (the sign-in form fills it in). */
export function takeHandedOverEmail(): string | null {
  const email = handedOver;
  handedOver = null;
  return email;
}

async function problemDetail(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { detail?: string };
    return body.detail;
  } catch {
    return undefined;
  }
}

/** For tests: reread the stored credentials. */
export function reloadForTests(): void {
  state = load();
}
