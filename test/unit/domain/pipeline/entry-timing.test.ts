import { describe, expect, it } from 'vitest';
import type { Fix } from '../../../../src/domain/course.ts';
import { DevicePipeline } from '../../../../src/domain/pipeline/device-pipeline.ts';
import { entryTiming, isTimingFact, type TrackerView } from '../../../../src/domain/pipeline/entry-timing.ts';
import { EntryTimings, sharedEntries } from '../../../../src/domain/pipeline/entry-timings.ts';
import type { CrossingFact, Fact, StageResultFact } from '../../../../src/domain/pipeline/facts.ts';
import { defaultPipelineOptions, type EntryAssignment, type TrackerRole } from '../../../../src/domain/pipeline/pipeline-context.ts';
import { pipelineContexts } from '../../../../src/domain/pipeline/pipeline-contexts.ts';
import { speeding, T0, testCourse, track } from './fixtures.ts';

const PRIMARY = '350000000000001';
const BACKUP = '350000000000002';
const SIGNAL_LOSS = defaultPipelineOptions.signalLossMs;

const assignment = (role: TrackerRole): EntryAssignment => ({ entryId: 'entry-1', eventId: 'event-1', validFrom: null, validTo: null, role });

function setup(course = testCourse()) {
  const assignments = new Map([
    [PRIMARY, [assignment('primary')]],
    [BACKUP, [assignment('backup')]],
  ]);
  return { course, assignments, contexts: pipelineContexts({ course, assignments, speeding: new Map([['event-1', speeding]]) }, defaultPipelineOptions) };
}

/** Runs each tracker's fixes through its own pipeline, ticks them all at `tickAt`, and returns their views. */
function views(fixes: Record<string, Fix[]>, { course = testCourse(), tickAt }: { course?: ReturnType<typeof testCourse>; tickAt?: number } = {}): TrackerView[] {
  const { contexts } = setup(course);
  return Object.entries(fixes).map(([deviceId, list]) => {
    const pipeline = new DevicePipeline(contexts.get(deviceId)!);
    pipeline.pushAll(list);
    if (tickAt !== undefined) pipeline.tick(tickAt);
    return { deviceId, role: deviceId === PRIMARY ? 'primary' : 'backup', state: pipeline.state };
  });
}

const crossings = (facts: Fact[]) => facts.filter((f): f is CrossingFact => f.type === 'crossing').sort((a, b) => a.crossedAt - b.crossedAt);
const results = (facts: Fact[]) => facts.filter((f): f is StageResultFact => f.type === 'stage_result');
const timingOf = (view: TrackerView) => Object.values(view.state.facts).filter(isTimingFact);
const byKey = (facts: Fact[]) => [...facts].sort((a, b) => a.key.localeCompare(b.key));

// The backup rides 3 m to the side and reports 400 ms later in each second, as a second GPS module does.
const primaryTrack = (to = 1100) => track({ toM: to, zoneKmh: 72 });
const backupTrack = (to = 1100) => track({ toM: to, zoneKmh: 72, north: 3, start: T0 + 650 });

