import { describe, expect, it } from 'vitest';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';
import { replayBatches } from '../../../../src/jobs/replay/replay-batches.ts';
import { halves } from '../../../../src/directus/fact-request-halves.ts';

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

  it('a batch Directus finds too large halves like an outbox request: removals stay ahead, nothing twice or lost', () => {
    const [batch] = replayBatches({ upserts: [fact(1), fact(2), fact(3)], removals: [removal(1), removal(2)] });
    const request = { batch: 'replay-r-0', source: 'replay' as const, ...batch! };
    const [first, second] = halves(request)!;
    expect([first.batch, first.removals, first.upserts.map((f) => f.key)]).toEqual(['replay-r-0.a', [removal(1), removal(2)], [fact(1).key]]);
    expect([second.batch, second.removals, second.upserts.map((f) => f.key)]).toEqual(['replay-r-0.b', [], [fact(2).key, fact(3).key]]);
    expect(second).toMatchObject({ source: 'replay', retractions: [] });
    const [a, b] = halves(second)!;
    expect([a.upserts.length, b.upserts.length, halves(a)]).toEqual([1, 1, null]);
  });
});
