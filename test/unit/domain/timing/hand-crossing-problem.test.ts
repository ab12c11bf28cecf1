import { describe, expect, it } from 'vitest';
import { correctedAheadProblem, futureCrossingProblem, handCrossingPlaceProblem, handCrossingProblem, handCrossingTracker, type EntryTracker } from '../../../../src/domain/timing/hand-crossing-problem.ts';

describe('handCrossingProblem', () => {
  it('accepts a date and time as REST clients and the app write one', () => {
    for (const crossedAt of ['2026-03-14T08:00:00.705Z', '2026-03-14T10:00:00+02:00', '2026-03-14T10:00:00+0200', '2026-03-14T08:00:00', '2026-03-14 08:00:00', '2026-03-14T08:00', '2028-02-29T23:59:59.123456789Z']) {
      expect(handCrossingProblem({ crossedAt }), crossedAt).toBeNull();
    }
  });

  it('leaves a write without the time, or with null, to Directus', () => {
    expect(handCrossingProblem({})).toBeNull();
    expect(handCrossingProblem({ crossedAt: null })).toBeNull();
  });

  it('refuses what is no real date and time, naming the field and showing the value cut short', () => {
    for (const crossedAt of ['abc', '', '2026-13-45T00:00:00Z', '2026-02-30T10:00:00Z', '2027-02-29T10:00:00Z', '2026-12-04T25:00:00Z', '2026-12-04T10:60:00Z', '2026-12-04', '14/03/2026 08:00', 12_345, true, {}]) {
      expect(handCrossingProblem({ crossedAt })?.field, String(crossedAt)).toBe('crossedAt');
    }
    expect(handCrossingProblem({ crossedAt: 'abc' })?.message).toBe('crossed_at must be a date and time such as 2026-03-14T08:00:00.705Z, got "abc"');
    expect(handCrossingProblem({ crossedAt: 'y'.repeat(60) })?.message).toBe(`crossed_at must be a date and time such as 2026-03-14T08:00:00.705Z, got "${'y'.repeat(39)}…`);
  });
});

