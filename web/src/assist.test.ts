import { describe, expect, it } from 'vitest';
import { insertAt, listKey, relativeScore, ticketChoices, ticketNumber } from './assist';
import type { Ticket } from './types';

describe('keys of a list of choices', () => {
  it('arrows move and wrap, Enter and Tab pick the highlighted one, Escape closes', () => {
    expect(listKey('ArrowDown', -1, 3)).toEqual({ move: 0 });
    expect(listKey('ArrowDown', 2, 3)).toEqual({ move: 0 });
    expect(listKey('ArrowUp', 0, 3)).toEqual({ move: 2 });
    expect(listKey('ArrowUp', -1, 3)).toEqual({ move: 2 });
    expect(listKey('Enter', 1, 3)).toEqual({ pick: 1 });
    expect(listKey('Tab', 0, 3)).toEqual({ pick: 0 });
    expect(listKey('Escape', 0, 3)).toEqual({ close: true });
  });

  it('leaves other keys, and Enter with nothing highlighted, to the field', () => {
    expect(listKey('a', 0, 3)).toBeNull();
    expect(listKey('Enter', -1, 3)).toBeNull();
    expect(listKey('ArrowDown', -1, 0)).toBeNull();
    expect(listKey('Escape', -1, 0)).toEqual({ close: true });
  });
});

describe('inserting a recommended reply', () => {
  it('fills an empty composer', () => {
    expect(insertAt('', 0, 0, ' Try restarting. \n')).toEqual({ text: 'Try restarting.', caret: 15 });
  });

  it('goes at the caret, set off by blank lines, replacing a selection', () => {
    expect(insertAt('Hello,\nBye', 7, 7, 'Body')).toEqual({ text: 'Hello,\n\nBody\n\nBye', caret: 12 });
    expect(insertAt('Hello, OLD bye', 7, 11, 'NEW')).toEqual({ text: 'Hello,\n\nNEW\n\nbye', caret: 11 });
    expect(insertAt('Hello,', 6, 6, 'Body')).toEqual({ text: 'Hello,\n\nBody', caret: 12 });
  });
});

describe('the ticket picker', () => {
  const ticket = (id: number) => ({ id, name: `T${id}` }) as Ticket;

  it('reads a ticket number with or without #', () => {
    expect(ticketNumber(' #42 ')).toBe(42);
    expect(ticketNumber('42')).toBe(42);
    for (const typed of ['', 'printer', '0', '4.2', '#', '1234567890123']) expect(ticketNumber(typed)).toBeNull();
  });

  it('offers the numbered ticket first, then the matches, each once, up to the limit', () => {
    expect(ticketChoices(ticket(5), [ticket(7), ticket(5), ticket(9)]).map((t) => t.id)).toEqual([5, 7, 9]);
    expect(ticketChoices(null, [ticket(7)]).map((t) => t.id)).toEqual([7]);
    expect(ticketChoices(null, Array.from({ length: 20 }, (_, i) => ticket(i + 1)))).toHaveLength(8);
  });
});

describe('scores', () => {
  it('are shown relative to the best in the answer', () => {
    expect(relativeScore(4, 4)).toBe(100);
    expect(relativeScore(1, 4)).toBe(25);
    expect(relativeScore(1, 0)).toBe(0);
    expect(relativeScore(-1, 4)).toBe(0);
  });
});
