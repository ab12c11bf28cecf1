import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DevicePipeline, type FactChanges } from '../../../../src/domain/pipeline/device-pipeline.ts';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';
import { along, T0, testContext, testCourse, timeAt, track } from './fixtures.ts';

const of = <T extends Fact['type']>(facts: Iterable<Fact>, type: T) => [...facts].filter((f): f is Extract<Fact, { type: T }> => f.type === type);
const run = (fixes = track(), context = testContext()) => {
  const pipeline = new DevicePipeline(context);
  pipeline.pushAll(fixes);
  return pipeline;
};
const trackFacts = (pipeline: DevicePipeline) =>
  Object.values(pipeline.state.facts)
    .filter((f) => !(f.type === 'anomaly' && f.kind === 'late_data'))
    .sort((a, b) => a.key.localeCompare(b.key));

describe('DevicePipeline on a clean run', () => {
  const pipeline = run(track({ speedKmh: 72, zoneKmh: 72 }));
  const facts = Object.values(pipeline.state.facts);

  it('records start, split and finish at interpolated times within 5 ms of the truth', () => {
    const crossings = of(facts, 'crossing').sort((a, b) => a.crossedAt - b.crossedAt);
    expect(crossings.map((c) => c.kind)).toEqual(['start', 'split', 'finish']);
    const truth = [100, 500, 1000].map((m) => timeAt(m));
    crossings.forEach((c, i) => expect(Math.abs(c.crossedAt - truth[i]!)).toBeLessThanOrEqual(5));
    expect(crossings[0]).toMatchObject({ entryId: 'entry-1', stageId: 'stage-1', gateId: 'start', deviceId: '350936080010018', speedKmh: 72 });
  });

  it('finishes the stage with elapsed = finish - start and total = elapsed + penalties', () => {
    const [result] = of(facts, 'stage_result');
    const crossings = of(facts, 'crossing');
    const start = crossings.find((c) => c.kind === 'start')!.crossedAt;
    const finish = crossings.find((c) => c.kind === 'finish')!.crossedAt;
    expect(result).toMatchObject({ status: 'finished', startedAt: start, finishedAt: finish, elapsedMs: finish - start });
    expect(result!.totalMs).toBe(result!.elapsedMs! + result!.penaltyMs);
    expect(Math.abs(result!.elapsedMs! - 45_000)).toBeLessThanOrEqual(10); // 900 m at 20 m/s
  });

  it('charges speeding through the village by the formula brackets and reports it', () => {
    // 72 km/h in a 50 zone is 22 over: the 20+ bracket, 3 s per second over, for the 100 m (5 s) inside.
    const [penalty] = of(facts, 'penalty');
    expect(penalty).toMatchObject({ kind: 'speeding', stageId: 'stage-1' });
    expect(Math.abs(penalty!.amountMs - 15_000)).toBeLessThanOrEqual(20);
    const [anomaly] = of(facts, 'anomaly');
    expect(anomaly).toMatchObject({ kind: 'speeding', severity: 'critical', entryId: 'entry-1' });
    expect(anomaly!.details).toMatchObject({ limit_kmh: 50, max_speed_kmh: 72 });
    expect(Math.abs((anomaly!.details.over_ms as number) - 5000)).toBeLessThanOrEqual(5);
    expect(of(facts, 'stage_result')[0]!.penaltyMs).toBe(penalty!.amountMs);
  });

  it('charges no speeding for one glitched GPS speed past what a car drives, its positions at the limit', () => {
    // 45 km/h through the 50 zone, but one fix in it reads 500 km/h (over maxSpeedKmh, 400).
    const fixes = track({ zoneKmh: 45 });
    const inZone = fixes.findIndex((f) => f.speedKmh === 45) + 2;
    fixes[inZone] = { ...fixes[inZone]!, speedKmh: 500 };
    const glitched = Object.values(run(fixes).state.facts);
    expect(of(glitched, 'penalty')).toEqual([]);
    expect(of(glitched, 'anomaly').filter((a) => a.kind === 'speeding')).toEqual([]);
    // A reading a car can drive still counts as read.
    fixes[inZone] = { ...fixes[inZone]!, speedKmh: 120 };
    expect(of(Object.values(run(fixes).state.facts), 'penalty')).toEqual([expect.objectContaining({ kind: 'speeding' })]);
  });
});

