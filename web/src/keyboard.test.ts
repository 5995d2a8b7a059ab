import { describe, expect, it, vi } from 'vitest';
import { dispatchShortcut, isTypingTarget, moveIndex, shortcutKey } from './keyboard';

function key(init: KeyboardEventInit, target?: HTMLElement): KeyboardEvent {
  const event = new KeyboardEvent('keydown', { ...init, bubbles: true, cancelable: true });
  if (target) Object.defineProperty(event, 'target', { value: target });
  return event;
}

describe('shortcuts', () => {
  it('are ignored while typing in fields, except Escape', () => {
    const input = document.createElement('input');
    const textarea = document.createElement('textarea');
    const checkbox = Object.assign(document.createElement('input'), { type: 'checkbox' });
    expect(isTypingTarget(input)).toBe(true);
    expect(isTypingTarget(textarea)).toBe(true);
    expect(isTypingTarget(checkbox)).toBe(false);
    expect(shortcutKey(key({ key: 'j' }, input))).toBeNull();
    expect(shortcutKey(key({ key: 'Escape' }, input))).toBe('Escape');
    expect(shortcutKey(key({ key: 'j' }, document.body))).toBe('j');
  });

  it('leave modified keys to the browser and name shifted named keys', () => {
    expect(shortcutKey(key({ key: 'k', ctrlKey: true }, document.body))).toBeNull();
    expect(shortcutKey(key({ key: 'r', metaKey: true }, document.body))).toBeNull();
    expect(shortcutKey(key({ key: 'ArrowRight', shiftKey: true }, document.body))).toBe('Shift+ArrowRight');
    expect(shortcutKey(key({ key: '?', shiftKey: true }, document.body))).toBe('?');
  });

  it('never steal Enter from a focused button or link', () => {
    const button = document.createElement('button');
    expect(shortcutKey(key({ key: 'Enter' }, button))).toBeNull();
    expect(shortcutKey(key({ key: 'Enter' }, document.body))).toBe('Enter');
  });

  it('run the matching handler and prevent the default', () => {
    const run = vi.fn();
    const event = key({ key: 'j' }, document.body);
    expect(dispatchShortcut(event, [{ key: 'k', run: () => {} }, { key: 'j', run }])).toBe(true);
    expect(run).toHaveBeenCalledOnce();
    expect(event.defaultPrevented).toBe(true);
    expect(dispatchShortcut(key({ key: 'z' }, document.body), [{ key: 'j', run }])).toBe(false);
  });

  it('move j/k within the list, clamped at both ends', () => {
    expect(moveIndex(-1, 1, 5)).toBe(0);
    expect(moveIndex(-1, -1, 5)).toBe(4);
    expect(moveIndex(4, 1, 5)).toBe(4);
    expect(moveIndex(0, -1, 5)).toBe(0);
    expect(moveIndex(2, 1, 5)).toBe(3);
    expect(moveIndex(0, 1, 0)).toBe(-1);
  });
});
