import { describe, expect, it } from 'vitest';
import { timeWindowProblem } from '../../../../src/domain/timing/time-window-problem.ts';

const at = (iso: string) => Date.parse(iso);
const stage = (opens: string | null, closes: string | null) => ({ fromField: 'opens_at', from: opens === null ? null : at(opens), toField: 'closes_at', to: closes === null ? null : at(closes) });

describe('timeWindowProblem', () => {
  it('accepts a window that closes after it opens, or is open on a side', () => {
    expect(timeWindowProblem(stage('2026-12-07T02:00:00Z', '2026-12-07T08:00:00Z'), new Set(['closes_at']), 'x')).toBeNull();
    expect(timeWindowProblem(stage(null, '2026-12-07T08:00:00Z'), new Set(['closes_at']), 'x')).toBeNull();
    expect(timeWindowProblem(stage('2026-12-07T02:00:00Z', null), new Set(['opens_at']), 'x')).toBeNull();
  });

  it('refuses a window that closes before or as it opens, naming the field the write set', () => {
    const wrong = stage('2026-12-07T02:00:00Z', '2026-12-07T01:00:00Z');
    const message = 'closes_at (2026-12-07T01:00:00.000Z) must be after opens_at (2026-12-07T02:00:00.000Z): no crossing is timed';
    expect(timeWindowProblem(wrong, new Set(['closes_at']), 'no crossing is timed')).toEqual({ field: 'closes_at', message });
    expect(timeWindowProblem(wrong, new Set(['opens_at']), 'no crossing is timed')).toEqual({ field: 'opens_at', message });
    expect(timeWindowProblem(wrong, new Set(['opens_at', 'closes_at']), 'no crossing is timed')?.field).toBe('closes_at');
    expect(timeWindowProblem(stage('2026-12-07T02:00:00Z', '2026-12-07T02:00:00Z'), new Set(['name']), 'x')?.field).toBe('closes_at');
  });

  it('leaves a time that is no time to the column check', () => {
    expect(timeWindowProblem({ ...stage('2026-12-07T02:00:00Z', null), to: Number.NaN }, new Set(['closes_at']), 'x')).toBeNull();
  });
});
