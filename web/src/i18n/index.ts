/**
 * Interface language (English, Polish) and locale-aware dates.
 *
 * The language comes from the user's choice (localStorage), else the browser's preferred
 * languages, else English; it can be switched at any time. Dates use the browser's time zone and
 * the most specific browser locale of the chosen language (en-GB, pl-PL...).
 */
import { en, type MessageKey } from './en';
import { pl } from './pl';

export type Lang = 'en' | 'pl';
export const LANGUAGES: { code: Lang; name: string }[] = [
  { code: 'en', name: 'English' },
  { code: 'pl', name: 'Polski' },
];
export type PluralForms = { zero?: string; one?: string; two?: string; few?: string; many?: string; other: string };
export type Messages = { [K in MessageKey]: string | PluralForms };
export type { MessageKey };

const dictionaries: Record<Lang, Messages> = { en, pl };
export const LANG_KEY = 'helpdesk.lang';

function browserLanguages(): readonly string[] {
  if (typeof navigator === 'undefined') return [];
  return navigator.languages?.length ? navigator.languages : [navigator.language].filter(Boolean);
}

/** The language to use: the stored choice, else the first supported browser language, else en. */
export function detectLanguage(stored: string | null, preferred: readonly string[]): Lang {
  if (stored === 'en' || stored === 'pl') return stored;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'en' || base === 'pl') return base;
  }
  return 'en';
}

function storedChoice(): string | null {
  try {
    return globalThis.localStorage?.getItem(LANG_KEY) ?? null;
  } catch {
    return null;
  }
}

let current: Lang = detectLanguage(storedChoice(), browserLanguages());
const listeners = new Set<(lang: Lang) => void>();

export function getLanguage(): Lang {
  return current;
}

export function setLanguage(lang: Lang, remember = true): void {
  current = lang;
  if (remember) {
    try {
      globalThis.localStorage?.setItem(LANG_KEY, lang);
    } catch {
      /* private mode: the choice lasts for this page only */
    }
  }
  if (typeof document !== 'undefined') document.documentElement.lang = lang;
  listeners.forEach((fn) => fn(lang));
}

export function onLanguageChange(fn: (lang: Lang) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The formatting locale: the most specific browser locale of the chosen language. */
export function localeFor(lang: Lang, preferred: readonly string[] = browserLanguages()): string {
  return preferred.find((tag) => tag.toLowerCase().split('-')[0] === lang) ?? lang;
}

export type Params = Record<string, string | number>;

function interpolate(text: string, params?: Params): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

const pluralRules = new Map<string, Intl.PluralRules>();

/** Translate `key` into `lang` (default: the current language); `{name}` takes params.name. */
export function translate(lang: Lang, key: MessageKey, params?: Params): string {
  const entry = dictionaries[lang][key] ?? dictionaries.en[key] ?? key;
  if (typeof entry === 'string') return interpolate(entry, params);
  const count = Number(params?.count ?? 0);
  let rules = pluralRules.get(lang);
  if (!rules) {
    rules = new Intl.PluralRules(lang);
    pluralRules.set(lang, rules);
  }
  const form = entry[rules.select(count) as keyof PluralForms] ?? entry.other;
  return interpolate(form, { ...params, count: formatNumber(count, lang) });
}

export function t(key: MessageKey, params?: Params): string {
  return translate(current, key, params);
}

export function formatNumber(value: number, lang: Lang = current): string {
  return new Intl.NumberFormat(localeFor(lang)).format(value);
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** A timestamp in the user's locale and time zone (`timeZone` for tests). */
export function formatDateTime(iso: string | null | undefined, lang: Lang = current, timeZone?: string): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const locale = localeFor(lang);
  const cacheKey = `${locale}|${timeZone ?? ''}`;
  let format = dateFormats.get(cacheKey);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone });
    dateFormats.set(cacheKey, format);
  }
  return format.format(date);
}

const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();

/** "5 minutes ago" in the current language, for recent times; else the full date. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now(), lang: Lang = current): string {
  if (!iso) return '';
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  const locale = localeFor(lang);
  let rtf = relativeFormats.get(locale);
  if (!rtf) {
    rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    relativeFormats.set(locale, rtf);
  }
  if (abs < 60) return rtf.format(seconds, 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  if (abs < 7 * 86400) return rtf.format(Math.round(seconds / 86400), 'day');
  return formatDateTime(iso, lang);
}
