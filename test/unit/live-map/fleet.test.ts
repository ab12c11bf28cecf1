import { describe, expect, it } from 'vitest';
import { carsOf, compassPoint, extendTrail, isFix, isStale, offerFix, trackerAt, type Fix } from '../../../extensions/pitwall/src/pitwall-live-map-panel/fleet.ts';
import { stageStateOf } from '../../../extensions/pitwall/src/pitwall-live-map-panel/stage-state.ts';
import { courseFromItems, coursePoints, type LiveTracker, type StageResultState } from '../../../extensions/pitwall/src/shared/live-setup.ts';

const fix = (deviceId: string, ts: number, lon = 5, lat = 31): Fix => ({ deviceId, lat, lon, ts, speed: 80, course: 90, satellites: 11 });
const tracker = (device_id: string, race_number: number, extra: Partial<LiveTracker> = {}): LiveTracker => ({
  device_id, entry: `entry-${race_number}`, race_number, name: `Crew ${race_number}`, role: 'primary', valid_from: null, valid_to: null, ...extra,
});

describe('the live map’s cars', () => {
  it('keep the newest fix of each tracker by GPS time: a late upload of old fixes does not move a car back', () => {
    const fixes = new Map<string, Fix>();
    expect(offerFix(fixes, fix('A', 2000, 5.2))).toBe(true);
    expect(offerFix(fixes, fix('A', 1000, 5.1))).toBe(false);
    expect(offerFix(fixes, fix('A', 2000, 5.3))).toBe(false);
    expect(fixes.get('A')).toMatchObject({ ts: 2000, lon: 5.2 });
    expect(offerFix(fixes, fix('A', 3000, 5.4))).toBe(true);
    expect(offerFix(fixes, fix('B', 500))).toBe(true);
    expect([...fixes.values()].map((f) => [f.deviceId, f.ts])).toEqual([['A', 3000], ['B', 500]]);
  });

  it('read only position entries from the gateway', () => {
    expect(isFix(fix('A', 1))).toBe(true);
    expect(isFix({ deviceId: 'A', lat: 1, lon: 2 })).toBe(false);
    expect(isFix({ deviceId: 'A', lat: '1', lon: 2, ts: 3 })).toBe(false);
    expect(isFix({ deviceId: 'A', lat: Number.NaN, lon: 2, ts: 3 })).toBe(false);
    expect(isFix(null)).toBe(false);
  });

  it('go to the entry that carried the tracker at the fix’s time, the primary before a backup', () => {
    const moved = [
      tracker('A', 101, { valid_to: '2026-01-01T12:00:00.000Z' }),
      tracker('A', 102, { valid_from: '2026-01-01T12:00:00.000Z' }),
      tracker('B', 103, { role: 'backup' }),
      tracker('B', 104),
    ];
    expect(trackerAt(moved, 'A', Date.parse('2026-01-01T11:59:59.999Z'))?.race_number).toBe(101);
    expect(trackerAt(moved, 'A', Date.parse('2026-01-01T12:00:00.000Z'))?.race_number).toBe(102);
    expect(trackerAt(moved, 'B', 0)?.race_number).toBe(104);
    expect(trackerAt(moved, 'C', 0)).toBeNull();
  });

  it('are labelled with their race number, ordered by it, and greyed out after the stale time', () => {
    const trackers = [tracker('A', 102), tracker('B', 101)];
    const cars = carsOf([fix('A', 100_000), fix('B', 30_000), fix('X', 100_000)], trackers, 100_000, 60_000);
    expect(cars.map((c) => [c.label, c.stale])).toEqual([['#101', true], ['#102', false], ['X', false]]);
    expect(isStale(fix('A', 40_000), 100_000, 60_000)).toBe(false);
    expect(isStale(fix('A', 39_999), 100_000, 60_000)).toBe(true);
  });

  it('drag a trail of their last fixes, started afresh after a jump of kilometres', () => {
    let trail: [number, number][] = [];
    for (let i = 0; i < 5; i++) trail = extendTrail(trail, fix('A', i, 5 + i * 0.001), 3);
    expect(trail).toEqual([[5.002, 31], [5.003, 31], [5.004, 31]]);
    const before = [...trail];
    // About 10 km further east: a tracker back after a long silence.
    const after = extendTrail(trail, fix('A', 6, 5.1), 3);
    expect(after).toEqual([[5.1, 31]]);
    expect(trail).toEqual(before);
  });

  it('show their heading as a compass point', () => {
    expect([0, 44, 46, 90, 180, 270, 315, 359, 360, -45].map(compassPoint)).toEqual(['N', 'NE', 'NE', 'E', 'S', 'W', 'NW', 'N', 'N', 'NW']);
  });
});

