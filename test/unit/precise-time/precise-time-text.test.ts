import { describe, expect, it } from 'vitest';
import { parsePreciseTime, preciseTimeText } from '../../../extensions/pitwall/src/pitwall-precise-time-interface/precise-time-text.ts';

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number) => new Date(y, mo - 1, d, h, mi, s, ms).toISOString();

describe('the precise time interface', () => {
  it('shows a stored time in local time to the millisecond', () => {
    expect(preciseTimeText(local(2026, 12, 6, 20, 35, 33, 842))).toBe('2026-12-06 20:35:33.842');
    expect(preciseTimeText(local(2026, 1, 2, 3, 4, 5, 0))).toBe('2026-01-02 03:04:05.000');
    for (const none of [null, undefined, '', 'abc']) expect(preciseTimeText(none)).toBe('');
  });

  it('stores what is typed to the millisecond, where the date-time picker stored .000', () => {
    expect(parsePreciseTime('2026-12-06 20:35:34.842')).toEqual({ ok: true, value: local(2026, 12, 6, 20, 35, 34, 842) });
    expect(parsePreciseTime(' 2026-12-06T20:35:34.8 ')).toEqual({ ok: true, value: local(2026, 12, 6, 20, 35, 34, 800) });
    expect(parsePreciseTime('2026-12-06 20:35')).toEqual({ ok: true, value: local(2026, 12, 6, 20, 35, 0, 0) });
    expect(parsePreciseTime('')).toEqual({ ok: true, value: null });
    // What is shown reads back as the same time.
    const shown = preciseTimeText(local(2026, 12, 6, 20, 35, 33, 842));
    expect(parsePreciseTime(shown)).toEqual({ ok: true, value: local(2026, 12, 6, 20, 35, 33, 842) });
  });

  it('refuses what is no time, saying how to type one', () => {
    for (const typed of ['abc', '20:35:33.842', '2026-12-06 20:35:33.8421', '2026-12-06 20:35:33,842', '12/06/2026 20:35']) {
      expect(parsePreciseTime(typed), typed).toEqual({ ok: false, message: 'Type the local date and time as 2026-12-06 20:35:33.842' });
    }
    for (const typed of ['2026-02-30 10:00:00', '2026-12-06 24:00:00', '2026-12-06 20:61:00']) {
      expect(parsePreciseTime(typed), typed).toEqual({ ok: false, message: `${typed} is no time of the calendar here` });
    }
  });
});
