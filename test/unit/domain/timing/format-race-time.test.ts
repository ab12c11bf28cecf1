import { describe, expect, it } from 'vitest';
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';

describe('formatRaceTime', () => {
  it.each([
    [102_036, '1:42.036'],
    [3_723_500, '1:02:03.5'],
    [7_500, '0:07.5'],
    [102_000, '1:42'],
    [60_000, '1:00'],
    [3_600_000, '1:00:00'],
    [0, '0:00'],
    [59_999, '0:59.999'],
    [36_000_010, '10:00:00.01'],
    [-1_500, '−0:01.5'],
  ])('%d ms is %s', (ms, text) => expect(formatRaceTime(ms)).toBe(text));

  it('shows a fixed number of decimals, rounded, carrying into seconds, minutes and hours', () => {
    expect(formatRaceTime(102_036, { decimals: 1 })).toBe('1:42.0');
    expect(formatRaceTime(102_050, { decimals: 1 })).toBe('1:42.1');
    expect(formatRaceTime(59_960, { decimals: 1 })).toBe('1:00.0');
    expect(formatRaceTime(3_599_999, { decimals: 2 })).toBe('1:00:00.00');
    expect(formatRaceTime(102_036, { decimals: 3 })).toBe('1:42.036');
    expect(formatRaceTime(102_400, { decimals: 0 })).toBe('1:42');
  });

  it('signs gaps', () => {
    expect(formatRaceTime(1_234, { signed: true })).toBe('+0:01.234');
    expect(formatRaceTime(0, { signed: true })).toBe('+0:00');
    expect(formatRaceTime(-0.2, { signed: true })).toBe('+0:00');
    expect(formatRaceTime(-61_000, { signed: true })).toBe('−1:01');
  });

  it('has a dash for no time', () => {
    for (const value of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY]) expect(formatRaceTime(value)).toBe('—');
  });
});
