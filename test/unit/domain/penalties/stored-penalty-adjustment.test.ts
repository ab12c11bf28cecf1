import { describe, expect, it } from 'vitest';
import { storedPenaltyAdjustment, type StoredPenaltyAmount } from '../../../../src/domain/penalties/stored-penalty-adjustment.ts';

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
