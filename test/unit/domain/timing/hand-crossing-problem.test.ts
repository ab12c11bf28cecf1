import { describe, expect, it } from 'vitest';
import { handCrossingProblem } from '../../../../src/domain/timing/hand-crossing-problem.ts';

describe('handCrossingProblem', () => {
  it('accepts a date and time as REST clients and the app write one', () => {
    for (const crossedAt of ['2026-03-14T08:00:00.705Z', '2026-03-14T10:00:00+02:00', '2026-03-14T10:00:00+0200', '2026-03-14T08:00:00', '2026-03-14 08:00:00', '2026-03-14T08:00', '2028-02-29T23:59:59.123456789Z']) {
      expect(handCrossingProblem({ crossedAt }), crossedAt).toBeNull();
    }
  });

  it('leaves a write without the time, or with null, to Directus', () => {
    expect(handCrossingProblem({})).toBeNull();
    expect(handCrossingProblem({ crossedAt: null })).toBeNull();
  });

  it('refuses what is no real date and time, naming the field and showing the value cut short', () => {
    for (const crossedAt of ['abc', '', '2026-13-45T00:00:00Z', '2026-02-30T10:00:00Z', '2027-02-29T10:00:00Z', '2026-12-04T25:00:00Z', '2026-12-04T10:60:00Z', '2026-12-04', '14/03/2026 08:00', 12_345, true, {}]) {
      expect(handCrossingProblem({ crossedAt })?.field, String(crossedAt)).toBe('crossedAt');
    }
    expect(handCrossingProblem({ crossedAt: 'abc' })?.message).toBe('crossedAt must be a date and time such as 2026-03-14T08:00:00.705Z, got "abc"');
    expect(handCrossingProblem({ crossedAt: 'y'.repeat(60) })?.message).toBe(`crossedAt must be a date and time such as 2026-03-14T08:00:00.705Z, got "${'y'.repeat(39)}…`);
  });
});