describe('entryTiming: one entry, two trackers', () => {
  it('times the finish from the backup when the primary went silent before it: one result, sources recorded', () => {
    const timing = entryTiming('entry-1', views({ [PRIMARY]: primaryTrack(800), [BACKUP]: backupTrack() }), testCourse(), SIGNAL_LOSS);
    const timed = crossings(timing);
    expect(timed.map((c) => [c.kind, c.deviceId])).toEqual([['start', PRIMARY], ['split', PRIMARY], ['finish', BACKUP]]);
    const [result] = results(timing);
    expect(results(timing)).toHaveLength(1);
    expect(result).toMatchObject({ status: 'finished', startedAt: timed[0]!.crossedAt, finishedAt: timed[2]!.crossedAt, elapsedMs: timed[2]!.crossedAt - timed[0]!.crossedAt });
    // The speed zone was measured by both: charged once, by the primary.
    const penalties = timing.filter((f) => f.type === 'penalty');
    expect(penalties).toHaveLength(1);
    expect(result!.penaltyMs).toBe(penalties.reduce((sum, p) => sum + (p.type === 'penalty' ? p.amountMs : 0), 0));
    expect(result!.totalMs).toBe(result!.elapsedMs! + result!.penaltyMs);
  });

  it('takes every gate from the primary when it has them all', () => {
    const trackers = views({ [PRIMARY]: primaryTrack(), [BACKUP]: backupTrack() });
    const timing = entryTiming('entry-1', trackers, testCourse(), SIGNAL_LOSS);
    expect(crossings(timing).every((c) => c.deviceId === PRIMARY)).toBe(true);
    expect(byKey(timing)).toEqual(byKey(timingOf(trackers[0]!)));
  });

  it('takes the backup crossing where the primary only crossed the line across a silence', () => {
    // The primary drops out at 900 m and comes back two minutes later past the finish.
    const silent = primaryTrack().filter((f) => f.ts < T0 + 45_000 || f.ts > T0 + 58_000).map((f) => (f.ts > T0 + 58_000 ? { ...f, ts: f.ts + 120_000 } : f));
    const timing = entryTiming('entry-1', views({ [PRIMARY]: silent, [BACKUP]: backupTrack() }), testCourse(), SIGNAL_LOSS);
    expect(crossings(timing).map((c) => [c.kind, c.deviceId])).toEqual([['start', PRIMARY], ['split', PRIMARY], ['finish', BACKUP]]);
  });

  it('counts a waypoint that either tracker validated', () => {
    // The backup rides 40 m off the waypoint (tolerance 30 m): alone it would miss it; the primary passed it.
    const wide = track({ zoneKmh: 72, north: 40, start: T0 + 650 });
    const trackers = views({ [PRIMARY]: primaryTrack(800), [BACKUP]: wide });
    expect(timingOf(trackers[1]!).some((f) => f.type === 'penalty' && f.kind === 'missed_waypoint')).toBe(true);
    const timing = entryTiming('entry-1', trackers, testCourse(), SIGNAL_LOSS);
    expect(timing.some((f) => f.type === 'penalty' && f.kind === 'missed_waypoint')).toBe(false);
    expect(timing.some((f) => f.type === 'anomaly')).toBe(false);
  });

  it('charges a waypoint no tracker validated once, reported against the tracker that finished', () => {
    const wide = (start: number) => track({ zoneKmh: 72, north: 40, start });
    const timing = entryTiming('entry-1', views({ [PRIMARY]: wide(T0 + 250).filter((f) => f.ts < T0 + 40_000), [BACKUP]: wide(T0 + 650) }), testCourse(), SIGNAL_LOSS);
    const missed = timing.filter((f) => f.type === 'penalty' && f.kind === 'missed_waypoint');
    expect(missed).toHaveLength(1);
    expect(timing.filter((f) => f.type === 'anomaly')).toEqual([expect.objectContaining({ kind: 'missed_waypoint', deviceId: BACKUP })]);
    expect(results(timing)[0]!.penaltyMs).toBe(300_000 + timing.filter((f) => f.type === 'penalty' && f.kind === 'speeding').reduce((s, f) => s + (f.type === 'penalty' ? f.amountMs : 0), 0));
  });

  it('is running while a tracker runs the stage, DNF once the stage closed for all of them', () => {
    const running = entryTiming('entry-1', views({ [PRIMARY]: primaryTrack(800), [BACKUP]: backupTrack(800) }), testCourse(), SIGNAL_LOSS);
    expect(results(running)).toEqual([expect.objectContaining({ status: 'running', finishedAt: null, totalMs: null })]);
    const closed = testCourse().stages[0]!.closesAt + 1;
    const dnf = entryTiming('entry-1', views({ [PRIMARY]: primaryTrack(800), [BACKUP]: backupTrack(800) }, { tickAt: closed }), testCourse(), SIGNAL_LOSS);
    expect(results(dnf)).toEqual([expect.objectContaining({ status: 'dnf' })]);
    const finished = entryTiming('entry-1', views({ [PRIMARY]: primaryTrack(800), [BACKUP]: backupTrack() }, { tickAt: closed }), testCourse(), SIGNAL_LOSS);
    expect(results(finished)).toEqual([expect.objectContaining({ status: 'finished' })]);
  });

  it('with one tracker, is exactly that tracker timing', () => {
    for (const fixes of [primaryTrack(), primaryTrack(800), track({ zoneKmh: 72, north: 40 })]) {
      const [view] = views({ [PRIMARY]: fixes });
      expect(byKey(entryTiming('entry-1', [view!], testCourse(), SIGNAL_LOSS))).toEqual(byKey(timingOf(view!)));
    }
  });

  it('does not depend on the order the trackers are given in', () => {
    const trackers = views({ [PRIMARY]: primaryTrack(800), [BACKUP]: backupTrack() });
    expect(entryTiming('entry-1', [...trackers].reverse(), testCourse(), SIGNAL_LOSS)).toEqual(entryTiming('entry-1', trackers, testCourse(), SIGNAL_LOSS));
  });
});

