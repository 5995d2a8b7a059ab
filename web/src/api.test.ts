import { beforeEach, describe, expect, it } from 'vitest';
import { ApiError, buildUrl, etagFor, request, setFetch } from './api';
import * as auth from './auth';
import { tickets } from './endpoints';
import { fakeFetch, jsonResponse } from './test-helpers';

beforeEach(async () => {
  sessionStorage.clear();
  auth.reloadForTests();
  await auth.signInWithToken('tok', fakeFetch(() => jsonResponse(200, {})).fetch);
});

describe('buildUrl', () => {
  it('URL-encodes values (cursors contain +/=) and leaves out empty ones', () => {
    expect(buildUrl('/tickets', { cursor: 'a+b/c==', q: 'paczka zielona', owner_id: null, view: '', limit: 100 })).toBe(
      '/api/v1/tickets?cursor=a%2Bb%2Fc%3D%3D&q=paczka+zielona&limit=100',
    );
    expect(buildUrl('/me')).toBe('/api/v1/me');
  });
});

describe('request', () => {
  it('sends credentials, JSON and If-Match, and returns the ETag', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, { id: 3, version: 5 }, { ETag: '"5"' }));
    setFetch(fetch);
    const answer = await request('PATCH', '/tickets/3', { body: { priority: 'high' }, ifMatch: etagFor(4) });
    expect(answer).toEqual({ data: { id: 3, version: 5 }, status: 200, etag: '"5"' });
    expect(calls[0].headers).toMatchObject({
      Authorization: 'Bearer tok',
      'Content-Type': 'application/json',
      'If-Match': '"4"',
      Accept: 'application/json',
    });
    expect(calls[0].body).toEqual({ priority: 'high' });
  });

  it('turns problem+json into ApiError with field errors', async () => {
    setFetch(
      fakeFetch(() =>
        jsonResponse(422, { type: 'https://x/validation', title: 'Invalid', status: 422, detail: 'Bad body', errors: { priority: ['not one of low, medium'] } }),
      ).fetch,
    );
    const error = await request('POST', '/tickets', { body: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.problem.errors).toEqual({ priority: ['not one of low, medium'] });
    expect(error.describe()).toBe('Bad body — priority: not one of low, medium');
  });

  it('a stale If-Match answers 412 and the update rejects with it', async () => {
    setFetch(fakeFetch(() => jsonResponse(412, { type: 'x', title: 'Precondition failed', status: 412, detail: 'stale' })).fetch);
    const error = await tickets.update({ id: 7, version: 2 }, { status: 3 }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(412);
  });

  it('a 401 signs the user out', async () => {
    setFetch(fakeFetch(() => jsonResponse(401, { type: 'x', title: 'Unauthenticated', status: 401, detail: 'revoked' })).fetch);
    await expect(request('GET', '/me')).rejects.toBeInstanceOf(ApiError);
    expect(auth.isSignedIn()).toBe(false);
  });

  it('a network failure is an ApiError with status 0; 204 has no data', async () => {
    setFetch((() => Promise.reject(new TypeError('Failed to fetch'))) as typeof fetch);
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 0 });
    setFetch(fakeFetch(() => new Response(null, { status: 204 })).fetch);
    expect(await request('DELETE', '/tokens/1')).toEqual({ data: undefined, status: 204, etag: null });
  });

  it('a non-JSON error body still gives a problem', async () => {
    setFetch(fakeFetch(() => new Response('<html>bad gateway</html>', { status: 502 })).fetch);
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 502, problem: { title: 'HTTP 502' } });
  });
});
