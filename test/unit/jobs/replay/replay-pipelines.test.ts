import { describe, expect, it } from 'vitest';
import { demoEntries, demoId, demoRaceItems } from '../../../../src/demo/demo-race.ts';
import type { Course, Fix } from '../../../../src/domain/course.ts';
import { buildGeofenceIndex } from '../../../../src/domain/geofence/index.ts';
import { DevicePipeline } from '../../../../src/domain/pipeline/device-pipeline.ts';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';
import { defaultPipelineOptions, type PipelineContext, type PipelineOptions } from '../../../../src/domain/pipeline/pipeline-context.ts';
import { ReplayPipelines } from '../../../../src/jobs/replay/replay-pipelines.ts';
import { simulateRace } from '../../../../src/simulator/race-schedule.ts';
import { speeding } from '../../domain/pipeline/fixtures.ts';

type Items = Record<string, Record<string, any>[]>;

/** The demo race's course, as loadRaceSetup would build it from the items setup creates. */
function demoCourse(now: Date): Course {
  const items = demoRaceItems(now) as Items;
  return {
    stages: items['stages']!.map((s) => ({ id: s.id, eventId: s.event, name: s.name, sortOrder: s.sort_order, opensAt: Date.parse(s.opens_at), closesAt: Date.parse(s.closes_at) })),
    gates: items['geofences']!.filter((g) => g.kind.endsWith('_line')).map((g) => ({
      id: g.id, stageId: g.stage, kind: g.kind, name: g.name, line: g.geometry.coordinates, directionDeg: g.direction_deg, sortOrder: g.sort_order,
    })),
    zones: items['geofences']!.filter((g) => g.kind === 'speed_zone').map((g) => ({
      id: g.id, eventId: g.event, stageId: g.stage, kind: g.kind, name: g.name, polygon: g.geometry.coordinates, speedLimitKmh: g.speed_limit_kmh,
    })),
    waypoints: items['waypoints']!.map((w) => ({
      id: w.id, stageId: w.stage, name: w.name, location: w.location.coordinates, toleranceMeters: w.tolerance_meters, sortOrder: w.sort_order, penaltyMs: w.penalty_ms,
    })),
  };
}

const now = new Date(Date.UTC(2026, 10, 28, 8));
const course = demoCourse(now);
const index = buildGeofenceIndex(course);
const start = course.stages[0]!.opensAt + 3_600_000;
const fixes = simulateRace({ start, entries: 8, seed: 11 });
const contexts = (options: PipelineOptions) =>
  new Map<string, PipelineContext>(
    demoEntries.slice(0, 8).map((e) => [e.imei, { deviceId: e.imei, course, index, assignments: [{ entryId: e.id, eventId: demoId('event'), validFrom: null, validTo: null, role: 'primary' as const }], speeding: new Map([[demoId('event'), speeding]]), options }]),
  );
