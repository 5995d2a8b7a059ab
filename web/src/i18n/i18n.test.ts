import { describe, expect, it } from 'vitest';
import { en } from './en';
import { detectLanguage, formatDateTime, localeFor, translate } from './index';
import { pl } from './pl';

const placeholders = (value: unknown): string[] =>
  [...new Set(JSON.stringify(value).match(/\{\w+\}/g) ?? [])].sort();

describe('language', () => {
  it('comes from the stored choice, else the browser, else English', () => {
    expect(detectLanguage('pl', ['en-US'])).toBe('pl');
    expect(detectLanguage(null, ['de-DE', 'pl-PL', 'en'])).toBe('pl');
    expect(detectLanguage(null, ['en-GB'])).toBe('en');
    expect(detectLanguage('xx', ['fr-FR'])).toBe('en');
  });

  it('formats with the most specific browser locale of that language', () => {
    expect(localeFor('en', ['pl-PL', 'en-GB'])).toBe('en-GB');
    expect(localeFor('pl', ['en-US'])).toBe('pl');
  });
});

describe('dictionaries', () => {
  it('Polish has every English key with the same placeholders', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(pl[key], key).toBeDefined();
      expect(placeholders(pl[key]), key).toEqual(placeholders(en[key]));
    }
    expect(Object.keys(pl).sort()).toEqual(Object.keys(en).sort());
  });

  it('Polish plurals pick one, few and many', () => {
    expect(translate('pl', 'table.count', { count: 1 })).toBe('1 zgłoszenie');
    expect(translate('pl', 'table.count', { count: 3 })).toBe('3 zgłoszenia');
    expect(translate('pl', 'table.count', { count: 5 })).toBe('5 zgłoszeń');
    expect(translate('pl', 'table.count', { count: 22 })).toBe('22 zgłoszenia');
    expect(translate('pl', 'table.count', { count: 12 })).toBe('12 zgłoszeń');
    expect(translate('en', 'table.count', { count: 1 })).toBe('1 ticket');
    expect(translate('en', 'table.count', { count: 10000 })).toMatch(/^10.000 tickets$/);
  });

  it('fills placeholders and leaves unknown ones', () => {
    expect(translate('en', 'ticket.open', { id: 12 })).toBe('Open ticket #12');
    expect(translate('pl', 'ticket.open', {})).toBe('Otwórz zgłoszenie #{id}');
  });
});

describe('dates', () => {
  it('use the given time zone and the language', () => {
    const iso = '2026-03-01T23:30:00+00:00';
    const warsaw = formatDateTime(iso, 'pl', 'Europe/Warsaw');
    const utc = formatDateTime(iso, 'en', 'UTC');
    expect(warsaw).toMatch(/2 mar 2026/);
    expect(warsaw).toMatch(/00:30/);
    expect(utc).toMatch(/2026/);
    expect(utc).toMatch(/11:30|23:30/);
    expect(formatDateTime(null)).toBe('');
    expect(formatDateTime('not a date')).toBe('not a date');
  });
});
