/**
 * The logic behind the workspace's assistance controls, kept out of the components so it can be
 * tested alone: keys of a pop-up list of choices (mentions, the ticket picker), putting a
 * recommended reply into the composer, and the choices the ticket picker offers.
 */
import type { Ticket } from './types';

/** What a key does in an open list of `count` choices, `active` being the highlighted one (-1: none). */
export type ListKey = { move: number } | { pick: number } | { close: true } | null;

/**
 * Arrows move the highlight (wrapping), Enter and Tab pick the highlighted choice, Escape closes
 * the list; anything else belongs to the text field. Enter or Tab with nothing highlighted is the
 * field's own (a newline, the next field).
 */
export function listKey(key: string, active: number, count: number): ListKey {
  if (count <= 0) return key === 'Escape' ? { close: true } : null;
  switch (key) {
    case 'ArrowDown':
      return { move: active < 0 ? 0 : (active + 1) % count };
    case 'ArrowUp':
      return { move: active <= 0 ? count - 1 : active - 1 };
    case 'Enter':
    case 'Tab':
      return active >= 0 && active < count ? { pick: active } : null;
    case 'Escape':
      return { close: true };
    default:
      return null;
  }
}

/**
 * `snippet` put into `text` in place of the selection `[start, end)`, set off from what is before
 * and after by a blank line; the caret goes after it. An empty composer simply gets the snippet.
 */
export function insertAt(text: string, start: number, end: number, snippet: string): { text: string; caret: number } {
  const before = text.slice(0, start).replace(/\s+$/, '');
  const after = text.slice(end).replace(/^\s+/, '');
  const head = before ? `${before}\n\n` : '';
  const body = snippet.trim();
  const tail = after ? `\n\n${after}` : '';
  return { text: head + body + tail, caret: head.length + body.length };
}

/** A ticket number as typed (`42`, `#42`), or null when the text is not one. */
export function ticketNumber(text: string): number | null {
  const typed = text.trim().replace(/^#/, '');
  return /^[1-9]\d{0,11}$/.test(typed) ? Number(typed) : null;
}

/**
 * What the ticket picker offers: the ticket whose number was typed (when it exists) first, then
 * the text search's matches, each ticket once, at most `limit`.
 */
export function ticketChoices(byNumber: Ticket | null, found: Ticket[], limit = 8): Ticket[] {
  const all = byNumber ? [byNumber, ...found.filter((t) => t.id !== byNumber.id)] : found;
  return all.slice(0, limit);
}

/** A relevance score as a share of the best one in the same answer (0-100), for ordering at a glance. */
export function relativeScore(score: number, best: number): number {
  if (!(best > 0) || !(score > 0)) return 0;
  return Math.round(Math.min(1, score / best) * 100);
}
