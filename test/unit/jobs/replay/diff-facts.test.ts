import { describe, expect, it } from 'vitest';
import { factId } from '../../../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../../../src/domain/pipeline/facts.ts';
import { applyPlan, diffRows, pairRecords } from '../../../../src/jobs/replay/diff-facts.ts';
import { recordOfFact, recordOfRow } from '../../../../src/jobs/replay/fact-records.ts';

const entry = '11111111-1111-4111-8111-111111111111';
const other = '22222222-2222-4222-8222-222222222222';
const stage = '33333333-3333-4333-8333-333333333333';
const finishGate = '44444444-4444-4444-8444-444444444444';
const startGate = '55555555-5555-4555-8555-555555555555';
const t0 = Date.UTC(2026, 10, 28, 9, 0, 0, 0);
const names = {
  raceNumbers: new Map([[entry, 101], [other, 102]]),
  stageNames: new Map([[stage, 'SS1']]),
  geofenceNames: new Map([[finishGate, 'SS1 finish'], [startGate, 'SS1 start']]),
};

const crossing = (gateId: string, kind: CrossingFact['kind'], crossedAt: number, e = entry): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(e, gateId, crossedAt), entryId: e, stageId: stage, gateId, deviceId: '350936080010011', kind, crossedAt, speedKmh: 87.3,
});
const result = (finishedAt: number, e = entry): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(e, stage), entryId: e, stageId: stage, status: 'finished', startedAt: t0, finishedAt,
  elapsedMs: finishedAt - t0, penaltyMs: 0, totalMs: finishedAt - t0,
});
/** A fact as the database gives it back: Date objects, int8 as strings, real as its float32 decimal. */
const stored = (fact: CrossingFact | StageResultFact | PenaltyFact, rank: number | null = null) => {
  const r = recordOfFact(fact, rank);
  const row: Record<string, unknown> = { id: r.id, source: 'live', computed_at: new Date() };
  for (const [k, v] of Object.entries(r.row)) {
    row[k] = typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? new Date(v) : k.endsWith('_ms') && v !== null ? String(v) : v;
  }
  return recordOfRow(r.collection, row);
};

describe('pairing stored rows with replayed facts', () => {
  it('finds a row stored as the replay computes it unchanged, however the database typed it', () => {
    const pairs = pairRecords([stored(crossing(startGate, 'start', t0)), stored(result(t0 + 60_000), 1)], [recordOfFact(crossing(startGate, 'start', t0)), recordOfFact(result(t0 + 60_000), 1)]);
    expect(pairs.map((p) => p.change)).toEqual(['unchanged', 'unchanged']);
    expect(diffRows(pairs, names).counts).toEqual({ added: 0, removed: 0, changed: 0, unchanged: 2 });
  });

  it('reports a moved finish crossing as one changed row with its delta, and the result with its new total', () => {
    const before = [stored(crossing(finishGate, 'finish', t0 + 60_000)), stored(result(t0 + 60_000), 1)];
    const after = [recordOfFact(crossing(finishGate, 'finish', t0 + 62_345)), recordOfFact(result(t0 + 62_345), 1)];
    const diff = diffRows(pairRecords(before, after), names);
    expect(diff.counts).toEqual({ added: 0, removed: 0, changed: 2, unchanged: 0 });
    expect(diff.rows.map((r) => [r.collection, r.change, r.label, r.delta_ms])).toEqual([
      ['entry_crossings', 'changed', '#101 SS1 finish', 2345],
      ['stage_results', 'changed', '#101 SS1 result', 2345],
    ]);
    const [moved] = diff.rows;
    expect(moved).toMatchObject({ id: factId(factKey.crossing(entry, finishGate, t0 + 62_345)), entry, race_number: 101, stage, fields: ['crossed_at'] });
    expect(moved!.before).toMatchObject({ id: factId(factKey.crossing(entry, finishGate, t0 + 60_000)), crossed_at: new Date(t0 + 60_000).toISOString() });
    expect(moved!.after).toMatchObject({ crossed_at: new Date(t0 + 62_345).toISOString() });
  });

  it('pairs several moved crossings of the same line nearest in time first', () => {
    const before = [t0, t0 + 100_000].map((t) => stored(crossing(finishGate, 'finish', t)));
    const after = [t0 + 100_050, t0 + 30].map((t) => recordOfFact(crossing(finishGate, 'finish', t)));
    const deltas = diffRows(pairRecords(before, after), names).rows.map((r) => r.delta_ms).sort();
    expect(deltas).toEqual([30, 50]);
  });

  it('reports what only one side has as added or removed, never pairing across entries or lines', () => {
    const pairs = pairRecords([stored(crossing(finishGate, 'finish', t0))], [recordOfFact(crossing(finishGate, 'finish', t0 + 10, other)), recordOfFact(crossing(startGate, 'start', t0 - 60_000))]);
    expect(pairs.map((p) => p.change).sort()).toEqual(['added', 'added', 'removed']);
  });

  it('counts every pair but lists at most the limit, saying so', () => {
    const after = Array.from({ length: 5 }, (_, i) => recordOfFact(crossing(startGate, 'start', t0 + i * 100_000)));
    const diff = diffRows(pairRecords([], after), names, 3);
    expect(diff.counts.added).toBe(5);
    expect(diff.rows).toHaveLength(3);
    expect(diff.truncated).toBe(true);
  });

  it('sees a rank change of an otherwise equal result', () => {
    const diff = diffRows(pairRecords([stored(result(t0 + 60_000), 2)], [recordOfFact(result(t0 + 60_000), 1)]), names);
    expect(diff.rows).toMatchObject([{ change: 'changed', delta_ms: 0, fields: ['rank'] }]);
  });
});

describe('the apply plan', () => {
  it('upserts what is new or changed and removes stored rows that are gone or replaced under another id', () => {
    const moved = crossing(finishGate, 'finish', t0 + 61_000);
    const pairs = pairRecords(
      [stored(crossing(finishGate, 'finish', t0 + 60_000)), stored(result(t0 + 60_000), 1), stored(crossing(startGate, 'start', t0)), stored(crossing(startGate, 'start', t0 - 1, other))],
      [recordOfFact(moved), recordOfFact(result(t0 + 61_000), 1), recordOfFact(crossing(startGate, 'start', t0))],
    );
    const plan = applyPlan(pairs);
    expect(plan.upserts.map((f) => f.key).sort()).toEqual([moved.key, factKey.stageResult(entry, stage)].sort());
    expect(plan.removals).toEqual(
      expect.arrayContaining([
        { collection: 'entry_crossings', id: factId(factKey.crossing(entry, finishGate, t0 + 60_000)) },
        { collection: 'entry_crossings', id: factId(factKey.crossing(other, startGate, t0 - 1)) },
      ]),
    );
    expect(plan.removals).toHaveLength(2);
  });

  it('is empty when nothing changed', () => {
    const facts = [crossing(startGate, 'start', t0), result(t0 + 60_000)];
    expect(applyPlan(pairRecords(facts.map((f) => stored(f, f.type === 'stage_result' ? 1 : null)), facts.map((f) => recordOfFact(f, f.type === 'stage_result' ? 1 : null))))).toEqual({ upserts: [], removals: [] });
  });
});
