import { describe, expect, it } from 'vitest';
import { liveResultPenaltyAdjustment, storedPenaltyAdjustment, type StoredPenaltyAmount } from '../../../../src/domain/penalties/stored-penalty-adjustment.ts';

const penalty = (id: string, kind: string, amountMs: number, waived = false, entryId = 'e1', stageId = 's1'): StoredPenaltyAmount => ({ id, entryId, stageId, kind, amountMs, waived });
const asStored = (p: StoredPenaltyAmount) => p.amountMs;

describe('storedPenaltyAdjustment', () => {
  it('adds the officials’ own penalties and leaves the pipeline’s, which its total already counts', () => {
    const stored = [penalty('a', 'manual', 10_000), penalty('b', 'jump_start', 5_000), penalty('c', 'speeding', 30_000), penalty('d', 'manual', 1_000, false, 'e2')];
    expect(storedPenaltyAdjustment(stored, asStored)).toEqual(new Map([['e1:s1', 15_000], ['e2:s1', 1_000]]));
  });

  it('takes out a computed penalty the officials waived, at the amount the pipeline now gives it', () => {
    const stored = [penalty('c', 'speeding', 30_000, true), penalty('w', 'missed_waypoint', 60_000, true)];
    expect(storedPenaltyAdjustment(stored, asStored)).toEqual(new Map([['e1:s1', -90_000]]));
    // The pipeline computed the speeding again, longer; it no longer computes the missed waypoint.
    const now = new Map([['c', 42_000]]);
    expect(storedPenaltyAdjustment(stored, (p) => now.get(p.id) ?? 0)).toEqual(new Map([['e1:s1', -42_000]]));
  });

  it('counts nothing of a waived penalty of the officials’ own, and leaves out pairs nothing changes', () => {
    expect(storedPenaltyAdjustment([penalty('a', 'manual', 10_000, true), penalty('c', 'speeding', 30_000)], asStored)).toEqual(new Map());
    expect(storedPenaltyAdjustment([penalty('c', 'speeding', 30_000, true)], () => 0)).toEqual(new Map());
    expect(storedPenaltyAdjustment([], asStored)).toEqual(new Map());
  });

  it('nets the officials’ penalty against a waived computed one of the same stage', () => {
    // A steward's decision "speeding penalty reduced to 10 s": the computed 30 s waived, 10 s given by hand.
    const stored = [penalty('c', 'speeding', 30_000, true), penalty('m', 'manual', 10_000)];
    expect(storedPenaltyAdjustment(stored, asStored)).toEqual(new Map([['e1:s1', -20_000]]));
  });
});

describe('liveResultPenaltyAdjustment', () => {
  const result = (penaltyMs: number, entryId = 'e1', stageId = 's1') => ({ entryId, stageId, penaltyMs });

  it('gives what storedPenaltyAdjustment gives where the pipeline counts the penalties it computed', () => {
    const stored = [penalty('a', 'manual', 10_000), penalty('c', 'speeding', 30_000, true), penalty('w', 'missed_waypoint', 60_000)];
    expect(liveResultPenaltyAdjustment([result(90_000)], stored, asStored)).toEqual(storedPenaltyAdjustment(stored, asStored));
    expect(liveResultPenaltyAdjustment([result(90_000)], stored, asStored)).toEqual(new Map([['e1:s1', -20_000]]));
    // The pipeline's own count stands where no official decision touches it.
    expect(liveResultPenaltyAdjustment([result(5_000)], [], asStored)).toEqual(new Map());
  });

  it('never turns a waived penalty into a bonus when a replay stored more than the live pipeline counts', () => {
    // A tester's race: 52,573 ms waived; the formula doubled, a replay stored 105,146 (waiver kept); the car finished
    // live with the pipeline still counting 52,573. The result had -52,573 ms.
    const stored = [penalty('c', 'speeding', 105_146, true)];
    expect(liveResultPenaltyAdjustment([result(52_573)], stored, asStored)).toEqual(new Map([['e1:s1', -52_573]]));
    // The officials' own penalty still counts in full.
    expect(liveResultPenaltyAdjustment([result(52_573)], [...stored, penalty('m', 'manual', 10_000)], asStored)).toEqual(new Map([['e1:s1', -42_573]]));
  });
});
