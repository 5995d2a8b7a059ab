// Reference data the pages share (pipelines, people, the caller), loaded once and refreshed on demand.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { allPages, people, pipelines as pipelineApi, savedViews } from './endpoints';
import { t } from './i18n';
import type { Permission, Pipeline, SavedView, Stage, Team, User } from './types';

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; answers of superseded runs are dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  });
  const run = useRef(0);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const mine = ++run.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => mine === run.current && setState({ data, error: null, loading: false }),
      (error) => mine === run.current && setState({ data: undefined, error, loading: false }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

class Shared<T> {
  value: T | undefined;
  error: unknown = null;
  private pending: Promise<T> | null = null;
  private listeners = new Set<() => void>();
  constructor(private loader: () => Promise<T>) {}
  load(force = false): Promise<T> {
    if (!force && this.value !== undefined) return Promise.resolve(this.value);
    if (!force && this.pending) return this.pending;
    const pending = this.loader().then(
      (value) => {
        this.value = value;
        this.error = null;
        this.pending = null;
        this.listeners.forEach((fn) => fn());
        return value;
      },
      (error) => {
        this.error = error;
        this.pending = null;
        this.listeners.forEach((fn) => fn());
        throw error;
      },
    );
    this.pending = pending;
    return pending;
  }
  set(value: T): void {
    this.value = value;
    this.listeners.forEach((fn) => fn());
  }
  clear(): void {
    this.value = undefined;
    this.error = null;
    this.pending = null;
  }
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

function useShared<T>(shared: Shared<T>, enabled = true): T | undefined {
  const [, force] = useState(0);
  useEffect(() => {
    const off = shared.subscribe(() => force((n) => n + 1));
    if (enabled) shared.load().catch(() => {});
    return off;
  }, [shared, enabled]);
  return enabled ? shared.value : undefined;
}

export const pipelinesData = new Shared<Pipeline[]>(() => pipelineApi.list());
export const meData = new Shared<User>(() => people.me());
/** Everyone the caller may list (account access); without it, just the caller. */
export const usersData = new Shared<User[]>(async () => {
  try {
    return await allPages((cursor) => people.users({ limit: 100, cursor, sort: 'name' }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return [await meData.load()];
    throw error;
  }
});
export const teamsData = new Shared<Team[]>(() => allPages((cursor) => people.teams({ limit: 100, cursor, sort: 'name' })));

/** The saved views the caller may use (seat holders only: load it behind `hasSeat`). */
export const viewsData = new Shared<SavedView[]>(() => allPages((cursor) => savedViews.list(cursor)));

export const usePipelines = () => useShared(pipelinesData);
export const useMe = () => useShared(meData);
export const useUsers = () => useShared(usersData);
export const useTeams = () => useShared(teamsData);
export const useViews = (enabled = true) => useShared(viewsData, enabled);

export function clearSharedData(): void {
  [pipelinesData, meData, usersData, teamsData, viewsData].forEach((s) => (s as Shared<unknown>).clear());
}

export function stageById(all: Pipeline[] | undefined): Map<number, Stage & { pipeline_id: number }> {
  const map = new Map<number, Stage & { pipeline_id: number }>();
  for (const p of all ?? []) for (const s of p.stages) map.set(s.id, { ...s, pipeline_id: p.id });
  return map;
}

export function userName(users: User[] | undefined, id: number | null | undefined): string {
  if (id === null || id === undefined) return t('filters.unassigned');
  return users?.find((u) => u.id === id)?.name ?? t('app.unknownUser', { id });
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether the signed-in user holds any of these permissions (a super admin holds them all). Only
 * decides what is offered; the gateway decides what is allowed. Unknown user: offered.
 */
export function can(me: User | undefined, ...permissions: Permission[]): boolean {
  const held = me?.permissions;
  if (!Array.isArray(held)) return true;
  return held.includes('super_admin') || permissions.some((p) => held.includes(p));
}

/**
 * Whether the signed-in user has a service seat (super admins always do), so seat features
 * (saved views, SLAs) are offered. Like `can`, it only decides what is offered; unknown user: no,
 * since offering a seat feature to someone without one would only end in a 403.
 */
export function hasSeat(me: User | undefined): boolean {
  return !!me && (me.seat || (Array.isArray(me.permissions) && me.permissions.includes('super_admin')));
}
