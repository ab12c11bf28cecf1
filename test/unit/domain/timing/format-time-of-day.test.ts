import { describe, expect, it } from 'vitest';
import { formatTimeOfDay, UnknownTimeZoneError } from '../../../../src/domain/timing/format-time-of-day.ts';

describe('formatTimeOfDay', () => {
  it('reads a crossing to the millisecond on a 24-hour clock', () => {
    expect(formatTimeOfDay('2026-11-28T14:03:27.118Z')).toBe('14:03:27.118');
    expect(formatTimeOfDay(Date.parse('2026-11-28T00:00:00.005Z'))).toBe('00:00:00.005');
    expect(formatTimeOfDay(new Date('2026-11-28T23:59:59.999Z'))).toBe('23:59:59.999');
  });

  it('reads the clock of the time zone asked for', () => {
    expect(formatTimeOfDay('2026-11-28T14:03:27.118Z', { timeZone: 'Europe/Paris' })).toBe('15:03:27.118');
    expect(formatTimeOfDay('2026-07-01T14:03:27.118Z', { timeZone: 'Europe/Paris' })).toBe('16:03:27.118');
    expect(formatTimeOfDay('2026-11-28T14:03:27.118+01:00', { timeZone: 'America/Santiago' })).toBe('10:03:27.118');
  });

  it('cuts the fraction to the digits asked for, as a clock does, never rounding into the next second', () => {
    expect(formatTimeOfDay('2026-11-28T14:03:27.999Z', { decimals: 1 })).toBe('14:03:27.9');
    expect(formatTimeOfDay('2026-11-28T14:03:27.999Z', { decimals: 2 })).toBe('14:03:27.99');
    expect(formatTimeOfDay('2026-11-28T14:03:27.999Z', { decimals: 0 })).toBe('14:03:27');
    expect(formatTimeOfDay('2026-11-28T14:03:27.050Z')).toBe('14:03:27.050');
  });

  it('handles moments before 1970', () => {
    expect(formatTimeOfDay(-1)).toBe('23:59:59.999');
  });

  it('shows what is not a time as a dash', () => {
    for (const value of [null, undefined, '', 'not a date', Number.NaN]) expect(formatTimeOfDay(value)).toBe('—');
  });

  it('refuses a time zone it does not know', () => {
    expect(() => formatTimeOfDay(0, { timeZone: 'Mars/Olympus' })).toThrow(UnknownTimeZoneError);
  });
});
