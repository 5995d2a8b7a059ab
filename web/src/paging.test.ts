import { describe, expect, it } from 'vitest';
import { CursorList } from './paging';
import type { Page } from './types';

type Item = { id: number };

function pages(total: number, size: number) {
  const seen: (string | null)[] = [];
  const fetchPage = async (cursor: string | null): Promise<Page<Item>> => {
    seen.push(cursor);
    const start = cursor ? Number(atob(cursor)) : 0;
    const items = Array.from({ length: Math.min(size, total - start) }, (_, i) => ({ id: total - (start + i) }));
    const next = start + size < total ? btoa(String(start + size)) : null;
    return { items, next_cursor: next, total };
  };
  return { fetchPage, seen };
}

describe('CursorList', () => {
  it('reads page after page with the opaque cursor until next_cursor is null', async () => {
    const { fetchPage, seen } = pages(250, 100);
    const list = new CursorList<Item>(fetchPage);
    await list.loadMore();
    expect(list.items).toHaveLength(100);
    expect(list.total).toBe(250);
    expect(list.done).toBe(false);
    await list.ensure(240);
    expect(list.items).toHaveLength(250);
    expect(list.done).toBe(true);
    expect(seen).toEqual([null, btoa('100'), btoa('200')]);
    await list.loadMore(); // nothing more to read
    expect(seen).toHaveLength(3);
  });

  it('knows when the total is a floor (the gateway counts up to 1,000)', async () => {
    const capped = async (): Promise<Page<Item>> => ({ items: [{ id: 1 }], next_cursor: 'x', total: 1000, total_capped: true });
    const list = new CursorList<Item>(capped);
    await list.loadMore();
    expect(list.total).toBe(1000);
    expect(list.totalCapped).toBe(true);
    list.reset(pages(3, 10).fetchPage);
    expect(list.totalCapped).toBe(false);
    await list.loadMore();
    expect(list.totalCapped).toBe(false);
  });

  it('never runs two loads at once', async () => {
    const { fetchPage, seen } = pages(300, 100);
    const list = new CursorList<Item>(fetchPage);
    await Promise.all([list.loadMore(), list.loadMore(), list.loadMore()]);
    expect(seen).toEqual([null]);
  });

  it('drops a duplicate when a ticket moved between pages while reading', async () => {
    let call = 0;
    const list = new CursorList<Item>(async () => {
      call += 1;
      return call === 1
        ? { items: [{ id: 5 }, { id: 4 }], next_cursor: 'c', total: 4 }
        : { items: [{ id: 4 }, { id: 3 }, { id: 2 }], next_cursor: null, total: 4 };
    });
    await list.ensure(10);
    expect(list.items.map((x) => x.id)).toEqual([5, 4, 3, 2]);
  });

  it('ignores an answer that arrives after a reset (filters changed meanwhile)', async () => {
    let release!: (page: Page<Item>) => void;
    const slow = () => new Promise<Page<Item>>((resolve) => (release = resolve));
    const list = new CursorList<Item>(slow);
    const first = list.loadMore();
    list.reset(async () => ({ items: [{ id: 99 }], next_cursor: null, total: 1 }));
    await list.loadMore();
    release({ items: [{ id: 1 }, { id: 2 }], next_cursor: 'x', total: 2 });
    await first;
    expect(list.items).toEqual([{ id: 99 }]);
    expect(list.total).toBe(1);
  });

  it('keeps the error and retries on the next loadMore', async () => {
    let fail = true;
    const list = new CursorList<Item>(async () => {
      if (fail) throw new Error('boom');
      return { items: [{ id: 1 }], next_cursor: null, total: 1 };
    });
    await list.loadMore();
    expect(list.error).toBeInstanceOf(Error);
    expect(list.done).toBe(false);
    fail = false;
    await list.loadMore();
    expect(list.error).toBeNull();
    expect(list.items).toEqual([{ id: 1 }]);
  });

  it('replace swaps an edited item in place', async () => {
    const list = new CursorList<{ id: number; v: number }>(async () => ({ items: [{ id: 1, v: 1 }, { id: 2, v: 1 }], next_cursor: null, total: 2 }));
    await list.loadMore();
    list.replace({ id: 2, v: 7 });
    expect(list.items).toEqual([{ id: 1, v: 1 }, { id: 2, v: 7 }]);
  });
});

describe('CursorList edits in place', () => {
  it('removes items and lowers the total; patches only what the update answers', async () => {
    const list = new CursorList<{ id: number; v: number }>(async () => ({
      items: [
        { id: 1, v: 1 },
        { id: 2, v: 1 },
        { id: 3, v: 1 },
      ],
      next_cursor: null,
      total: 3,
    }));
    await list.loadMore();
    list.remove([2, 9]);
    expect(list.items.map((x) => x.id)).toEqual([1, 3]);
    expect(list.total).toBe(2);
    list.patch((x) => (x.id === 3 ? { ...x, v: 2 } : null));
    expect(list.items).toEqual([
      { id: 1, v: 1 },
      { id: 3, v: 2 },
    ]);
  });
});