describe('the stage state of a clicked car', () => {
  const names: Record<string, string> = { s1: 'SS1', s2: 'SS2' };
  const stageName = (id: string) => names[id] ?? '?';
  const result = (stage: string, status: StageResultState['status'], extra: Partial<StageResultState> = {}): StageResultState => ({
    entry: 'e', stage, status, started_at: null, finished_at: null, elapsed_ms: null, total_ms: null, ...extra,
  });

  it('is the stage it runs, since when it started', () => {
    const results = [
      result('s1', 'finished', { started_at: '2026-01-01T10:00:00Z', finished_at: '2026-01-01T10:07:00Z', elapsed_ms: 420_000, total_ms: 420_000 }),
      result('s2', 'running', { started_at: '2026-01-01T11:02:03.456Z' }),
    ];
    expect(stageStateOf(results, stageName)).toEqual({ status: 'running', text: 'Running on SS2 since 11:02:03' });
    expect(stageStateOf(results, stageName, { timeZone: 'Africa/Casablanca' }).text).toBe('Running on SS2 since 12:02:03');
  });

  it('is the last stage it ended otherwise, with its time to the tenth and penalties apart', () => {
    const finished = [
      result('s1', 'finished', { started_at: '2026-01-01T10:00:00Z', finished_at: '2026-01-01T10:06:59.006Z', elapsed_ms: 419_006, total_ms: 419_006 }),
    ];
    expect(stageStateOf(finished, stageName)).toEqual({ status: 'finished', text: 'Finished SS1 in 6:59.0' });
    const penalised = [...finished, result('s2', 'finished', { started_at: '2026-01-01T11:00:00Z', finished_at: '2026-01-01T11:05:00Z', elapsed_ms: 300_049, total_ms: 360_049 })];
    expect(stageStateOf(penalised, stageName).text).toBe('Finished SS2 in 5:00.0 (6:00.0 with penalties)');
    expect(stageStateOf([...finished, result('s2', 'dnf', { started_at: '2026-01-01T11:00:00Z' })], stageName)).toEqual({ status: 'dnf', text: 'DNF on SS2' });
    expect(stageStateOf([], stageName)).toEqual({ status: 'none', text: 'No stage started yet' });
  });
});

