import { describe, expect, it } from 'vitest';
import { factKey, type CrossingFact, type Fact } from '../../../../src/domain/pipeline/facts.ts';
import { replacedCrossings } from '../../../../src/domain/pipeline/replaced-crossings.ts';

const crossing = (entryId: string, gateId: string, crossedAt: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entryId, gateId, crossedAt), entryId, stageId: 'ss1', gateId, deviceId: 'tracker', kind: 'split', crossedAt, speedKmh: 80,
});

describe('replacedCrossings', () => {
  it('names the stored crossing of a passage the rebuild timed at another time', () => {
    // Live, the split was timed without a fix that came after the late window; rebuilt from storage, with it.
    const rebuilt: Fact[] = [crossing('e1', 'split-1', 1_000_307), crossing('e1', 'finish', 2_000_000)];
    const stored = [
      { entryId: 'e1', gateId: 'split-1', crossedAt: 1_000_315 },
      { entryId: 'e1', gateId: 'finish', crossedAt: 2_000_000 },
    ];
    expect(replacedCrossings(rebuilt, stored)).toEqual([factKey.crossing('e1', 'split-1', 1_000_315)]);
  });

  it('leaves passages the rebuild did not time, and crossings it timed the same', () => {
    const stored = [
      { entryId: 'e1', gateId: 'start', crossedAt: 500_000 },
      { entryId: 'e2', gateId: 'split-1', crossedAt: 1_000_315 },
    ];
    expect(replacedCrossings([crossing('e1', 'split-1', 1_000_307)], stored)).toEqual([]);
    expect(replacedCrossings([crossing('e1', 'start', 500_000)], stored)).toEqual([]);
    expect(replacedCrossings([], stored)).toEqual([]);
  });
});
