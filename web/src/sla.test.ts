import { describe, expect, it } from 'vitest';
import { bodyFrom, draftFrom, formatMinutes, formatOpenings, parseHolidays, parseOpenings } from './sla';
import type { SlaPolicy } from './types';

describe('opening hours as lines', () => {
  it('read days, ranges of days and several openings a day', () => {
    const { weekly, bad } = parseOpenings('mon-wed 09:00-17:00\nSat 9:30-12:00 13:00-24:00\n\n');
    expect(bad).toEqual([]);
    expect(weekly).toEqual([
      { day: 'mon', start: '09:00', end: '17:00' },
      { day: 'tue', start: '09:00', end: '17:00' },
      { day: 'wed', start: '09:00', end: '17:00' },
      { day: 'sat', start: '09:30', end: '12:00' },
      { day: 'sat', start: '13:00', end: '24:00' },
    ]);
  });

  it('return the lines they cannot read', () => {
    expect(parseOpenings('fri-mon 09:00-17:00\nmonday 9-5\ntue\nwed 25:00-26:00').bad).toEqual([
      'fri-mon 09:00-17:00',
      'monday 9-5',
      'tue',
      'wed 25:00-26:00',
    ]);
  });

  it('are written back with equal neighbouring days joined', () => {
    const { weekly } = parseOpenings('mon-fri 09:00-17:00\nsat 10:00-14:00\nsun 10:00-14:00');
    expect(formatOpenings(weekly)).toEqual(['mon-fri 09:00-17:00', 'sat-sun 10:00-14:00']);
    expect(formatOpenings(parseOpenings('tue 13:00-17:00 08:00-12:00\nthu 08:00-12:00 13:00-17:00').weekly)).toEqual([
      'tue 08:00-12:00 13:00-17:00',
      'thu 08:00-12:00 13:00-17:00',
    ]);
  });
});

describe('SLA form', () => {
  it('reads holidays as real dates only', () => {
    expect(parseHolidays('2026-12-25, 2026-12-24\n2026-02-30 xmas 2026-12-25')).toEqual({ dates: ['2026-12-24', '2026-12-25'], bad: ['2026-02-30', 'xmas'] });
  });

  it('formats working minutes', () => {
    expect(formatMinutes(45)).toBe('45 min');
    expect(formatMinutes(120)).toBe('2 h');
    expect(formatMinutes(2890)).toBe('48 h 10 min');
    expect(formatMinutes(null)).toBe('');
  });

  it('turns a draft into the request body: empty goals are null, 24/7 has no business hours', () => {
    const draft = { ...draftFrom(undefined, 'Europe/Warsaw'), name: ' Standard ', first_reply: '60', close: '2880', priority: 'high' as const, pause_stage_ids: [2] };
    expect(bodyFrom(draft)).toEqual({
      body: {
        name: 'Standard',
        priority: 'high',
        pipeline_id: null,
        first_reply_minutes: 60,
        next_reply_minutes: null,
        close_minutes: 2880,
        due_soon_minutes: 60,
        business_hours: null,
        pause_stage_ids: [2],
      },
      errors: {},
    });
    const hours = bodyFrom({ ...draft, business_hours: true, holidays: '2026-12-25' }).body?.business_hours;
    expect(hours?.timezone).toBe('Europe/Warsaw');
    expect(hours?.weekly).toHaveLength(5);
    expect(hours?.holidays).toEqual(['2026-12-25']);
  });

  it('names what is wrong instead of sending it', () => {
    const draft = draftFrom(undefined, 'UTC');
    expect(Object.keys(bodyFrom(draft).errors).sort()).toEqual(['goals', 'name']);
    const bad = bodyFrom({ ...draft, name: 'x', first_reply: '1.5', due_soon: '', business_hours: true, openings: 'someday', timezone: ' ' });
    expect(bad.body).toBeNull();
    expect(Object.keys(bad.errors).sort()).toEqual(['due_soon', 'first_reply', 'openings', 'timezone']);
    expect(bodyFrom({ ...draft, name: 'x', close: '0' }).errors.close?.key).toBe('sla.badMinutes');
  });

  it('round-trips a stored policy through the form', () => {
    const policy: SlaPolicy = {
      id: 1,
      version: 2,
      created_at: '',
      updated_at: '',
      name: 'Gold',
      priority: null,
      pipeline_id: 3,
      first_reply_minutes: 30,
      next_reply_minutes: 120,
      close_minutes: null,
      due_soon_minutes: 15,
      pause_stage_ids: [4],
      business_hours: { timezone: 'Europe/Warsaw', weekly: parseOpenings('mon-fri 08:00-16:00').weekly, holidays: ['2026-11-11'] },
    };
    const { id: _id, version: _v, created_at: _c, updated_at: _u, ...fields } = policy;
    expect(bodyFrom(draftFrom(policy, 'UTC')).body).toEqual(fields);
  });
});