describe('the course as the live map reads it', () => {
  it('takes gates, zones and waypoints in the domain’s shapes and names what it cannot draw', () => {
    const line = { type: 'LineString', coordinates: [[5, 31], [5.001, 31]] };
    const polygon = { type: 'Polygon', coordinates: [[[5, 31], [5.01, 31], [5.01, 31.01], [5, 31]]] };
    const { course, problems } = courseFromItems(
      'ev',
      [
        { id: 'g1', stage: 's1', name: 'SS1 start', kind: 'start_line', geometry: line, direction_deg: 90, sort_order: null },
        { id: 'z1', stage: null, name: 'Village', kind: 'speed_zone', geometry: polygon, speed_limit_kmh: 50 },
        { id: 'g2', stage: null, name: 'Lost', kind: 'finish_line', geometry: line },
        { id: 'z2', stage: 's1', name: 'Bad', kind: 'zone', geometry: line },
      ],
      [{ id: 'w1', stage: { id: 's1' }, name: 'WP1', location: { type: 'Point', coordinates: [5.005, 31.002] }, tolerance_meters: 90, sort_order: 1, penalty_ms: 60_000 }],
    );
    expect(course.gates).toEqual([{ id: 'g1', stageId: 's1', kind: 'start_line', name: 'SS1 start', line: line.coordinates, directionDeg: 90, sortOrder: null }]);
    expect(course.zones).toEqual([{ id: 'z1', eventId: 'ev', stageId: null, kind: 'speed_zone', name: 'Village', polygon: polygon.coordinates, speedLimitKmh: 50 }]);
    expect(course.waypoints).toEqual([{ id: 'w1', stageId: 's1', name: 'WP1', location: [5.005, 31.002], toleranceMeters: 90, sortOrder: 1, penaltyMs: 60_000 }]);
    expect(problems).toEqual(['geofence Lost: stage: a finish_line belongs to a stage', 'geofence Bad: geometry: a zone needs a Polygon, not a LineString']);
    expect(coursePoints(course)).toHaveLength(2 + 4 + 1);
  });

  it('leaves out, and names, what the timing leaves out: the same checks as the processor', () => {
    const { course, problems } = courseFromItems(
      'ev',
      [
        { id: 'g1', stage: 's1', name: 'One point', kind: 'split_line', geometry: { type: 'LineString', coordinates: [[5, 31]] } },
        { id: 'z1', stage: 's1', name: 'North pole', kind: 'zone', geometry: { type: 'Polygon', coordinates: [[[5, 31], [5.01, 95], [5.01, 31], [5, 31]]] } },
        { id: 'z2', stage: 's1', name: 'Everyone speeds', kind: 'speed_zone', speed_limit_kmh: 0, geometry: { type: 'Polygon', coordinates: [[[5, 31], [5.01, 31], [5.01, 31.01], [5, 31]]] } },
      ],
      [{ id: 'w1', stage: 's1', name: 'WP1', location: { type: 'Point', coordinates: [5, 91] }, tolerance_meters: 90 }],
    );
    expect(course).toEqual({ gates: [], zones: [], waypoints: [] });
    expect(problems).toEqual([
      'geofence One point: geometry: a split_line needs at least 2 points, got 1',
      'geofence North pole: geometry: a zone has an invalid position [5.01, 95]',
      'geofence Everyone speeds: speed_limit_kmh: expected km/h above 0, not 0',
      'waypoint WP1: has an invalid position [5, 91]',
    ]);
  });
});

describe('offerFix on the live clock', () => {
  const now = 1_000_000;
  it('keeps the car at the present when a fix is dated minutes ahead (a tracker clock’s glitch)', () => {
    const fixes = new Map<string, Fix>();
    expect(offerFix(fixes, fix('A', now - 1_000, 5.1), now)).toBe(true);
    expect(offerFix(fixes, fix('A', now + 240_000, 40), now)).toBe(false);
    expect(offerFix(fixes, fix('A', now, 5.2), now)).toBe(true);
    expect(fixes.get('A')!.lon).toBe(5.2);
    // Within the allowed skew it is simply the newest fix.
    expect(offerFix(fixes, fix('A', now + 20_000, 5.3), now)).toBe(true);
  });

  it('shows a glitch when it is all there is, and lets the next fix of the present replace it', () => {
    const fixes = new Map<string, Fix>();
    expect(offerFix(fixes, fix('A', now + 240_000, 40), now)).toBe(true);
    expect(offerFix(fixes, fix('A', now - 5_000, 5.1), now)).toBe(true);
    expect(fixes.get('A')!.lon).toBe(5.1);
    // Without a clock (a playback), newest first as ever.
    expect(offerFix(fixes, fix('A', now + 240_000, 40))).toBe(true);
  });
});