describe('DevicePipeline rules', () => {
  it('a car keeping the limit in the village owes nothing', () => {
    const facts = Object.values(run(track({ zoneKmh: 45 })).state.facts);
    expect(of(facts, 'penalty')).toEqual([]);
    expect(of(facts, 'anomaly')).toEqual([]);
  });

  it('a missed waypoint costs its penalty at the finish and raises an anomaly', () => {
    const facts = Object.values(run(track({ zoneKmh: 45 }), testContext(testCourse({ waypointNorth: 200 }))).state.facts);
    expect(of(facts, 'penalty')).toEqual([expect.objectContaining({ kind: 'missed_waypoint', amountMs: 300_000 })]);
    expect(of(facts, 'anomaly')).toEqual([expect.objectContaining({ kind: 'missed_waypoint', severity: 'warning' })]);
    const [result] = of(facts, 'stage_result');
    expect(result!.totalMs).toBe(result!.elapsedMs! + 300_000);
  });

  it('ignores a car driving back through the start line', () => {
    const backwards = track({ zoneKmh: 45 }).reverse().map((f, i) => ({ ...f, ts: T0 + i * 1000 }));
    const facts = Object.values(run(backwards).state.facts);
    expect(of(facts, 'crossing')).toEqual([]);
    expect(of(facts, 'stage_result')).toEqual([]);
  });

  it('counts a crossing once when GPS jitter takes the car back and forth over the line', () => {
    const base = track({ zoneKmh: 45 });
    const jitter = [...base.slice(0, 6), { ...base[6]!, lon: along(95)[0] }, ...base.slice(7)];
    const facts = Object.values(run(jitter).state.facts);
    expect(of(facts, 'crossing').filter((c) => c.kind === 'start')).toHaveLength(1);
  });

  it('reports a signal loss while running: opened by the clock, closed by the next fix', () => {
    const fixes = track({ zoneKmh: 45 });
    const pipeline = new DevicePipeline(testContext());
    pipeline.pushAll(fixes.slice(0, 20));
    const lastTs = fixes[19]!.ts;
    const opened = pipeline.tick(lastTs + 61_000);
    expect(opened.upserts).toEqual([expect.objectContaining({ kind: 'signal_loss', startedAt: lastTs, endedAt: null })]);
    expect(pipeline.tick(lastTs + 62_000).upserts).toEqual([]);
    const resumed = fixes.slice(20).map((f) => ({ ...f, ts: f.ts + 90_000 }));
    const closed = pipeline.pushAll(resumed);
    const anomaly = closed.upserts.find((f) => f.type === 'anomaly' && f.kind === 'signal_loss');
    expect(anomaly).toMatchObject({ key: opened.upserts[0]!.key, startedAt: lastTs, endedAt: lastTs + 91_000 });
  });

  it("takes back a signal loss the clock opened when the silent tracker's fixes come with no gap (a buffered upload)", () => {
    const fixes = track({ zoneKmh: 45 });
    const pipeline = new DevicePipeline(testContext());
    pipeline.pushAll(fixes.slice(0, 20));
    const opened = pipeline.tick(fixes[19]!.ts + 61_000);
    const key = opened.upserts[0]!.key;
    const uploaded = pipeline.push(fixes[20]!);
    expect(uploaded.retractions).toEqual([key]);
    expect(uploaded.upserts.some((f) => f.key === key)).toBe(false);
    expect(pipeline.state.facts[key]).toBeUndefined();
    // The rest as they were, and the same facts as the fixes replayed without the clock.
    pipeline.pushAll(fixes.slice(21));
    expect(trackFacts(pipeline)).toEqual(trackFacts(run(fixes)));
  });

  it('does not judge silent a tracker whose fixes, dated minutes ago, are still coming; its silence after them counts from the last', () => {
    // A tracker back in coverage uploads its buffered fixes: each is 10 minutes old, but they keep coming.
    const fixes = track({ zoneKmh: 45 });
    const delay = 600_000;
    const pipeline = new DevicePipeline(testContext());
    const ticked: FactChanges[] = [];
    for (const fix of fixes.slice(0, 20)) {
      pipeline.push(fix, fix.ts + delay);
      ticked.push(pipeline.tick(fix.ts + delay + 500));
    }
    expect(ticked.flatMap((t) => t.upserts)).toEqual([]);
    const heard = fixes[19]!.ts + delay;
    expect(pipeline.tick(heard + 60_000).upserts).toEqual([]);
    // Then nothing more: silent since its last fix, opened once the clock has not heard from it for the limit.
    const opened = pipeline.tick(heard + 61_000);
    expect(opened.upserts).toEqual([expect.objectContaining({ kind: 'signal_loss', startedAt: fixes[19]!.ts, endedAt: null })]);
  });

  it('keeps a signal loss the clock opened when a late fix from before it makes the window be evaluated again', () => {
    const fixes = track({ zoneKmh: 45 });
    const pipeline = new DevicePipeline(testContext());
    const withheld = fixes[18]!;
    for (const fix of fixes.slice(0, 20)) if (fix !== withheld) pipeline.push(fix, fix.ts);
    const opened = pipeline.tick(fixes[19]!.ts + 61_000);
    expect(opened.upserts).toEqual([expect.objectContaining({ kind: 'signal_loss', startedAt: fixes[19]!.ts })]);
    // Heard from again (a late fix), but from before the silence: the silence since the newest fix stands.
    const late = pipeline.push(withheld, fixes[19]!.ts + 62_000);
    expect(late.retractions).not.toContain(opened.upserts[0]!.key);
    expect(pipeline.state.facts[opened.upserts[0]!.key]).toMatchObject({ kind: 'signal_loss', endedAt: null });
  });

  it('flags a position jump, keeps it out of the geometry, and carries on', () => {
    const fixes = track({ zoneKmh: 45 });
    const [lon, lat] = along(50_000);
    fixes[30] = { ...fixes[30]!, lon, lat };
    const facts = Object.values(run(fixes).state.facts);
    const jumps = of(facts, 'anomaly').filter((a) => a.kind === 'position_jump');
    expect(jumps).toEqual([expect.objectContaining({ startedAt: fixes[30]!.ts, severity: 'warning' })]);
    expect(of(facts, 'crossing').map((c) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
  });

  it('flags no jump in a burst of fixes milliseconds apart, a metre of GPS jitter between them', () => {
    // A tracker flushing its buffer: 1,000 fixes 1 ms apart after its stage. Each implied over 2,000 km/h, and each
    // was a position_jump anomaly and race event.
    const fixes = track({ zoneKmh: 45 });
    const last = fixes[fixes.length - 1]!;
    const burst = Array.from({ length: 1_000 }, (_, i) => {
      const [lon, lat] = along(1100 + (i % 2), i % 3 === 0 ? 1 : 0);
      return { ts: last.ts + 1 + i, lat, lon, speedKmh: 0 };
    });
    const facts = Object.values(run([...fixes, ...burst]).state.facts);
    expect(of(facts, 'anomaly').filter((a) => a.kind === 'position_jump')).toEqual([]);
    expect(of(facts, 'crossing').map((c) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
  });

  it('declares DNF when the stage closes without a finish', () => {
    const pipeline = run(track({ toM: 700, zoneKmh: 45 }));
    const closesAt = testCourse().stages[0]!.closesAt;
    expect(pipeline.tick(closesAt).upserts.filter((f) => f.type === 'stage_result')).toEqual([]);
    const after = pipeline.tick(closesAt + 1).upserts;
    expect(after).toContainEqual(expect.objectContaining({ type: 'stage_result', status: 'dnf', totalMs: null }));
  });

  it('ignores crossings of a device assigned to no entry at that time', () => {
    const context = { ...testContext(), assignments: [{ entryId: 'entry-1', eventId: 'event-1', validFrom: T0 + 600_000, validTo: null, role: 'primary' as const }] };
    expect(Object.values(run(track(), context).state.facts)).toEqual([]);
  });
});

describe('DevicePipeline with late and repeated fixes', () => {
  const lateOf = (changes: FactChanges) => changes.upserts.filter((f) => f.type === 'anomaly' && f.kind === 'late_data');
  const ordered = track({ zoneKmh: 60 });
  const expected = trackFacts(run(ordered));

  it('ignores a resent fix', () => {
    const pipeline = run(ordered);
    expect(pipeline.push(ordered[10]!)).toEqual({ upserts: [], retractions: [] });
    expect(trackFacts(pipeline)).toEqual(expected);
  });

  it('puts a late fix back in order, re-evaluates, and reports the late arrival as info', () => {
    const withheld = ordered[20]!;
    const pipeline = new DevicePipeline(testContext());
    pipeline.pushAll(ordered.filter((f) => f !== withheld).slice(0, 40));
    const changes = pipeline.push(withheld);
    expect(changes.upserts).toContainEqual(expect.objectContaining({ kind: 'late_data', severity: 'info', startedAt: withheld.ts, details: expect.objectContaining({ fixes: 1 }) }));
    pipeline.pushAll(ordered.slice(41));
    expect(trackFacts(pipeline)).toEqual(expected);
  });

  it('retracts a crossing that a late fix moves, and upserts the corrected one', () => {
    // Without fix 5 the start is interpolated between fixes 4 and 6, with it between 5 and 6: same line, new time
    // only if the track bends there; here a detour north makes the two interpolations differ.
    const bent = ordered.map((f, i) => (i === 5 ? { ...f, lon: along(95, 40)[0], lat: along(95, 40)[1] } : f));
    const pipeline = new DevicePipeline(testContext());
    pipeline.pushAll(bent.filter((_, i) => i !== 5).slice(0, 15));
    const before = of(Object.values(pipeline.state.facts), 'crossing')[0]!;
    const changes = pipeline.push(bent[5]!);
    const after = of(Object.values(pipeline.state.facts), 'crossing')[0]!;
    expect(after.crossedAt).not.toBe(before.crossedAt);
    expect(changes.retractions).toContain(before.key);
    expect(changes.upserts).toContainEqual(after);
  });

  it('reports a fix older than the window as late data it could not re-evaluate', () => {
    const pipeline = run(ordered, testContext(testCourse(), { lateWindowMs: 10_000 }));
    const changes = pipeline.push({ ...ordered[2]!, ts: ordered[2]!.ts + 1 });
    expect(changes.upserts).toEqual([expect.objectContaining({ kind: 'late_data', severity: 'warning', details: expect.objectContaining({ reevaluated: false }) })]);
  });

  it('reports a burst of buffered fixes as one late-data anomaly that counts them, announced as it begins and ends', () => {
    const pipeline = run(ordered, testContext(testCourse(), { lateWindowMs: 10_000 }));
    const buffered = ordered.slice(2, 12).map((f) => ({ ...f, ts: f.ts + 1 }));
    const lateData = (details: Record<string, unknown>) => expect.objectContaining({ kind: 'late_data', severity: 'warning', startedAt: buffered[0]!.ts, details: expect.objectContaining(details) });
    // Each change of a fact is a race event: the burst's first fix announces it, the others only count.
    expect(pipeline.push(buffered[0]!, T0 + 3_600_000).upserts).toEqual([lateData({ fixes: 1 })]);
    for (const fix of buffered.slice(1)) expect(pipeline.push(fix, T0 + 3_600_000)).toEqual({ upserts: [], retractions: [] });
    expect(of(Object.values(pipeline.state.facts), 'anomaly').filter((a) => a.kind === 'late_data')).toEqual([lateData({ fixes: 10, last_fix_at: buffered[9]!.ts })]);
    // A tick while the burst may still be coming: not yet; once it has been quiet for 5 s, its final count, once.
    expect(lateOf(pipeline.tick(T0 + 3_604_999))).toEqual([]);
    expect(lateOf(pipeline.tick(T0 + 3_605_000))).toEqual([lateData({ fixes: 10, last_fix_at: buffered[9]!.ts })]);
    expect(lateOf(pipeline.tick(T0 + 3_606_000))).toEqual([]);
  });

  it('announces a burst of late fixes with its final count when a newer fix ends it', () => {
    const pipeline = run(ordered.slice(0, 30), testContext(testCourse(), { lateWindowMs: 10_000 }));
    const buffered = ordered.slice(2, 7).map((f) => ({ ...f, ts: f.ts + 1 }));
    pipeline.pushAll(buffered);
    const next = pipeline.push(ordered[30]!);
    expect(next.upserts).toContainEqual(expect.objectContaining({ kind: 'late_data', details: expect.objectContaining({ fixes: 5 }) }));
    // A second burst behind the new newest fix is an anomaly of its own.
    expect(pipeline.push({ ...ordered[8]!, ts: ordered[8]!.ts + 1 }).upserts).toEqual([expect.objectContaining({ kind: 'late_data', details: expect.objectContaining({ fixes: 1 }) })]);
  });

  it('announces out-of-order fixes put back in order once per burst, and the count when it ends', () => {
    const pipeline = new DevicePipeline(testContext(testCourse(), { lateNoticeMs: 0 }));
    pipeline.pushAll(ordered.slice(0, 20));
    expect(lateOf(pipeline.push({ ...ordered[15]!, ts: ordered[15]!.ts + 1 }))).toEqual([expect.objectContaining({ severity: 'info', details: expect.objectContaining({ fixes: 1 }) })]);
    expect(lateOf(pipeline.push({ ...ordered[16]!, ts: ordered[16]!.ts + 1 }))).toEqual([]);
    expect(lateOf(pipeline.push({ ...ordered[17]!, ts: ordered[17]!.ts + 1 }))).toEqual([]);
    expect(lateOf(pipeline.push(ordered[20]!))).toEqual([expect.objectContaining({ severity: 'info', details: expect.objectContaining({ fixes: 3 }) })]);
  });

  it('raises nothing for fixes swapped with their neighbours, and reports a fix re-timed from lateNoticeMs behind', () => {
    // A tracker that sends every twentieth fix a second after the next one: each swap is timed, none announced.
    const swapped = ordered.map((f, i) => (i % 20 === 1 ? ordered[i + 1]! : i % 20 === 2 ? ordered[i - 1]! : f));
    const jittery = run(swapped, testContext(testCourse(), { lateNoticeMs: 10_000 }));
    expect(trackFacts(jittery)).toEqual(expected);
    expect(of(Object.values(jittery.state.facts), 'anomaly').filter((a) => a.kind === 'late_data')).toEqual([]);
    // A fix arriving 9 s behind the newest (the track is 1 Hz): timed, not announced; one 10 s behind, announced.
    const pipeline = new DevicePipeline(testContext(testCourse(), { lateNoticeMs: 10_000 }));
    pipeline.pushAll(ordered.slice(0, 30).filter((_, i) => i !== 19 && i !== 20));
    expect(lateOf(pipeline.push(ordered[20]!))).toEqual([]);
    expect(lateOf(pipeline.push({ ...ordered[19]!, ts: ordered[29]!.ts - 10_000 }))).toEqual([
      expect.objectContaining({ severity: 'info', details: expect.objectContaining({ fixes: 1, delay_ms: 10_000 }) }),
    ]);
    // A fix too old to be re-evaluated is reported whatever its delay.
    const old = run(ordered.slice(0, 30), testContext(testCourse(), { lateWindowMs: 5000, lateNoticeMs: 10_000 }));
    expect(lateOf(old.push({ ...ordered[22]!, ts: ordered[22]!.ts + 1 }))).toEqual([expect.objectContaining({ severity: 'warning', details: expect.objectContaining({ reevaluated: false }) })]);
  });

  it('puts the announcement of a late burst back with the rest when a batch is undone', () => {
    const pipeline = run(ordered.slice(0, 30), testContext(testCourse(), { lateWindowMs: 10_000 }));
    pipeline.push({ ...ordered[2]!, ts: ordered[2]!.ts + 1 });
    const undo = pipeline.checkpoint();
    pipeline.push({ ...ordered[3]!, ts: ordered[3]!.ts + 1 });
    expect(pipeline.push(ordered[30]!).upserts).toContainEqual(expect.objectContaining({ kind: 'late_data', details: expect.objectContaining({ fixes: 2 }) }));
    undo();
    // Delivered again: the same count is withheld, then announced by the fix that ends the burst.
    expect(pipeline.push({ ...ordered[3]!, ts: ordered[3]!.ts + 1 }).upserts).toEqual([]);
    expect(pipeline.push(ordered[30]!).upserts).toContainEqual(expect.objectContaining({ kind: 'late_data', details: expect.objectContaining({ fixes: 2 }) }));
  });

  it('times the true fixes that follow one dated minutes ahead of the clock, as if it had come at its own time', () => {
    // A tracker's clock jumped once: a fix 4 minutes ahead (within the processor's MAX_FUTURE_SKEW_MS, over the
    // 2-minute late window), then its true fixes, each arriving a second after it was taken.
    const ahead = { ...ordered.at(-1)!, ts: ordered[0]!.ts + 240_000 };
    const live = new DevicePipeline(testContext());
    live.push(ahead, ordered[0]!.ts - 1000);
    for (const fix of ordered) live.push(fix, fix.ts + 1000);
    expect(of(trackFacts(live), 'crossing').sort((a, b) => a.crossedAt - b.crossedAt).map((c) => c.kind)).toEqual(['start', 'split', 'finish']);
    expect(trackFacts(live)).toEqual(trackFacts(run([...ordered, ahead])));
    // Their arrival after a later-dated fix is still reported, as re-evaluated (info), once for the burst.
    const late = of(Object.values(live.state.facts), 'anomaly').filter((a) => a.kind === 'late_data');
    expect(late).toEqual([expect.objectContaining({ severity: 'info', details: expect.objectContaining({ fixes: ordered.length, reevaluated: true }) })]);
  });

  it('times a backlog read after one of its fixes dated minutes ahead of the clock as if it had come in order', () => {
    // The processor catches up after an outage (or a tracker empties its buffer): every fix is minutes old when it
    // is read, and one of them was stamped four minutes ahead of the clock. Judged from the clock, every true fix
    // after it was too late to be timed: a tester's car kept none of its later penalties until a restart.
    const now = ordered.at(-1)!.ts + 600_000;
    const ahead = { ...ordered[10]!, ts: now + 240_000 };
    const backlog = new DevicePipeline(testContext());
    const changes = [...ordered.slice(0, 11), ahead, ...ordered.slice(11)].map((fix) => backlog.push(fix, now));
    // Its crossings and penalties as in order (the stamped fix, a point of the village at 72 km/h, is a speeding
    // anomaly of its own, after the stage).
    const timing = (facts: Fact[]) => [...of(facts, 'crossing'), ...of(facts, 'penalty')];
    expect(timing(trackFacts(backlog))).toEqual(timing(expected));
    expect(of(trackFacts(backlog), 'crossing').map((c) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
    expect(of(trackFacts(backlog), 'penalty').length).toBeGreaterThan(0);
    // No silence was announced for the fixes that came after the stamped one.
    expect(changes.flatMap((c) => c.upserts).filter((f) => f.type === 'anomaly' && f.kind === 'signal_loss')).toEqual([]);
  });

  it('keeps a fix dated minutes ahead out of the timing until the clock reaches it, then times it in its place', () => {
    // A tester's tracker, its fixes on time, sent one copy of its fix before the village dated 4 minutes ahead. Timed
    // at once it was the track's last point: each true fix after it was evaluated again up to it, and the car got a
    // speeding penalty growing every second, each change a race event, until the clock caught up.
    const ahead = { ...ordered[12]!, ts: ordered[12]!.ts + 240_000 };
    const live = new DevicePipeline(testContext());
    const clean = new DevicePipeline(testContext());
    const changes: FactChanges[] = [];
    const cleanChanges: FactChanges[] = [];
    ordered.forEach((fix, i) => {
      changes.push(live.push(fix, fix.ts + 1000));
      cleanChanges.push(clean.push(fix, fix.ts + 1000));
      if (i === 12) changes.push(live.push(ahead, fix.ts + 1500));
    });
    expect(changes.filter((c) => c.upserts.length + c.retractions.length > 0)).toEqual(cleanChanges.filter((c) => c.upserts.length + c.retractions.length > 0));
    expect(of(changes.flatMap((c) => c.upserts), 'penalty').map((p) => p.amountMs)).toEqual(of(expected, 'penalty').map((p) => p.amountMs));
    // Half a minute before its time it still waits; at its time it is timed as if it had come in order.
    expect(live.tick(ahead.ts - 30_000)).toEqual(clean.tick(ahead.ts - 30_000));
    live.tick(ahead.ts);
    expect(trackFacts(live)).toEqual(trackFacts(run([...ordered, ahead])));
    // Undone with its batch, it is held no more.
    const again = new DevicePipeline(testContext());
    ordered.forEach((fix) => again.push(fix, fix.ts + 1000));
    const beforeGlitch = again.checkpoint();
    again.push(ahead, ordered.at(-1)!.ts + 1500);
    beforeGlitch();
    again.tick(ahead.ts);
    expect(trackFacts(again)).toEqual(trackFacts(clean));
  });

  it('raises no signal loss, neither once nor a second at a time, for the true fixes that follow one dated minutes ahead', () => {
    // Mid-stage, a tracker's clock jumps 200 s ahead for one fix; its true fixes go on arriving a second after they
    // are taken. Each was evaluated again before the glitch, and a "signal loss" from it to the glitch was announced
    // anew: one alert a second, until the clock caught up with the glitch.
    const ahead = { ...ordered[10]!, ts: ordered[10]!.ts + 200_000 };
    const live = new DevicePipeline(testContext());
    const changes = ordered.slice(0, 10).map((fix) => live.push(fix, fix.ts + 1000));
    changes.push(live.push(ahead, ordered[9]!.ts + 1500));
    for (const fix of ordered.slice(10)) changes.push(live.push(fix, fix.ts + 1000));
    const losses = changes.flatMap((c) => c.upserts).filter((f) => f.type === 'anomaly' && f.kind === 'signal_loss');
    expect(losses).toEqual([]);
    expect(of(trackFacts(live), 'crossing').map((c) => [c.kind, c.crossedAt])).toEqual(of(expected, 'crossing').map((c) => [c.kind, c.crossedAt]));
    // A true silence of 90 s, its fixes arriving as they are taken, is still one signal loss.
    const silent = new DevicePipeline(testContext());
    const gap = [...ordered.slice(0, 10), ...ordered.slice(10).map((fix) => ({ ...fix, ts: fix.ts + 90_000 }))];
    const gapChanges = gap.map((fix) => silent.push(fix, fix.ts + 1000));
    expect(gapChanges.flatMap((c) => c.upserts).filter((f) => f.type === 'anomaly' && f.kind === 'signal_loss')).toEqual([
      expect.objectContaining({ startedAt: ordered[9]!.ts, endedAt: ordered[10]!.ts + 90_000 }),
    ]);
  });

  it('gives the same facts for any delivery order within the late window (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: ordered.length - 2 }), { maxLength: 25 }), fc.integer({ min: 1, max: 30 }), (swaps, reach) => {
        const delivered = [...ordered];
        for (const i of swaps) {
          const j = Math.min(delivered.length - 1, i + (reach % 8) + 1);
          [delivered[i], delivered[j]] = [delivered[j]!, delivered[i]!];
        }
        const pipeline = new DevicePipeline(testContext());
        pipeline.pushAll(delivered);
        expect(trackFacts(pipeline)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('puts a late fix in its place after a tick whose clock is ahead of the fixes (regression: RangeError "not after")', () => {
    // The processor ticks with the wall clock; on historical or delayed data that clock is later than the fixes that
    // follow the tick, so the history is not in time order by `at`. A late fix must still go between its fixes.
    const withheld = ordered[35]!;
    const clock = ordered[30]!.ts + 3_600_000;
    const late = new DevicePipeline(testContext());
    late.pushAll(ordered.slice(0, 31));
    late.tick(clock);
    late.pushAll(ordered.slice(31, 45).filter((f) => f !== withheld));
    expect(() => late.push(withheld)).not.toThrow();
    late.pushAll(ordered.slice(45));
    const inOrder = new DevicePipeline(testContext());
    inOrder.pushAll(ordered.slice(0, 31));
    inOrder.tick(clock);
    inOrder.pushAll(ordered.slice(31));
    expect(trackFacts(late)).toEqual(trackFacts(inOrder));
  });

  it('does not mutate the fixes it is given', () => {
    const copy = structuredClone(ordered);
    run(ordered);
    expect(ordered).toEqual(copy);
  });
});
