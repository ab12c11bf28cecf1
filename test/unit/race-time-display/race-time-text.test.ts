import { describe, expect, it } from 'vitest';
import { raceTimeText } from '../../../extensions/pitwall/src/pitwall-race-time-display/race-time-text.ts';

describe('the race time display', () => {
  it('shows millisecond durations as race time', () => {
    expect(raceTimeText(102_036, 'integer')).toBe('1:42.036');
    expect(raceTimeText(3_723_500, 'integer')).toBe('1:02:03.5');
    expect(raceTimeText(10_000, 'integer')).toBe('0:10');
    // bigInteger and decimal values arrive as strings.
    expect(raceTimeText('102036', 'bigInteger')).toBe('1:42.036');
  });

  it('takes the decimals option as Directus stores it (a string) or as a number', () => {
    expect(raceTimeText(102_036, 'integer', { decimals: '1' })).toBe('1:42.0');
    expect(raceTimeText(102_036, 'integer', { decimals: 2 })).toBe('1:42.04');
    expect(raceTimeText(102_036, 'integer', { decimals: 'trim' })).toBe('1:42.036');
    expect(raceTimeText(102_500, 'integer', { decimals: null })).toBe('1:42.5');
  });

  it('signs gaps when asked', () => {
    expect(raceTimeText(1_500, 'integer', { signed: true })).toBe('+0:01.5');
    expect(raceTimeText(1_500, 'integer', { signed: false })).toBe('0:01.5');
  });

  it('shows timestamps as the time of day to the millisecond, in the zone asked for or the reader’s', () => {
    expect(raceTimeText('2026-11-28T14:03:27.118Z', 'timestamp', {}, 'UTC')).toBe('14:03:27.118');
    expect(raceTimeText('2026-11-28T14:03:27.118Z', 'timestamp', { timeZone: 'local' }, 'Europe/Paris')).toBe('15:03:27.118');
    expect(raceTimeText('2026-11-28T14:03:27.118Z', 'timestamp', { timeZone: 'Asia/Tokyo' }, 'Europe/Paris')).toBe('23:03:27.118');
    expect(raceTimeText('2026-11-28T14:03:27.118Z', 'dateTime', { decimals: '1' }, 'UTC')).toBe('14:03:27.1');
  });

  it('says so when the time zone option is unknown, showing the reader’s clock rather than a wrong one', () => {
    expect(raceTimeText('2026-11-28T14:03:27.118Z', 'timestamp', { timeZone: 'Mars/Olympus' }, 'UTC')).toBe('14:03:27.118 (unknown zone Mars/Olympus)');
  });

  it('never shows a wrong time for what is not one', () => {
    for (const value of [null, undefined, '', 'abc', {}]) expect(raceTimeText(value, 'integer')).toBe('—');
    expect(raceTimeText('yesterday', 'timestamp')).toBe('—');
  });
});
