import { describe, expect, it } from 'vitest';
import { classifyEvent, type EventResult } from '../../../../src/domain/timing/classify-event.ts';
import { classifyStage, type ClassifiedResult } from '../../../../src/domain/timing/classify-stage.ts';
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';

const finished = (n: number, totalMs: number, penaltyMs = 0): ClassifiedResult => ({
  entryId: `e${n}`, raceNumber: n, status: 'finished', startedAt: 1000 * n, finishedAt: 1000 * n + totalMs - penaltyMs, elapsedMs: totalMs - penaltyMs, penaltyMs, totalMs,
});
const running = (n: number, startedAt: number): ClassifiedResult => ({ entryId: `e${n}`, raceNumber: n, status: 'running', startedAt, finishedAt: null, elapsedMs: null, penaltyMs: 0, totalMs: null });
const dnf = (n: number): ClassifiedResult => ({ ...running(n, 0), status: 'dnf' });

describe('classifyStage', () => {
  const rows = classifyStage([running(105, 9_000), finished(103, 102_036), dnf(104), finished(101, 100_000), finished(107, 102_036), finished(102, 105_500, 5_000), running(106, 8_000)]);

  it('orders finishers by rank, ties by race number, then running cars by start, then DNFs', () => {
    expect(rows.map((r) => [r.raceNumber, r.rank, r.tied])).toEqual([
      [101, 1, false], [103, 2, true], [107, 2, true], [102, 4, false], [106, null, false], [105, null, false], [104, null, false],
    ]);
  });

  it('gives gaps to the leader and to the car ahead, zero within a tie, none for the leader or the unranked', () => {
    const gaps = rows.map((r) => [formatRaceTime(r.gapToLeaderMs, { signed: true }), formatRaceTime(r.gapToAheadMs, { signed: true })]);
    expect(gaps).toEqual([['—', '—'], ['+0:02.036', '+0:02.036'], ['+0:02.036', '+0:00'], ['+0:05.5', '+0:03.464'], ['—', '—'], ['—', '—'], ['—', '—']]);
  });

  it('counts penalties in the total it ranks by', () => {
    const penalised = classifyStage([finished(1, 100_000), { ...finished(2, 99_000), penaltyMs: 10_000, totalMs: 109_000 }]);
    expect(penalised.map((r) => [r.raceNumber, r.rank, r.gapToLeaderMs])).toEqual([[1, 1, null], [2, 2, 9_000]]);
  });

  it('is empty for no results', () => expect(classifyStage([])).toEqual([]));
});

describe('classifyEvent', () => {
  const on = (stageId: string, result: ClassifiedResult): EventResult => ({ ...result, stageId });
  const rows = classifyEvent(['ss1', 'ss2'], [
    on('ss1', finished(101, 100_000)), on('ss2', finished(101, 200_000, 10_000)),
    on('ss1', finished(102, 110_000)), on('ss2', finished(102, 190_000)),
    on('ss1', finished(103, 90_000)), on('ss2', running(103, 5)),
    on('ss1', dnf(104)),
    on('ss1', finished(105, 95_000)), on('ss2', dnf(105)),
    on('other-event-stage', finished(106, 1_000)),
  ]);

  it('ranks entries that finished every stage by the sum of their totals, ties sharing a rank', () => {
    expect(rows.filter((r) => r.complete).map((r) => [r.raceNumber, r.rank, r.tied, r.totalMs, r.penaltyMs, r.gapToLeaderMs])).toEqual([
      [101, 1, true, 300_000, 10_000, null],
      [102, 1, true, 300_000, 0, 0],
    ]);
  });

  it('lists the others apart, most stages finished first, with what they have', () => {
    expect(rows.filter((r) => !r.complete).map((r) => [r.raceNumber, r.stagesFinished, r.totalMs, r.rank])).toEqual([
      [103, 1, 90_000, null], [105, 1, 95_000, null], [104, 0, 0, null],
    ]);
  });

  it('ignores results of stages it was not given', () => expect(rows.some((r) => r.raceNumber === 106)).toBe(false));
});
