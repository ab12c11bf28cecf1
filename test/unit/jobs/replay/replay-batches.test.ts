import { describe, expect, it } from 'vitest';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';
import { replayBatches } from '../../../../src/jobs/replay/replay-batches.ts';

const fact = (i: number): Fact => ({
  type: 'anomaly', key: `anomaly:d:signal_loss:${i}`, kind: 'signal_loss', severity: 'warning', entryId: null, stageId: null, deviceId: 'd', startedAt: i, endedAt: null, details: {},
});
const removal = (i: number) => ({ collection: 'entry_crossings' as const, id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` });

describe('replayBatches', () => {
  it('cuts the plan into batches of at most 300 items, removals first, nothing lost', () => {
    const upserts = Array.from({ length: 650 }, (_, i) => fact(i));
    const removals = Array.from({ length: 310 }, (_, i) => removal(i));
    const batches = replayBatches({ upserts, removals });
    expect(batches.map((b) => b.upserts.length + b.removals.length)).toEqual([300, 300, 300, 60]);
    expect(batches[0]!.removals).toHaveLength(300);
    expect(batches[1]).toMatchObject({ retractions: [] });
    expect(batches[1]!.removals).toHaveLength(10);
    expect(batches.flatMap((b) => b.removals)).toEqual(removals);
    expect(batches.flatMap((b) => b.upserts)).toEqual(upserts);
  });

  it('gives no batch for an empty plan', () => {
    expect(replayBatches({ upserts: [], removals: [] })).toEqual([]);
  });
});
