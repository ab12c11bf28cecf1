import { describe, expect, it } from 'vitest';
import { unstorableIssues } from '../../../extensions/pitwall/src/shared/storable-facts.ts';
import type { FactBatch } from '../../../src/domain/pipeline/fact-batch.ts';
import { factKey, type AnomalyFact, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../../src/domain/pipeline/facts.ts';

const entry = '7b0c6a2e-1f3d-4c5b-8a9e-0d1c2b3a4f5e';
const stage = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const gate = '9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f';
const t0 = Date.UTC(2026, 1, 14, 9, 30, 0, 410);

const crossing = (over: Partial<CrossingFact> = {}): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry, gate, t0), entryId: entry, stageId: stage, gateId: gate, deviceId: '356307042441013', kind: 'start', crossedAt: t0, speedKmh: 88.5, ...over,
});
const result = (over: Partial<StageResultFact> = {}): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry, stage), entryId: entry, stageId: stage, status: 'finished', startedAt: t0, finishedAt: t0 + 300_000,
  elapsedMs: 300_000, penaltyMs: 0, totalMs: 300_000, ...over,
});
const penalty = (over: Partial<PenaltyFact> = {}): PenaltyFact => ({
  type: 'penalty', key: factKey.penalty(entry, stage, 'speeding', 'z1'), entryId: entry, stageId: stage, kind: 'speeding', amountMs: 10_000, details: { zone: 'z1' }, ...over,
});
const anomaly = (over: Partial<AnomalyFact> = {}): AnomalyFact => ({
  type: 'anomaly', key: factKey.anomaly('356307042441013', 'signal_loss', String(t0)), kind: 'signal_loss', severity: 'warning', entryId: entry, stageId: null,
  deviceId: '356307042441013', startedAt: t0, endedAt: null, details: { gap_s: 42 }, ...over,
});
const batch = (...upserts: FactBatch['upserts']): FactBatch => ({ batch: 'b1', source: 'live', upserts, retractions: [] });
const paths = (b: FactBatch) => unstorableIssues(b).map((issue) => issue.path.join('.'));

describe('unstorableIssues', () => {
  it('accepts ordinary facts, and the edges their columns hold', () => {
    expect(unstorableIssues(batch(crossing(), result(), penalty(), anomaly()))).toEqual([]);
    const edges = batch(
      crossing({ deviceId: 'x'.repeat(255), crossedAt: Date.UTC(9999, 11, 31, 23, 59, 59, 999), speedKmh: 3.4e38 }),
      result({ elapsedMs: 2_147_483_647, totalMs: -2_147_483_647, startedAt: null, finishedAt: null }),
      crossing({ key: 'crossing:b', speedKmh: 0 }),
      crossing({ key: 'crossing:c', speedKmh: 1e-40 }),
      anomaly({ details: { text: 'emoji 🏁 ok', nested: [{ 'ключ': 'значение' }] } }),
    );
    expect(unstorableIssues(edges)).toEqual([]);
  });

  it('names each value its column cannot hold, with a zod-shaped path', () => {
    const b = batch(
      crossing({ deviceId: 'x'.repeat(256), crossedAt: Date.UTC(10000, 0, 1), speedKmh: 1e39 }),
      result({ elapsedMs: 2_147_483_648, penaltyMs: -3_000_000_000, totalMs: 9_000_000_000 }),
      penalty({ amountMs: 2 ** 40, details: { reason: 'a\u0000b' } }),
      anomaly({ deviceId: 'imei\u0000', endedAt: 8.64e15, details: { list: [1, { ['bad\u0000key']: 1 }] } }),
      crossing({ key: 'crossing:tiny', speedKmh: 1e-50 }),
      anomaly({ key: 'anomaly:s', deviceId: 'half \ud83c', details: { s: 'lone \udc00 low' } }),
    );
    expect(paths(b)).toEqual([
      'upserts.0.deviceId', 'upserts.0.crossedAt', 'upserts.0.speedKmh',
      'upserts.1.elapsedMs', 'upserts.1.penaltyMs', 'upserts.1.totalMs',
      'upserts.2.amountMs', 'upserts.2.details.reason',
      'upserts.3.deviceId', 'upserts.3.endedAt', 'upserts.3.details.list.1.bad\u0000key',
      'upserts.4.speedKmh',
      'upserts.5.deviceId', 'upserts.5.details.s',
    ]);
    for (const issue of unstorableIssues(b)) expect(issue).toMatchObject({ code: 'custom', message: expect.any(String) });
    expect(unstorableIssues(b)[2]!.message).toMatch(/real/);
    expect(unstorableIssues(b)[10]!.message).toMatch(/^key .*NUL/);
  });
});