describe('sharedEntries', () => {
  it('lists the entries carried by more than one tracker, with their roles', () => {
    const { assignments } = setup();
    const single = new Map([...assignments, ['350000000000003', [{ ...assignment('primary'), entryId: 'entry-2' }]]]);
    expect(sharedEntries(single)).toEqual(new Map([['entry-1', [{ deviceId: PRIMARY, role: 'primary' }, { deviceId: BACKUP, role: 'backup' }]]]));
  });
});

describe('EntryTimings', () => {
  it('keeps back the timing facts of a shared entry, passes the tracker anomalies, and emits the entry timing as changes', () => {
    const { assignments, contexts, course } = setup();
    const timings = new EntryTimings(sharedEntries(assignments));
    const primary = new DevicePipeline(contexts.get(PRIMARY)!);
    const backup = new DevicePipeline(contexts.get(BACKUP)!);
    const routed = timings.route(primary.pushAll(primaryTrack(800)), contexts.get(PRIMARY)!);
    expect(routed.entries).toEqual(new Set(['entry-1']));
    expect(routed.own.upserts.every((f) => f.type === 'anomaly' && f.kind !== 'missed_waypoint')).toBe(true);
    timings.route(backup.pushAll(backupTrack()), contexts.get(BACKUP)!);
    const trackers = (): TrackerView[] => [
      { deviceId: PRIMARY, role: 'primary', state: primary.state },
      { deviceId: BACKUP, role: 'backup', state: backup.state },
    ];
    const first = timings.retime('entry-1', trackers(), course, SIGNAL_LOSS);
    expect(byKey(first.upserts)).toEqual(byKey(entryTiming('entry-1', trackers(), course, SIGNAL_LOSS)));
    expect(timings.retime('entry-1', trackers(), course, SIGNAL_LOSS)).toEqual({ upserts: [], retractions: [] });
  });

  it('retracts what the entry timing no longer holds, and a checkpoint takes it back', () => {
    const { assignments, contexts, course } = setup();
    const timings = new EntryTimings(sharedEntries(assignments));
    const primary = new DevicePipeline(contexts.get(PRIMARY)!);
    const backup = new DevicePipeline(contexts.get(BACKUP)!);
    primary.pushAll(primaryTrack(800));
    backup.pushAll(backupTrack());
    const view = (p: DevicePipeline, deviceId: string, role: TrackerRole): TrackerView => ({ deviceId, role, state: p.state });
    timings.retime('entry-1', [view(primary, PRIMARY, 'primary'), view(backup, BACKUP, 'backup')], course, SIGNAL_LOSS);
    const undo = timings.checkpoint();
    // The backup alone is left (the primary was unassigned): its own start and split replace the primary's.
    const changes = timings.retime('entry-1', [view(backup, BACKUP, 'backup')], course, SIGNAL_LOSS);
    expect(changes.retractions.filter((k) => k.startsWith('crossing:'))).toHaveLength(2);
    undo();
    expect(timings.retime('entry-1', [view(primary, PRIMARY, 'primary'), view(backup, BACKUP, 'backup')], course, SIGNAL_LOSS)).toEqual({ upserts: [], retractions: [] });
  });

  it('passes everything through when no entry has two trackers', () => {
    const { contexts } = setup();
    const changes = new DevicePipeline(contexts.get(PRIMARY)!).pushAll(primaryTrack());
    expect(new EntryTimings().route(changes, contexts.get(PRIMARY)!)).toEqual({ own: changes, entries: new Set() });
  });
});
