import { describe, expect, it } from 'vitest';
import { applyUpdate, backoff, goneIds, SseParser } from './live';

describe('SseParser', () => {
  it('parses events split across chunks, skips comments, keeps the last id', () => {
    const p = new SseParser();
    expect(p.feed(': keepalive\n\nid: 1-1\nevent: hello\nda')).toEqual([]);
    const events = p.feed('ta: {"unread": 3}\n\nid: 1-2\r\nevent: ticket_updated\r\ndata: {"ticket_id": 7,\r\ndata: "version": 2}\r\n\r\n');
    expect(events).toEqual([
      { id: '1-1', event: 'hello', data: { unread: 3 } },
      { id: '1-2', event: 'ticket_updated', data: { ticket_id: 7, version: 2 } },
    ]);
    expect(p.lastEventId).toBe('1-2');
  });

  it('waits for the \\n of a \\r\\n split between chunks', () => {
    const p = new SseParser();
    expect(p.feed('event: reset\r')).toEqual([]);
    expect(p.feed('\ndata: {}\r\n\r\n')).toEqual([{ id: null, event: 'reset', data: {} }]);
  });
});

describe('live helpers', () => {
  const ticket = { id: 7, version: 2, priority: 'low', owner_id: null as number | null };

  it('apply a newer update in place and ignore older or other tickets', () => {
    const ev = (version: number, id = 7) => ({
      id: null,
      event: 'ticket_updated',
      data: { ticket_id: id, version, changes: { priority: ['low', 'urgent'], owner_id: [null, 4], nope: [1, 2] } },
    });
    expect(applyUpdate(ticket, ev(3))).toEqual({ id: 7, version: 3, priority: 'urgent', owner_id: 4 });
    expect(applyUpdate(ticket, ev(2))).toBeNull();
    expect(applyUpdate(ticket, ev(3, 8))).toBeNull();
  });

  it('name the tickets that leave lists', () => {
    expect(goneIds({ id: null, event: 'ticket_deleted', data: { ticket_id: 4 } })).toEqual([4]);
    expect(goneIds({ id: null, event: 'ticket_merged', data: { ticket_id: 4, merged_ticket_id: 5 } })).toEqual([5]);
    expect(goneIds({ id: null, event: 'tickets_purged', data: { ticket_ids: [1], absorbed_ticket_ids: [2] } })).toEqual([1, 2]);
    expect(goneIds({ id: null, event: 'ticket_hidden', data: { type: 'ticket_hidden', ticket_id: 6 } })).toEqual([6]);
    expect(goneIds({ id: null, event: 'ticket_updated', data: { ticket_id: 4 } })).toEqual([]);
  });

  it('back off to at most 30 seconds', () => {
    expect([1, 2, 3, 10].map(backoff)).toEqual([1000, 2000, 4000, 30000]);
  });
});
