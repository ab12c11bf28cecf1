import { describe, expect, it } from 'vitest';
import type { StageResultFact } from '../../../src/domain/pipeline/facts.ts';
import { speedingParams } from '../../../src/domain/penalties/penalty-formula.ts';
import { speedingPenalty } from '../../../src/domain/penalties/speeding-penalty.ts';
import { rankStage } from '../../../src/domain/timing/rank-stage.ts';

const result = (entryId: string, status: StageResultFact['status'], totalMs: number | null): StageResultFact => ({
  type: 'stage_result',
  key: `result:${entryId}:s`,
  entryId,
  stageId: 's',
  status,
  startedAt: 0,
  finishedAt: totalMs,
  elapsedMs: totalMs,
  penaltyMs: 0,
  totalMs,
});

describe('rankStage', () => {
  it('ranks finished entries by total time, ties sharing a rank, others unranked', () => {
    const ranked = rankStage([
      result('a', 'finished', 600_000),
      result('b', 'running', null),
      result('c', 'finished', 590_000),
      result('d', 'finished', 600_000),
      result('e', 'dnf', null),
      result('f', 'finished', 610_000),
    ]);
    expect(Object.fromEntries(ranked.map((r) => [r.entryId, r.rank]))).toEqual({ a: 2, b: null, c: 1, d: 2, e: null, f: 4 });
  });

  it('keeps the input order and does not mutate it', () => {
    const input = [result('a', 'finished', 2), result('b', 'finished', 1)];
    const copy = structuredClone(input);
    expect(rankStage(input).map((r) => r.entryId)).toEqual(['a', 'b']);
    expect(input).toEqual(copy);
  });
});

describe('speedingPenalty', () => {
  const params = speedingParams.parse({
    basis: 'time',
    brackets: [
      { over_kmh: 0, penalty_ms_per_s: 1000 },
      { over_kmh: 20, penalty_ms_per_s: 3000 },
    ],
  });

  it.each([
    [49, 0],
    [50, 0],
    [55, 4000],
    [70, 4000],
    [71, 12000],
  ])('at %d km/h in a 50 zone for 4 s costs %d ms', (speedKmh, expected) => {
    expect(speedingPenalty({ durationMs: 4000, distanceM: 60, speedKmh }, 50, params)).toBe(expected);
  });

  it('charges per metre on the distance basis', () => {
    const distance = speedingParams.parse({ basis: 'distance', brackets: [{ over_kmh: 0, penalty_ms_per_m: 100 }] });
    expect(speedingPenalty({ durationMs: 4000, distanceM: 62.5, speedKmh: 56 }, 50, distance)).toBe(6250);
  });

  it('refuses formulas whose brackets are out of order, naming the problem', () => {
    const parsed = speedingParams.safeParse({ basis: 'time', brackets: [{ over_kmh: 20, penalty_ms_per_s: 1 }, { over_kmh: 10, penalty_ms_per_s: 1 }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.message).toBe('brackets must be sorted by over_kmh, ascending');
  });
});
