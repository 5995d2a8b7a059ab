/**
 * A list read through an opaque cursor, a page at a time, for the virtualised table: it keeps
 * what has been loaded, loads the next page when asked (never two at once), and ignores answers
 * that arrive after a reset (filters changed meanwhile).
 */
import type { Page } from './types';

export type PageFetcher<T> = (cursor: string | null, signal: AbortSignal) => Promise<Page<T>>;

export class CursorList<T extends { id: number }> {
  items: T[] = [];
  total: number | null = null;
  /** The total is a floor: the list holds at least that many. */
  totalCapped = false;
  error: unknown = null;
  private cursor: string | null = null;
  private started = false;
  private inflight: Promise<void> | null = null;
  private controller: AbortController | null = null;
  private generation = 0;

  constructor(
    private fetchPage: PageFetcher<T>,
    private onChange: () => void = () => {},
  ) {}

  /** True when every page has been loaded. */
  get done(): boolean {
    return this.started && this.cursor === null && this.inflight === null && this.error === null;
  }

  get loading(): boolean {
    return this.inflight !== null;
  }

  /** Load the next page (the first one after construction or a reset); a no-op when done or busy. */
  loadMore(): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.started && this.cursor === null) return Promise.resolve();
    const generation = this.generation;
    const controller = new AbortController();
    this.controller = controller;
    this.error = null;
    const run = async () => {
      try {
        const page = await this.fetchPage(this.started ? this.cursor : null, controller.signal);
        if (generation !== this.generation) return;
        const seen = new Set(this.items.map((item) => item.id));
        // a ticket that moved between pages while we read must not appear twice
        this.items = this.items.concat(page.items.filter((item) => !seen.has(item.id)));
        this.total = page.total;
        this.totalCapped = page.total_capped === true;
        this.cursor = page.next_cursor;
        this.started = true;
      } catch (error) {
        if (generation !== this.generation) return;
        if ((error as Error)?.name !== 'AbortError') this.error = error;
      } finally {
        if (generation === this.generation) {
          this.inflight = null;
          this.onChange();
        }
      }
    };
    this.inflight = run();
    this.onChange();
    return this.inflight;
  }

  /** Load pages until `index` is loaded or the list ends. */
  async ensure(index: number): Promise<void> {
    while (index >= this.items.length && !this.done && this.error === null) {
      await this.loadMore();
    }
  }

  /** Forget everything (new filters); a page still on its way is aborted and ignored. */
  reset(fetchPage?: PageFetcher<T>): void {
    this.generation += 1;
    this.controller?.abort();
    if (fetchPage) this.fetchPage = fetchPage;
    this.items = [];
    this.total = null;
    this.totalCapped = false;
    this.cursor = null;
    this.started = false;
    this.inflight = null;
    this.error = null;
    this.onChange();
  }

  /** Drop loaded items (deleted, merged away) without reloading; the total follows. */
  remove(ids: Iterable<number>): void {
    const gone = new Set(ids);
    const kept = this.items.filter((x) => !gone.has(x.id));
    if (kept.length === this.items.length) return;
    if (this.total !== null) this.total = Math.max(0, this.total - (this.items.length - kept.length));
    this.items = kept;
    this.onChange();
  }

  /** Apply `update` to every loaded item; items it answers null for stay as they are. */
  patch(update: (item: T) => T | null): void {
    let changed = false;
    const next = this.items.map((item) => {
      const updated = update(item);
      if (updated === null) return item;
      changed = true;
      return updated;
    });
    if (changed) {
      this.items = next;
      this.onChange();
    }
  }

  /** Replace one loaded item (after an edit) without reloading. */
  replace(item: T): void {
    const index = this.items.findIndex((x) => x.id === item.id);
    if (index >= 0) {
      this.items = this.items.slice();
      this.items[index] = item;
      this.onChange();
    }
  }
}