const byDevice = (all: typeof fixes) => {
  const map = new Map<string, Fix[]>();
  for (const p of all) map.set(p.deviceId, [...(map.get(p.deviceId) ?? []), { ts: p.ts, lat: p.latitude, lon: p.longitude, speedKmh: p.speed }]);
  return [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
};

/** Feeds the fixes as the COPY parser does: tracker after tracker, each in time order. */
function replay(options: PipelineOptions, tickAt: number): ReplayPipelines {
  const pipelines = new ReplayPipelines(contexts(options), tickAt, 400);
  for (const [deviceId, list] of byDevice(fixes)) {
    pipelines.device(deviceId);
    for (const f of list) pipelines.fix(f.ts, f.lat, f.lon, f.speedKmh);
  }
  pipelines.finish();
  return pipelines;
}

/** The live way: every change a DevicePipeline emits, merged by key. */
function live(options: PipelineOptions, tickAt: number): Map<string, Fact> {
  const facts = new Map<string, Fact>();
  for (const [deviceId, list] of byDevice(fixes)) {
    const pipeline = new DevicePipeline(contexts(options).get(deviceId)!);
    for (const changes of [...list.map((f) => pipeline.push(f)), pipeline.tick(tickAt)]) {
      for (const key of changes.retractions) facts.delete(key);
      for (const fact of changes.upserts) facts.set(fact.key, fact);
    }
  }
  return facts;
}

const sorted = (facts: Iterable<Fact>) => [...facts].sort((a, b) => a.key.localeCompare(b.key));

describe('ReplayPipelines over the demo race', () => {
  const end = Math.max(...fixes.map((f) => f.ts)) + 3_600_000;

  it('computes the same facts as live pipelines with the default late window (replay runs without one)', () => {
    const replayed = replay({ ...defaultPipelineOptions, lateWindowMs: 0 }, end);
    const expected = live(defaultPipelineOptions, end);
    expect(sorted(replayed.facts.values())).toEqual(sorted(expected.values()));
    // Every entry crosses every line of both stages once.
    expect([...replayed.facts.values()].filter((f) => f.type === 'crossing')).toHaveLength(8 * course.gates.length);
  });

  it('places each crossing on the line, between the two fixes around it', () => {
    const replayed = replay({ ...defaultPipelineOptions, lateWindowMs: 0 }, end);
    for (const fact of replayed.facts.values()) {
      if (fact.type !== 'crossing') continue;
      const [lon, lat] = replayed.crossingPoints.get(fact.key)!;
      const own = fixes.filter((f) => f.deviceId === fact.deviceId);
      const after = own.find((f) => f.ts >= fact.crossedAt)!;
      const before = own.filter((f) => f.ts <= fact.crossedAt).at(-1)!;
      expect(lon).toBeGreaterThanOrEqual(Math.min(before.longitude, after.longitude));
      expect(lon).toBeLessThanOrEqual(Math.max(before.longitude, after.longitude));
      expect(lat).toBeGreaterThanOrEqual(Math.min(before.latitude, after.latitude) - 1e-12);
      expect(lat).toBeLessThanOrEqual(Math.max(before.latitude, after.latitude) + 1e-12);
      const gate = course.gates.find((g) => g.id === fact.gateId)!;
      // Within a metre of the gate line (a straight two-point line across the road).
      const [[x1, y1], [x2, y2]] = gate.line as [[number, number], [number, number]];
      const cross = Math.abs((x2 - x1) * (y1 - lat) - (x1 - lon) * (y2 - y1)) / Math.hypot(x2 - x1, y2 - y1);
      expect(cross * 111_000).toBeLessThan(1);
    }
  });

  it('keeps one thinned track per tracker with its entry, and concludes at the tick: DNF once the stage has closed', () => {
    const replayed = replay({ ...defaultPipelineOptions, lateWindowMs: 0 }, end);
    expect(replayed.tracks.map((t) => t.entryId)).toEqual(byDevice(fixes).map(([imei]) => demoEntries.find((e) => e.imei === imei)!.id));
    for (const track of replayed.tracks) expect(track.points.length).toBeLessThanOrEqual(400);

    // Cut the race short before anyone finishes SS2 and tick after the stages closed: everyone running is DNF.
    const cut = fixes.filter((f) => f.ts < start + 20 * 60_000);
    const pipelines = new ReplayPipelines(contexts({ ...defaultPipelineOptions, lateWindowMs: 0 }), course.stages[0]!.closesAt + 1, 400);
    for (const [deviceId, list] of byDevice(cut)) {
      pipelines.device(deviceId);
      for (const f of list) pipelines.fix(f.ts, f.lat, f.lon, f.speedKmh);
    }
    pipelines.finish();
    const statuses = [...pipelines.facts.values()].flatMap((f) => (f.type === 'stage_result' ? [f.status] : []));
    expect(statuses).toContain('dnf');
    expect(statuses).not.toContain('running');
  });

  it('ignores rows of trackers it has no context for', () => {
    const pipelines = new ReplayPipelines(contexts(defaultPipelineOptions), end, 400);
    pipelines.device('000000000000000');
    pipelines.fix(start, 31, -4, 50);
    pipelines.finish();
    expect(pipelines.skipped).toBe(1);
    expect(pipelines.tracks).toEqual([]);
  });
});
