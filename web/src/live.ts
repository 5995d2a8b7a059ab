/**
 * Live updates: `GET /api/v1/stream` (Server-Sent Events) read with fetch, so it carries the same
 * credentials as every other call (an API token goes as `Authorization`, which EventSource cannot
 * send; a session goes as its cookie). One connection per tab, opened while someone listens;
 * it reconnects with `Last-Event-ID` after a drop (backing off up to 30 s) and tells listeners to
 * reload on `reset`. Pages subscribe with `onLive` / `useLive`.
 */
import { useEffect, useRef } from 'preact/hooks';
import { API_BASE, apiFetch } from './api';
import { credentialsFor, onAuthChange } from './auth';

export interface LiveEvent {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

/**
 * An incremental `text/event-stream` parser: feed it chunks, it answers the complete events in
 * them (comments and events without data are skipped; `retry` is ignored).
 */
export class SseParser {
  private buffer = '';
  private dataLines: string[] = [];
  private event = '';
  private id: string | null = null;
  lastEventId: string | null = null;

  feed(chunk: string): LiveEvent[] {
    this.buffer += chunk;
    const out: LiveEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // a lone \r at the end may be half of \r\n: wait for more
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const done = this.line(line);
      if (done) out.push(done);
    }
    return out;
  }

  private line(line: string): LiveEvent | null {
    if (line === '') {
      if (this.id !== null) this.lastEventId = this.id;
      const lines = this.dataLines;
      const event = this.event || 'message';
      const id = this.id;
      this.dataLines = [];
      this.event = '';
      this.id = null;
      if (lines.length === 0) return null;
      let data: Record<string, unknown> = {};
      try {
        const parsed: unknown = JSON.parse(lines.join('\n'));
        if (parsed && typeof parsed === 'object') data = parsed as Record<string, unknown>;
      } catch {
        /* not JSON: an event with no data */
      }
      return { id, event, data };
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}

type Listener = (event: LiveEvent) => void;
const listeners = new Set<Listener>();
let controller: AbortController | null = null;
let lastEventId: string | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let failures = 0;

/** The wait before reconnect attempt `n` (1-based): 1 s, 2 s, 4 s ... at most 30 s. */
export function backoff(n: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, n - 1));
}

function emit(event: LiveEvent): void {
  listeners.forEach((fn) => {
    try {
      fn(event);
    } catch {
      /* one listener's fault is not the stream's */
    }
  });
}

async function connect(): Promise<void> {
  const mine = new AbortController();
  controller = mine;
  const { headers, credentials } = credentialsFor('GET');
  headers.Accept = 'text/event-stream';
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  try {
    const response = await apiFetch(`${API_BASE}/stream`, { headers, credentials, signal: mine.signal, cache: 'no-store' });
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      failures = 0;
      for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
        if (event.id) lastEventId = event.id;
        emit(event);
      }
    }
  } catch {
    /* dropped or refused: try again below */
  }
  if (controller !== mine || mine.signal.aborted) return;
  controller = null;
  failures += 1;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (listeners.size > 0 && controller === null) void connect();
  }, backoff(failures));
}

function disconnect(): void {
  controller?.abort();
  controller = null;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
}

/**
 * Open the stream once the page is idle (at most 1 s after the first listener): the first screen's
 * own requests go first, on a busy machine the stream's handshake would otherwise compete with them.
 */
function connectWhenIdle(): void {
  const idle = (globalThis as { requestIdleCallback?: (fn: () => void, opts: { timeout: number }) => number }).requestIdleCallback;
  const go = () => {
    retryTimer = null;
    if (listeners.size > 0 && controller === null) void connect();
  };
  retryTimer = setTimeout(() => (idle ? idle(go, { timeout: 1000 }) : go()), 0);
}

/** Listen to the stream (it opens with the first listener and closes after the last). */
export function onLive(fn: Listener): () => void {
  listeners.add(fn);
  if (controller === null && retryTimer === null) connectWhenIdle();
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0) disconnect();
  };
}

/** Another user signs in: a new stream, from the start. */
onAuthChange(() => {
  disconnect();
  lastEventId = null;
  failures = 0;
  if (listeners.size > 0) void connect();
});

/** `onLive` for a component's lifetime; the handler may change between renders. */
export function useLive(fn: Listener): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => onLive((event) => ref.current(event)), []);
}

/** The ticket id an event is about, if any. */
export function ticketIdOf(event: LiveEvent): number | null {
  const id = event.data.ticket_id;
  return typeof id === 'number' ? id : null;
}

/**
 * Ids of tickets an event takes out of lists: deleted, absorbed by a merge, purged, or out of the
 * reader's sight (`ticket_hidden`: reassigned to someone whose tickets they may not see).
 */
export function goneIds(event: LiveEvent): number[] {
  const d = event.data;
  const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []);
  switch (event.event) {
    case 'ticket_deleted':
    case 'ticket_hidden':
      return typeof d.ticket_id === 'number' ? [d.ticket_id] : [];
    case 'ticket_merged':
      return typeof d.merged_ticket_id === 'number' ? [d.merged_ticket_id] : [];
    case 'tickets_purged':
      return [...ids(d.ticket_ids), ...ids(d.absorbed_ticket_ids)];
    default:
      return [];
  }
}

/**
 * A loaded ticket with a `ticket_updated` event's changes applied (`changes`: field -> [old, new];
 * `version` the new version), or null when the event is not such an update or is older than what
 * we have.
 */
export function applyUpdate<T extends { id: number; version: number }>(ticket: T, event: LiveEvent): T | null {
  if (event.event !== 'ticket_updated' || ticketIdOf(event) !== ticket.id) return null;
  const version = typeof event.data.version === 'number' ? event.data.version : null;
  if (version !== null && version <= ticket.version) return null;
  const changes = (event.data.changes ?? {}) as Record<string, unknown>;
  const next: Record<string, unknown> = { ...ticket };
  for (const [field, pair] of Object.entries(changes)) {
    if (Array.isArray(pair) && pair.length === 2 && field in ticket) next[field] = pair[1];
  }
  if (version !== null) next.version = version;
  return next as T;
}
