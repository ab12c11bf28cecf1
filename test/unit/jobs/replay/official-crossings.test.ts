import { describe, expect, it } from 'vitest';
import { factKey, type CrossingFact, type StageResultFact } from '../../../../src/domain/pipeline/facts.ts';
import { stageResultOf } from '../../../../src/domain/pipeline/stage-result.ts';
import { recordOfRow } from '../../../../src/jobs/replay/fact-records.ts';
import { fastFactId } from '../../../../src/jobs/replay/fast-fact-id.ts';
import { withOfficialCrossings } from '../../../../src/jobs/replay/official-crossings.ts';

const entry = '11111111-1111-4111-8111-111111111111';
const other = '22222222-2222-4222-8222-222222222222';
const stage = '33333333-3333-4333-8333-333333333333';
const [startGate, finishGate] = ['44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555'];
const t0 = Date.UTC(2026, 10, 28, 9);

const crossing = (e: string, gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(e, gate, at), entryId: e, stageId: stage, gateId: gate, deviceId: '350936080010011', kind, crossedAt: at, speedKmh: 80,
});
const result = (e: string, startedAt: number, finishedAt: number): StageResultFact =>
  stageResultOf({ entryId: e, stageId: stage, status: 'finished', startedAt, finishedAt }, 5_000);

describe('withOfficialCrossings', () => {
  // The pipeline timed the start at t0; a timekeeper moved it three seconds earlier, keeping its id.
  const start = crossing(entry, startGate, 'start', t0);
  const stored = recordOfRow('entry_crossings', {
    id: fastFactId(start.key), entry, stage, geofence: startGate, device_id: start.deviceId, kind: 'start', crossed_at: new Date(t0 - 3_000), speed_kmh: 80, corrected_at: new Date(),
  });
  const replayed = [start, crossing(entry, finishGate, 'finish', t0 + 90_000), result(entry, t0, t0 + 90_000), crossing(other, startGate, 'start', t0), result(other, t0, t0 + 80_000)];

  it("leaves the officials' crossing out and times the entry's result from it", () => {
    const facts = withOfficialCrossings(replayed, [stored]);
    expect(facts.map((f) => f.key)).toEqual(replayed.slice(1).map((f) => f.key));
    expect(facts.find((f) => f.key === factKey.stageResult(entry, stage))).toMatchObject({ startedAt: t0 - 3_000, finishedAt: t0 + 90_000, elapsedMs: 93_000, penaltyMs: 5_000, totalMs: 98_000 });
    // Another entry's facts are as the pipeline made them.
    expect(facts.slice(2)).toEqual(replayed.slice(3));
  });

  it('leaves out a start replayed at another time beside the officials\' start (the line moved), and times from theirs', () => {
    const moved = [crossing(entry, startGate, 'start', t0 + 4_000), ...replayed.slice(1)];
    const facts = withOfficialCrossings(moved, [stored]);
    expect(facts.map((f) => f.key)).toEqual(moved.slice(1).map((f) => f.key));
    expect(facts.find((f) => f.key === factKey.stageResult(entry, stage))).toMatchObject({ startedAt: t0 - 3_000, elapsedMs: 93_000 });
    // The entry's finish, which nobody corrected, is the replay's; another entry's start is untouched.
    expect(facts.filter((f) => f.type === 'crossing').map((f) => f.key)).toEqual([moved[1]!.key, moved[3]!.key]);
  });

  it('times a result without the finish the officials moved to another car: two cars finished on one time', () => {
    // Trackers swapped: the finish the entry's tracker timed is the other car's, by hand, under its id.
    const finish = crossing(entry, finishGate, 'finish', t0 + 90_000);
    const moved = recordOfRow('entry_crossings', {
      id: fastFactId(finish.key), entry: other, stage, geofence: finishGate, device_id: finish.deviceId, kind: 'finish', crossed_at: new Date(t0 + 90_000), speed_kmh: 80, corrected_at: new Date(),
    });
    const facts = withOfficialCrossings([crossing(entry, startGate, 'start', t0), finish, result(entry, t0, t0 + 90_000)], [moved]);
    expect(facts.map((f) => f.key)).toEqual([factKey.crossing(entry, startGate, t0), factKey.stageResult(entry, stage)]);
    expect(facts.find((f) => f.key === factKey.stageResult(entry, stage))).toMatchObject({ status: 'running', startedAt: t0, finishedAt: null, totalMs: null });
  });

  it('leaves out a split replayed after the finish the officials set: the car had finished', () => {
    const splitGate = '66666666-6666-4666-8666-666666666666';
    const stopwatch = recordOfRow('entry_crossings', {
      id: '77777777-7777-4777-8777-777777777777', entry, stage, geofence: finishGate, device_id: start.deviceId, kind: 'finish', crossed_at: new Date(t0 + 60_000), speed_kmh: null, corrected_at: new Date(),
    });
    const split = (at: number): CrossingFact => ({ ...crossing(entry, splitGate, 'start', at), kind: 'split' });
    const facts = withOfficialCrossings([split(t0 + 30_000), split(t0 + 70_000), crossing(other, splitGate, 'start', t0 + 70_000)], [stopwatch]);
    expect(facts.map((f) => f.key)).toEqual([split(t0 + 30_000).key, crossing(other, splitGate, 'start', t0 + 70_000).key]);
  });

  it('keeps the tracker\'s finish beside a stopwatch finish, timing the result from the stopwatch while it stands', () => {
    // A finish typed by hand (no speed: a stopwatch time) 30 s before the tracker's own, on a car still running then.
    const stopwatch = recordOfRow('entry_crossings', {
      id: '88888888-8888-4888-8888-888888888888', entry, stage, geofence: finishGate, device_id: start.deviceId, kind: 'finish', crossed_at: new Date(t0 + 60_000), speed_kmh: null, corrected_at: new Date(),
    });
    const facts = withOfficialCrossings(replayed, [stopwatch]);
    // Kept, so that it times the car once the stopwatch time is deleted.
    expect(facts.map((f) => f.key)).toEqual(replayed.map((f) => f.key));
    expect(facts.find((f) => f.key === factKey.stageResult(entry, stage))).toMatchObject({ startedAt: t0, finishedAt: t0 + 60_000, elapsedMs: 60_000, totalMs: 65_000 });
    // A tracker's finish whose time the officials corrected (it has the tracker's speed) is that finish: another
    // replayed beside it is left out, as before.
    const corrected = recordOfRow('entry_crossings', { ...stopwatch.row, id: stopwatch.id, speed_kmh: 80, corrected_at: new Date() });
    expect(withOfficialCrossings(replayed, [corrected]).map((f) => f.key)).toEqual(replayed.filter((f) => f.key !== replayed[1]!.key).map((f) => f.key));
  });

  it('changes nothing without such a crossing', () => {
    const plain = recordOfRow('entry_crossings', { ...stored.row, id: stored.id, corrected_at: null });
    expect(withOfficialCrossings(replayed, [plain])).toEqual(replayed);
  });
});