describe('handCrossingPlaceProblem', () => {
  const at = (time: string) => Date.parse(`2026-12-06T${time}Z`);
  const place = { starts: [at('20:27:54.221')], finishes: [] as number[] };

  it('refuses a finish or split not after the entry’s start, such as an hour typed wrong', () => {
    expect(handCrossingPlaceProblem({ ...place, kind: 'finish', crossedAt: at('19:35:33.842') })).toEqual({
      field: 'crossedAt', message: "this finish at 2026-12-06T19:35:33.842Z is not after the entry's start in the stage (2026-12-06T20:27:54.221Z)",
    });
    expect(handCrossingPlaceProblem({ ...place, kind: 'split', crossedAt: at('20:27:54.221') })?.field).toBe('crossedAt');
    expect(handCrossingPlaceProblem({ ...place, kind: 'finish', crossedAt: at('20:35:33.842') })).toBeNull();
    // No start stored yet: nothing to compare with.
    expect(handCrossingPlaceProblem({ ...place, starts: [], kind: 'finish', crossedAt: at('19:35:33.842') })).toBeNull();
  });

  it('refuses a start not before the entry’s finish', () => {
    const finished = { ...place, starts: [], finishes: [at('20:35:33.842')] };
    expect(handCrossingPlaceProblem({ ...finished, kind: 'start', crossedAt: at('20:40:00') })?.message).toBe(
      "this start at 2026-12-06T20:40:00.000Z is not before the entry's finish in the stage (2026-12-06T20:35:33.842Z)",
    );
    expect(handCrossingPlaceProblem({ ...finished, kind: 'start', crossedAt: at('20:27:50') })).toBeNull();
  });

  it('refuses a start after the entry’s split, a finish before it, and a split after the finish', () => {
    const split = { ...place, splits: [at('20:31:00.500')] };
    // A tester's start typed after the car's split 1: the car won the stage by two minutes.
    expect(handCrossingPlaceProblem({ ...split, starts: [], kind: 'start', crossedAt: at('20:32:00') })?.message).toBe(
      "this start at 2026-12-06T20:32:00.000Z is not before the entry's split in the stage (2026-12-06T20:31:00.500Z)",
    );
    expect(handCrossingPlaceProblem({ ...split, kind: 'finish', crossedAt: at('20:30:00') })?.message).toBe(
      "this finish at 2026-12-06T20:30:00.000Z is not after the entry's split in the stage (2026-12-06T20:31:00.500Z)",
    );
    expect(handCrossingPlaceProblem({ ...place, finishes: [at('20:35:33.842')], kind: 'split', crossedAt: at('20:36:00') })?.message).toBe(
      "this split at 2026-12-06T20:36:00.000Z is not before the entry's finish in the stage (2026-12-06T20:35:33.842Z)",
    );
    expect(handCrossingPlaceProblem({ ...split, starts: [], kind: 'start', crossedAt: at('20:27:00') })).toBeNull();
    expect(handCrossingPlaceProblem({ ...split, kind: 'finish', crossedAt: at('20:35:00') })).toBeNull();
  });

  it('refuses a start and finish further apart than a result holds (a year typed wrong)', () => {
    const finished = { ...place, starts: [], finishes: [at('20:35:33.842')] };
    expect(handCrossingPlaceProblem({ ...finished, kind: 'start', crossedAt: Date.parse('2025-12-06T20:27:54.221Z') })?.message).toBe(
      'this start at 2025-12-06T20:27:54.221Z makes a stage time of 365 days, more than a result holds (596:31:23.647)',
    );
    expect(handCrossingPlaceProblem({ ...place, kind: 'finish', crossedAt: Date.parse('2027-12-06T20:35:33.842Z') })?.message).toBe(
      'this finish at 2027-12-06T20:35:33.842Z makes a stage time of 365 days, more than a result holds (596:31:23.647)',
    );
    expect(handCrossingPlaceProblem({ ...place, kind: 'finish', crossedAt: at('22:59:00'), starts: [Date.parse('2026-11-01T00:00:00Z')] })?.message).toMatch(/makes a stage time of 36 days/);
    // The start the finish is timed from is the latest before it.
    expect(handCrossingPlaceProblem({ ...place, kind: 'finish', crossedAt: at('22:59:00'), starts: [Date.parse('2026-11-01T00:00:00Z'), at('20:00:00')] })).toBeNull();
  });

  it('refuses a second start or finish set by hand, which the timing would pass over, and names the kind', () => {
    const corrected = [{ kind: 'start', crossedAt: at('20:27:54.221') }];
    expect(handCrossingPlaceProblem({ ...place, corrected, kind: 'start', crossedAt: at('20:28:00') })).toEqual({
      field: 'kind',
      message: "the entry already has a start in the stage set by hand (2026-12-06T20:27:54.221Z), and only one counts: correct that crossing's time, or delete it first",
    });
    // A split, or a finish beside a hand start, is no second of its kind; computed starts beside it are not either.
    expect(handCrossingPlaceProblem({ ...place, corrected, kind: 'split', crossedAt: at('20:30:00') })).toBeNull();
    expect(handCrossingPlaceProblem({ ...place, corrected, kind: 'finish', crossedAt: at('20:35:00') })).toBeNull();
    expect(handCrossingPlaceProblem({ ...place, corrected: [], kind: 'start', crossedAt: at('20:20:00') })).toBeNull();
  });
});

describe('futureCrossingProblem', () => {
  const now = Date.parse('2026-12-07T12:00:00.000Z');

  it('takes a passage up to five minutes ahead of the server clock, as the processor takes a fix: a stopwatch a little fast', () => {
    for (const ahead of [-86_400_000, 0, 60_000, 300_000]) expect(futureCrossingProblem('finish', now + ahead, now), String(ahead)).toBeNull();
    expect(futureCrossingProblem('finish', now + 3_600_000, now, 4 * 86_400_000)).toBeNull();
  });

  it('refuses one further ahead, such as local time read as UTC, naming both clocks', () => {
    expect(futureCrossingProblem('finish', now + 300_001, now)?.field).toBe('crossedAt');
    expect(futureCrossingProblem('finish', now + 61_000, now, 60_000)?.field).toBe('crossedAt');
    expect(futureCrossingProblem('finish', now + 2 * 3_600_000, now)?.message).toBe(
      "this finish at 2026-12-07T14:00:00.000Z is in the future (the server's clock reads 2026-12-07T12:00:00.000Z): a crossing is set once the car has crossed; check the date, and the zone of a time typed without one",
    );
    expect(futureCrossingProblem(undefined, now + 86_400_000, now)?.message).toMatch(/^this crossing at 2026-12-08T12:00:00\.000Z is in the future/);
  });
});

