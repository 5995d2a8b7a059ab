/**
 * The gateway's HTTP API as the workspace calls it: JSON in and out, RFC 9457 problems as
 * `ApiError`, ETags for `If-Match`, credentials from the `auth` module. Nothing else calls fetch.
 */
import { credentialsFor, credentialsRejected } from './auth';

export const API_BASE = '/api/v1';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Record<string, string[]>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.status = problem.status;
    this.problem = problem;
  }
  /** The message to show a person: the problem's detail, with field errors appended. */
  describe(): string {
    const fields = Object.entries(this.problem.errors ?? {}).map(([field, msgs]) => `${field}: ${msgs.join(', ')}`);
    return [this.message, ...fields].join(' — ');
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  ifMatch?: string;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  etag: string | null;
}

/** `path?query`, leaving out empty values; values are URL-encoded (cursors contain `+/=`). */
export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === '') continue;
    params.append(key, String(value));
  }
  const qs = params.toString();
  return `${API_BASE}${path}${qs ? `?${qs}` : ''}`;
}

/** A strong ETag for a version: `3` -> `"3"`. */
export function etagFor(version: number): string {
  return `"${version}"`;
}

let fetchImpl: typeof fetch = (...args) => fetch(...args);
export function setFetch(impl: typeof fetch): void {
  fetchImpl = impl;
}
/** The fetch every call goes through (the live stream reads with it too). */
export const apiFetch: typeof fetch = (...args) => fetchImpl(...args);

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const { headers, credentials } = credentialsFor(method);
  headers.Accept = 'application/json';
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  if (options.ifMatch) headers['If-Match'] = options.ifMatch;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  let response: Response;
  try {
    response = await fetchImpl(buildUrl(path, options.query), {
      method,
      headers,
      credentials,
      body,
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError({ type: 'about:blank', title: 'Network error', status: 0, detail: 'The help desk could not be reached.' });
  }
  const etag = response.headers.get('ETag');
  if (response.status === 204) return { data: undefined as T, status: 204, etag };
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const problem = toProblem(response.status, data);
    if (response.status === 401) credentialsRejected();
    throw new ApiError(problem);
  }
  return { data: data as T, status: response.status, etag };
}

function toProblem(status: number, data: unknown): Problem {
  if (data && typeof data === 'object' && 'status' in data) {
    const p = data as Partial<Problem>;
    return {
      type: p.type ?? 'about:blank',
      title: p.title ?? `HTTP ${status}`,
      status,
      detail: p.detail ?? p.title ?? '',
      errors: p.errors,
    };
  }
  return { type: 'about:blank', title: `HTTP ${status}`, status, detail: `The request failed (HTTP ${status}).` };
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }).then((r) => r.data),
  post: <T>(path: string, body?: unknown, options: RequestOptions = {}) =>
    request<T>('POST', path, { ...options, body }).then((r) => r.data),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }).then((r) => r.data),
  patch: <T>(path: string, body: unknown, options: RequestOptions = {}) =>
    request<T>('PATCH', path, { ...options, body }).then((r) => r.data),
  del: <T>(path: string) => request<T>('DELETE', path).then((r) => r.data),
};

/** A fresh Idempotency-Key for a create. */
export function newIdempotencyKey(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** Bytes the browser should open or download (an attachment, a print page), fetched with our credentials. */
export async function fetchBlob(path: string): Promise<Blob> {
  const { headers, credentials } = credentialsFor('GET');
  let response: Response;
  try {
    response = await fetchImpl(buildUrl(path), { headers, credentials });
  } catch {
    throw new ApiError({ type: 'about:blank', title: 'Network error', status: 0, detail: 'The help desk could not be reached.' });
  }
  if (!response.ok) {
    let data: unknown;
    try {
      data = await response.json();
    } catch {
      data = undefined;
    }
    if (response.status === 401) credentialsRejected();
    throw new ApiError(toProblem(response.status, data));
  }
  return response.blob();
}
