import { describe, expect, it } from 'vitest';
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';
import { MAX_DURATION_MS, parseRaceTime } from '../../../../src/domain/timing/parse-race-time.ts';

const ms = (text: string, signed = false) => {
  const typed = parseRaceTime(text, { signed });
  if (!typed.ok) throw new Error(`${text}: ${typed.message}`);
  return typed.ms;
};
const problem = (text: string, signed = false) => {
  const typed = parseRaceTime(text, { signed });
  return typed.ok ? null : typed.message;
};

describe('parseRaceTime', () => {
  it('reads a bare number as seconds, not milliseconds', () => {
    expect(ms('10')).toBe(10_000);
    expect(ms('2.5')).toBe(2_500);
    expect(ms('0.001')).toBe(1);
    expect(ms(' 30 ')).toBe(30_000);
    expect(ms('90')).toBe(90_000);
  });

  it('reads minutes and hours as the race-time display prints them', () => {
    expect(ms('1:30')).toBe(90_000);
    expect(ms('1:30.25')).toBe(90_250);
    expect(ms('0:07.5')).toBe(7_500);
    expect(ms('1:02:03.5')).toBe(3_723_500);
    expect(ms('125:00')).toBe(7_500_000);
    expect(ms('00:00:10')).toBe(10_000);
  });

  it('gives back every value the display prints', () => {
    for (const value of [0, 1, 999, 1_000, 7_500, 59_999, 60_000, 102_036, 3_599_999, 3_600_000, 3_723_500, MAX_DURATION_MS]) {
      expect(ms(formatRaceTime(value))).toBe(value);
      expect(ms(formatRaceTime(value, { decimals: 3 }))).toBe(value);
    }
    expect(ms(formatRaceTime(-1_500), true)).toBe(-1_500);
  });

  it('is empty for no text', () => {
    expect(ms('')).toBeNull();
    expect(ms('   ')).toBeNull();
  });

  it('refuses what is no race time, saying how to type one', () => {
    for (const text of ['abc', '1:', ':30', '1::30', '1:30:', '10ms', '1e3', '+5', '1:2:3:4', '0x10', '½']) {
      expect(problem(text), text).toMatch(/^Type a race time: 10 or 10\.5 \(seconds\), 1:30\.250/);
    }
    // Ambiguous: 1:30 or 130 s? 1.5 s or 1500 s? Told, not guessed.
    for (const text of ['1 30', '2 5', '1,500', '10,5', '10s', '10 s', '10m']) expect(problem(text), text).toMatch(/^Type a race time: /);
  });

  it('refuses a fourth decimal, 60 seconds or minutes after a larger unit, and more than the column holds', () => {
    expect(problem('1.2345')).toBe('At most three decimals: the time is kept to the millisecond');
    expect(problem('1:60')).toBe('60 seconds: at most 59 after the minutes');
    expect(problem('1:60:00')).toBe('60 minutes: at most 59 after the hours');
    expect(problem('596:31:23.648')).toBe('At most 596:31:23.647 (what the field holds)');
    expect(problem('99999999999')).toBe('At most 596:31:23.647 (what the field holds)');
  });

  it('keeps to the most a field takes, when it has one', () => {
    expect(parseRaceTime('100:00:00', { maxMs: 360_000_000 })).toEqual({ ok: true, ms: 360_000_000 });
    expect(parseRaceTime('100:00:01', { maxMs: 360_000_000 })).toEqual({ ok: false, message: 'At most 100:00:00 here' });
  });

  it('takes a negative time only where the field is signed', () => {
    expect(problem('-5')).toBe('A duration here is not negative');
    expect(ms('-5', true)).toBe(-5_000);
    expect(ms('−0:01.5', true)).toBe(-1_500);
    expect(ms('-0')).toBe(0);
  });
});
