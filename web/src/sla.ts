/**
 * SLA policies as the admin form edits them. Business hours are typed as lines such as
 * `mon-fri 09:00-17:00` or `sat 10:00-14:00 15:00-18:00` (a day, or a range of days, then one or
 * more openings), the way people write opening hours; holidays as dates. The gateway checks the
 * rest (time zone, overlaps) and answers 422 with the field.
 */
import type { MessageKey } from './i18n';
import { WEEKDAYS, type BusinessHours, type Opening, type Priority, type SlaPolicy, type SlaPolicyFields, type Weekday } from './types';

export const MAX_GOAL_MINUTES = 366 * 24 * 60;

const CLOCK = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/;

/** Openings from lines of "day[-day] HH:MM-HH:MM ..."; lines that say something else are returned as `bad`. */
export function parseOpenings(text: string): { weekly: Opening[]; bad: string[] } {
  const weekly: Opening[] = [];
  const bad: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim().toLowerCase();
    if (!line) continue;
    const [dayPart, ...spans] = line.split(/[\s,]+/);
    const days = dayRange(dayPart);
    const parsed = spans.map((span) => /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(span));
    if (!days || spans.length === 0 || parsed.some((m) => !m || !CLOCK.test(pad(m[1])) || !CLOCK.test(pad(m[2])))) {
      bad.push(raw.trim());
      continue;
    }
    for (const day of days) for (const m of parsed) weekly.push({ day, start: pad(m![1]), end: pad(m![2]) });
  }
  return { weekly, bad };
}

function pad(clock: string): string {
  return clock.length === 4 ? `0${clock}` : clock;
}

function dayRange(text: string): Weekday[] | null {
  const [from, to] = text.split(/[-–]/);
  const start = WEEKDAYS.indexOf(from as Weekday);
  const end = to === undefined ? start : WEEKDAYS.indexOf(to as Weekday);
  if (start < 0 || end < start) return null;
  return WEEKDAYS.slice(start, end + 1);
}

/** Openings as lines, consecutive days with the same hours joined: "mon-fri 09:00-17:00". */
export function formatOpenings(weekly: Opening[]): string[] {
  const byDay = WEEKDAYS.map((day) =>
    weekly
      .filter((o) => o.day === day)
      .sort((a, b) => a.start.localeCompare(b.start))
      .map((o) => `${o.start}-${o.end}`)
      .join(' '),
  );
  const lines: string[] = [];
  let i = 0;
  while (i < WEEKDAYS.length) {
    if (!byDay[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < WEEKDAYS.length && byDay[j + 1] === byDay[i]) j++;
    lines.push(`${j > i ? `${WEEKDAYS[i]}-${WEEKDAYS[j]}` : WEEKDAYS[i]} ${byDay[i]}`);
    i = j + 1;
  }
  return lines;
}

/** Holidays: ISO dates separated by spaces, commas or lines. */
export function parseHolidays(text: string): { dates: string[]; bad: string[] } {
  const dates: string[] = [];
  const bad: string[] = [];
  for (const word of text.split(/[\s,;]+/).filter(Boolean)) {
    const valid = /^\d{4}-\d{2}-\d{2}$/.test(word) && !Number.isNaN(Date.parse(`${word}T00:00:00Z`)) && new Date(`${word}T00:00:00Z`).toISOString().startsWith(word);
    (valid ? dates : bad).push(word);
  }
  return { dates: [...new Set(dates)].sort(), bad };
}

/** Working minutes as people read them: "45 min", "2 h", "1 h 30 min". */
export function formatMinutes(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined) return '';
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

export interface SlaDraft {
  name: string;
  priority: Priority | '';
  pipeline_id: string;
  first_reply: string;
  next_reply: string;
  close: string;
  due_soon: string;
  business_hours: boolean;
  timezone: string;
  openings: string;
  holidays: string;
  pause_stage_ids: number[];
}

export function draftFrom(policy: SlaPolicy | undefined, timezone: string): SlaDraft {
  const hours = policy?.business_hours;
  const text = (n: number | null | undefined) => (n === null || n === undefined ? '' : String(n));
  return {
    name: policy?.name ?? '',
    priority: policy?.priority ?? '',
    pipeline_id: text(policy?.pipeline_id),
    first_reply: text(policy?.first_reply_minutes),
    next_reply: text(policy?.next_reply_minutes),
    close: text(policy?.close_minutes),
    due_soon: text(policy?.due_soon_minutes ?? 60),
    business_hours: !!hours,
    timezone: hours?.timezone ?? timezone,
    openings: hours ? formatOpenings(hours.weekly).join('\n') : 'mon-fri 09:00-17:00',
    holidays: hours?.holidays.join('\n') ?? '',
    pause_stage_ids: policy?.pause_stage_ids ?? [],
  };
}

export type DraftErrors = Partial<Record<keyof SlaDraft | 'goals', { key: MessageKey; params?: Record<string, string | number> }>>;

function minutes(text: string, min: number): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (!/^\d{1,6}$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return value >= min && value <= MAX_GOAL_MINUTES ? value : undefined;
}

/** The request body for a draft, or what is wrong with it (a message key per field). */
export function bodyFrom(draft: SlaDraft): { body: SlaPolicyFields | null; errors: DraftErrors } {
  const errors: DraftErrors = {};
  const goal = (field: 'first_reply' | 'next_reply' | 'close') => {
    const value = minutes(draft[field], 1);
    if (value === undefined) errors[field] = { key: 'sla.badMinutes', params: { max: MAX_GOAL_MINUTES } };
    return value ?? null;
  };
  const first = goal('first_reply');
  const next = goal('next_reply');
  const close = goal('close');
  if (!errors.first_reply && !errors.next_reply && !errors.close && first === null && next === null && close === null) {
    errors.goals = { key: 'sla.needGoal' };
  }
  const dueSoon = minutes(draft.due_soon, 0);
  if (dueSoon === undefined || dueSoon === null) errors.due_soon = { key: 'sla.badMinutes', params: { max: MAX_GOAL_MINUTES } };
  if (!draft.name.trim()) errors.name = { key: 'sla.needName' };
  let hours: BusinessHours | null = null;
  if (draft.business_hours) {
    const { weekly, bad } = parseOpenings(draft.openings);
    const holidays = parseHolidays(draft.holidays);
    if (bad.length) errors.openings = { key: 'sla.badOpenings', params: { lines: bad.join('; ') } };
    else if (weekly.length === 0) errors.openings = { key: 'sla.needOpenings' };
    if (holidays.bad.length) errors.holidays = { key: 'sla.badHolidays', params: { dates: holidays.bad.join(', ') } };
    if (!draft.timezone.trim()) errors.timezone = { key: 'sla.needTimezone' };
    hours = { timezone: draft.timezone.trim(), weekly, holidays: holidays.dates };
  }
  if (Object.keys(errors).length) return { body: null, errors };
  return {
    body: {
      name: draft.name.trim(),
      priority: draft.priority || null,
      pipeline_id: draft.pipeline_id ? Number(draft.pipeline_id) : null,
      first_reply_minutes: first,
      next_reply_minutes: next,
      close_minutes: close,
      due_soon_minutes: dueSoon as number,
      business_hours: hours,
      pause_stage_ids: draft.pause_stage_ids,
    },
    errors,
  };
}
