import { describe, expect, it } from 'vitest';
import { beforeYearOne, directusTimestampMs } from '../../../extensions/pitwall/src/shared/directus-timestamp.ts';

describe('directusTimestampMs', () => {
  it('reads the ISO forms Directus stores, and no time of what it cannot store', () => {
    expect(directusTimestampMs('2026-03-14T08:00:00.705Z')).toBe(Date.parse('2026-03-14T08:00:00.705Z'));
    expect(directusTimestampMs('2026-03-14T08:00:00+02:00')).toBe(Date.parse('2026-03-14T06:00:00Z'));
    expect(directusTimestampMs('2026-W11-6')).toBe(directusTimestampMs('2026-03-14'));
    expect(directusTimestampMs('0000-01-01T00:00:00Z')).toBe(Date.parse('0000-01-01T00:00:00Z'));
    for (const text of ['notadate', '2026-02-30T10:00:00Z', '2026-03-14T08:60:00Z', '2026-03-14T24:00:01Z', '', '08:00:00']) {
      expect(directusTimestampMs(text), JSON.stringify(text)).toBeNaN();
    }
  });
});

describe('beforeYearOne', () => {
  it('refuses a time before year 1 with the replay route\'s words, and takes year 1 on', () => {
    expect(beforeYearOne(Date.parse('0000-01-01T00:00:00Z'))).toBe('must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time');
    expect(beforeYearOne(Date.parse('0000-12-31T23:59:59.999Z'))).not.toBeNull();
    expect(beforeYearOne(Date.parse('0001-01-01T00:00:00Z'))).toBeNull();
    expect(beforeYearOne(Date.parse('2026-03-14T08:00:00Z'))).toBeNull();
    expect(beforeYearOne(Number.NaN)).toBeNull();
  });
});
