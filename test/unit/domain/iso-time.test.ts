import { describe, expect, it } from 'vitest';
import { isoTimeMs } from '../../../src/domain/iso-time.ts';

describe('isoTimeMs', () => {
  it.each([
    ['UTC with milliseconds', '2026-03-14T08:00:00.705Z', Date.UTC(2026, 2, 14, 8, 0, 0, 705)],
    ['an offset with a colon', '2026-03-14T10:00:00+02:00', Date.UTC(2026, 2, 14, 8)],
    ['an offset without one', '2026-03-14T05:30:00-0230', Date.UTC(2026, 2, 14, 8)],
    ['February 29th of a leap year', '2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ['February 29th of 2000 (divisible by 400)', '2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['the last second of a day', '2026-12-31T23:59:59.999999999Z', Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
    ['a date whose offset moves it into the next month', '2026-04-30T23:00:00-02:00', Date.UTC(2026, 4, 1, 1)],
  ])('reads %s', (_what, text, expected) => {
    expect(isoTimeMs(text)).toBe(expected);
  });

  it.each([
    ['February 30th', '2026-02-30T10:00:00Z'],
    ['February 29th of a common year', '2026-02-29T10:00:00Z'],
    ['February 29th of 2100 (divisible by 100, not 400)', '2100-02-29T10:00:00Z'],
    ['April 31st', '2026-04-31T10:00:00Z'],
    ['day 0', '2026-03-00T10:00:00Z'],
    ['month 0', '2026-00-10T10:00:00Z'],
    ['month 13', '2026-13-01T10:00:00Z'],
    ['hour 24', '2026-03-14T24:00:00Z'],
    ['minute 60', '2026-03-14T10:60:00Z'],
    ['a leap second', '2016-12-31T23:59:60Z'],
    ['an offset past 23:59', '2026-03-14T10:00:00+24:00'],
    ['no zone', '2026-03-14T10:00:00'],
    ['a date only', '2026-03-14'],
    ['a space for the T', '2026-03-14 10:00:00Z'],
    ['text', 'yesterday'],
  ])('refuses %s', (_what, text) => {
    expect(isoTimeMs(text)).toBeNaN();
  });
});
