import { describe, expect, it } from 'vitest';
import { nearEnd, rowWindow, scrollToReveal } from './virtual';

describe('rowWindow', () => {
  it('renders only the rows in view plus overscan, whatever the length', () => {
    const w = rowWindow(360_000, 720, 36, 10_000, 8);
    expect(w.start).toBe(10_000 - 8);
    expect(w.end).toBe(10_000);
    const mid = rowWindow(36 * 5000, 720, 36, 10_000, 8);
    expect(mid.start).toBe(4992);
    expect(mid.end).toBe(5000 + 21 + 8);
    expect(mid.end - mid.start).toBeLessThan(40);
    expect(mid.padTop + (mid.end - mid.start) * 36 + mid.padBottom).toBe(10_000 * 36);
  });

  it('starts at the top and handles empty lists', () => {
    expect(rowWindow(0, 360, 36, 3)).toEqual({ start: 0, end: 3, padTop: 0, padBottom: 0 });
    expect(rowWindow(100, 360, 36, 0)).toEqual({ start: 0, end: 0, padTop: 0, padBottom: 0 });
  });
});

describe('scrollToReveal and nearEnd', () => {
  it('scrolls just enough to show a row above or below the viewport', () => {
    expect(scrollToReveal(10, 0, 360, 36)).toBe(36 * 11 - 360);
    expect(scrollToReveal(2, 200, 360, 36)).toBe(72);
    expect(scrollToReveal(6, 100, 360, 36)).toBeNull();
  });
  it('asks for the next page when the window nears the loaded end', () => {
    expect(nearEnd({ start: 60, end: 85, padTop: 0, padBottom: 0 }, 100)).toBe(true);
    expect(nearEnd({ start: 0, end: 30, padTop: 0, padBottom: 0 }, 100)).toBe(false);
  });
});
