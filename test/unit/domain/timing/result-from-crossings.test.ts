import { describe, expect, it } from 'vitest';
import { MAX_RESULT_MS, withOfficialPenalties } from '../../../../src/domain/pipeline/stage-result.ts';
import { countedCrossings, resultFromCrossings, resultOnCrossings } from '../../../../src/domain/timing/result-from-crossings.ts';

const start = (crossedAt: number) => ({ kind: 'start' as const, crossedAt });
const finish = (crossedAt: number) => ({ kind: 'finish' as const, crossedAt });

describe('resultFromCrossings', () => {
  it('times the earliest start to the first finish after it, penalties in the total', () => {
    expect(resultFromCrossings('e', 's', [finish(90_000), start(10_000), finish(95_000), start(20_000)], 5_000, 'running')).toEqual({
      type: 'stage_result', key: 'result:e:s', entryId: 'e', stageId: 's', status: 'finished',
      startedAt: 10_000, finishedAt: 90_000, elapsedMs: 80_000, penaltyMs: 5_000, totalMs: 85_000,
    });
  });

  it('ignores a finish before the start, and keeps running (or DNF) without a finish', () => {
    expect(resultFromCrossings('e', 's', [finish(5_000), start(10_000)], 0, 'running')).toMatchObject({ status: 'running', finishedAt: null, elapsedMs: null, totalMs: null });
    expect(resultFromCrossings('e', 's', [start(10_000)], 0, 'dnf')).toMatchObject({ status: 'dnf', totalMs: null });
    expect(resultFromCrossings('e', 's', [start(10_000), finish(70_000)], 0, 'dnf')).toMatchObject({ status: 'finished', elapsedMs: 60_000 });
  });

  it('keeps every time of a result within what its columns hold, however many hours of penalties it was given', () => {
    const heavy = resultFromCrossings('e', 's', [start(0), finish(3_600_000)], 6 * 360_000_000, 'running')!;
    expect(heavy).toMatchObject({ status: 'finished', elapsedMs: 3_600_000, penaltyMs: MAX_RESULT_MS, totalMs: MAX_RESULT_MS });
    expect(withOfficialPenalties(resultFromCrossings('e', 's', [start(0), finish(1_000)], 0, 'running')!, 2_147_483_000)).toMatchObject({ totalMs: MAX_RESULT_MS, penaltyMs: 2_147_483_000 });
  });

  it('keeps a result whose start was deleted, untimed; makes none from nothing', () => {
    expect(resultFromCrossings('e', 's', [finish(70_000)], 1_000, 'finished')).toMatchObject({ status: 'running', startedAt: null, finishedAt: 70_000, elapsedMs: null, penaltyMs: 1_000, totalMs: null });
    expect(resultFromCrossings('e', 's', [], 0, null)).toBeNull();
    expect(resultFromCrossings('e', 's', [start(1_000)], 0, null)).toMatchObject({ status: 'running', startedAt: 1_000 });
  });
});

describe('countedCrossings', () => {
  it('counts a start or finish the officials corrected or added alone of its kind, and every crossing of a kind they left', () => {
    const stored = [
      { kind: 'start' as const, crossedAt: 10_000, corrected: false },
      // A stopwatch start added a second after the tracker's: it is the start, though the tracker's is earlier.
      { kind: 'start' as const, crossedAt: 11_000, corrected: true },
      { kind: 'finish' as const, crossedAt: 90_000, corrected: false },
    ];
    expect(countedCrossings(stored)).toEqual([start(11_000), finish(90_000)]);
    expect(resultFromCrossings('e', 's', countedCrossings(stored), 0, 'finished')).toMatchObject({ startedAt: 11_000, elapsedMs: 79_000 });
    expect(countedCrossings(stored.map((c) => ({ ...c, corrected: false })))).toEqual([start(10_000), start(11_000), finish(90_000)]);
  });
});

describe('resultOnCrossings', () => {
  const made = resultFromCrossings('e', 's', [start(10_000), finish(100_000)], 2_000, 'running')!;

  it("times the pipeline's result from the crossings, keeping its penalties", () => {
    // The officials moved the start three seconds earlier; the finish is the pipeline's.
    expect(resultOnCrossings(made, [start(7_000), finish(100_000)])).toMatchObject({ status: 'finished', startedAt: 7_000, finishedAt: 100_000, elapsedMs: 93_000, penaltyMs: 2_000, totalMs: 95_000 });
  });

  it("takes the result's own start or finish where no crossing gives one", () => {
    expect(resultOnCrossings(made, [start(7_000)])).toMatchObject({ status: 'finished', startedAt: 7_000, finishedAt: 100_000, elapsedMs: 93_000 });
    expect(resultOnCrossings(made, [finish(99_000)])).toMatchObject({ startedAt: 10_000, finishedAt: 99_000, elapsedMs: 89_000 });
    const dnf = { ...made, status: 'dnf' as const, finishedAt: null, elapsedMs: null, totalMs: null };
    expect(resultOnCrossings(dnf, [start(7_000)])).toMatchObject({ status: 'dnf', startedAt: 7_000, finishedAt: null });
  });

  it('leaves out a passage the officials gave to another car: its finish is not the entry’s any more', () => {
    expect(resultOnCrossings(made, [start(10_000)], new Set(['finish']))).toMatchObject({ status: 'running', startedAt: 10_000, finishedAt: null, elapsedMs: null, totalMs: null });
    // The start taken, the finish alone times nothing.
    expect(resultOnCrossings(made, [], new Set(['start']))).toMatchObject({ status: 'running', startedAt: null, elapsedMs: null });
    // A crossing of the kind still stored (a stopwatch time) times it.
    expect(resultOnCrossings(made, [finish(101_000)], new Set(['finish']))).toMatchObject({ status: 'finished', finishedAt: 101_000, elapsedMs: 91_000 });
  });
});

describe('withOfficialPenalties', () => {
  it('adds penalties given by hand to a finished result, and leaves an unfinished total empty', () => {
    const made = resultFromCrossings('e', 's', [start(10_000), finish(90_000)], 5_000, 'running')!;
    expect(withOfficialPenalties(made, 10_000)).toMatchObject({ penaltyMs: 15_000, elapsedMs: 80_000, totalMs: 95_000 });
    expect(withOfficialPenalties(made, 0)).toBe(made);
    const running = resultFromCrossings('e', 's', [start(10_000)], 0, 'running')!;
    expect(withOfficialPenalties(running, 10_000)).toMatchObject({ penaltyMs: 10_000, totalMs: null });
  });
});
