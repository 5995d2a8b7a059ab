/**
 * Keyboard shortcuts: single keys (Gmail style) that work anywhere on a page except while the
 * user types in a field. Each page registers its own with `useShortcuts`; `?` lists them.
 */
import { useEffect, useRef } from 'preact/hooks';

export interface Shortcut {
  key: string; // as KeyboardEvent.key, with a 'Shift+' prefix for shifted non-character keys
  run: (event: KeyboardEvent) => void;
}

/** True when keys typed at this element belong to it (text fields, selects, editable content). */
export function isTypingTarget(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') {
    const type = (el as HTMLInputElement).type;
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color'].includes(type);
  }
  return el.isContentEditable === true;
}

/** True for elements that Enter or Space activate (links, buttons, checkboxes...). */
export function isActivatable(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toLowerCase();
  return ['a', 'button', 'input', 'select', 'textarea', 'summary'].includes(tag) || el.getAttribute('role') === 'button';
}

/** The shortcut name for an event, or null when the event is not a shortcut. */
export function shortcutKey(event: KeyboardEvent): string | null {
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return null;
  if (event.key !== 'Escape' && isTypingTarget(event.target)) return null;
  if ((event.key === 'Enter' || event.key === ' ') && isActivatable(event.target)) return null;
  const named = event.key.length > 1; // ArrowLeft, Enter, Escape...
  return event.shiftKey && named ? `Shift+${event.key}` : event.key;
}

/** Find and run the shortcut for an event; true when one ran (its default is then prevented). */
export function dispatchShortcut(event: KeyboardEvent, shortcuts: Shortcut[]): boolean {
  const key = shortcutKey(event);
  if (key === null) return false;
  const match = shortcuts.find((s) => s.key === key);
  if (!match) return false;
  event.preventDefault();
  match.run(event);
  return true;
}

/** The next index when moving by `delta` in a list of `count` (clamped; -1 when empty). */
export function moveIndex(index: number, delta: number, count: number): number {
  if (count <= 0) return -1;
  if (index < 0) return delta > 0 ? 0 : count - 1;
  return Math.max(0, Math.min(count - 1, index + delta));
}

/** Registers shortcuts on the document for as long as the component is mounted. */
export function useShortcuts(shortcuts: Shortcut[]): void {
  const ref = useRef(shortcuts);
  ref.current = shortcuts;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented) return;
      // while a modal dialog is open, keys belong to it (the browser handles Escape)
      if (document.querySelector('dialog[open]')) return;
      dispatchShortcut(event, ref.current);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}