describe('handCrossingPlaceProblem and the stage\'s length', () => {
  const start = Date.parse('2026-12-07T10:00:00.000Z');
  const stage = { linesApartM: 10_365, topSpeedKmh: 400 };

  it('refuses a finish or start that makes a stage time no car drives: the lines\' distance at the top speed', () => {
    // 10.4 km at 400 km/h take 93.3 s.
    expect(handCrossingPlaceProblem({ ...stage, kind: 'finish', crossedAt: start + 33_076, starts: [start], finishes: [] })?.message).toBe(
      'this finish at 2026-12-07T10:00:33.076Z makes a stage time of 0:33.076, shorter than the 10.4 km from the start line to the finish line take at 400 km/h (1:33): check the car and the time',
    );
    expect(handCrossingPlaceProblem({ ...stage, kind: 'start', crossedAt: start, starts: [], finishes: [start + 90_000] })?.field).toBe('crossedAt');
  });

  it('takes any stage time a car can drive, and any time when the lines\' distance is not known (a loop: metres apart)', () => {
    expect(handCrossingPlaceProblem({ ...stage, kind: 'finish', crossedAt: start + 94_000, starts: [start], finishes: [] })).toBeNull();
    expect(handCrossingPlaceProblem({ kind: 'finish', crossedAt: start + 33_000, starts: [start], finishes: [] })).toBeNull();
    expect(handCrossingPlaceProblem({ linesApartM: 12, topSpeedKmh: 400, kind: 'finish', crossedAt: start + 33_000, starts: [start], finishes: [] })).toBeNull();
    // A split has no stage time of its own.
    expect(handCrossingPlaceProblem({ ...stage, kind: 'split', crossedAt: start + 10_000, starts: [start], finishes: [] })).toBeNull();
  });
});

describe('correctedAheadProblem', () => {
  const now = Date.parse('2026-12-07T12:00:00.000Z');

  it('refuses to move a passage already recorded ahead of the clock, past a stopwatch a little fast', () => {
    expect(correctedAheadProblem('start', now + 120_000, now, now - 60_000)?.message).toBe(
      "this start was recorded at 2026-12-07T11:59:00.000Z: the car has passed, so it cannot be corrected to 2026-12-07T12:02:00.000Z, ahead of the server's clock (2026-12-07T12:00:00.000Z); check the time typed",
    );
    expect(correctedAheadProblem('finish', now + 10_001, now, now)?.field).toBe('crossedAt');
  });

  it('takes a correction up to ten seconds ahead, and any correction of a time set ahead (a start pre-entered)', () => {
    for (const to of [now - 3_600_000, now, now + 10_000]) expect(correctedAheadProblem('start', to, now, now - 60_000), String(to)).toBeNull();
    expect(correctedAheadProblem('start', now + 120_000, now, now + 60_000)).toBeNull();
  });
});

describe('handCrossingTracker', () => {
  const at = (time: string) => Date.parse(`2026-12-06T${time}Z`);
  const primary: EntryTracker = { imei: '352093081111111', role: 'primary', validFrom: null, validTo: at('12:00:00') };
  const backup: EntryTracker = { imei: '352093082222222', role: 'backup', validFrom: null, validTo: null };
  const swapped: EntryTracker = { imei: '352093083333333', role: 'primary', validFrom: at('12:00:00'), validTo: null };

  it('credits a crossing left without a tracker to the entry’s primary at that time', () => {
    expect(handCrossingTracker(undefined, at('10:00:00'), [backup, primary, swapped], '#7')).toEqual({ deviceId: primary.imei });
    expect(handCrossingTracker('', at('13:00:00'), [backup, primary, swapped], '#7')).toEqual({ deviceId: swapped.imei });
    expect(handCrossingTracker(null, at('13:00:00'), [primary, backup], '#7')).toEqual({ deviceId: backup.imei });
    // No assignment covers the time: the primary all the same.
    expect(handCrossingTracker('  ', at('13:00:00'), [{ ...backup, validTo: at('11:00:00') }, primary], '#7')).toEqual({ deviceId: primary.imei });
  });

  it('keeps a tracker of the entry written by hand, and refuses another, naming the entry’s', () => {
    expect(handCrossingTracker(backup.imei, at('10:00:00'), [primary, backup], '#7')).toEqual({ deviceId: backup.imei });
    expect(handCrossingTracker(` ${backup.imei} `, at('10:00:00'), [primary, backup], '#7')).toEqual({ deviceId: backup.imei });
    expect(handCrossingTracker('stopwatch', at('10:00:00'), [primary, backup], '#7')).toEqual({
      message: `"stopwatch" is not a tracker of entry #7 (its trackers: ${primary.imei}, ${backup.imei}); leave device_id empty to credit the entry's tracker at that time`,
    });
    expect(handCrossingTracker(12, at('10:00:00'), [primary], '#7')).toEqual({ message: "device_id must be a tracker's IMEI as text, not 12" });
  });

  it('takes the IMEI written for an entry with no tracker, and asks for one when none is written', () => {
    expect(handCrossingTracker('352093089999999', at('10:00:00'), [], '#7')).toEqual({ deviceId: '352093089999999' });
    expect(handCrossingTracker(undefined, at('10:00:00'), [], '#7')).toEqual({ message: 'entry #7 has no tracker assigned: give device_id, the IMEI the crossing is credited to, or assign the entry a tracker first' });
  });
});
