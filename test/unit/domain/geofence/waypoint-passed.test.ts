import { describe, expect, it } from 'vitest';
import { buildGeofenceIndex, segmentEvents } from '../../../../src/domain/geofence/index.ts';
import { ERFOUD, T0, course, fix, metersBetween, runTrack, straightTrack, to, waypoint } from './helpers.ts';

describe('waypoint.passed', () => {
  const index = buildGeofenceIndex(course({ waypoints: [waypoint('wp', [0, 0], 50)] }));

  it('is validated between two fixes that are both beyond the tolerance, at the closest approach', () => {
    const prev = fix(T0, [-0.001, 0.0004]);
    const cur = fix(T0 + 1000, [0.001, 0.0004]);
    expect(metersBetween([0, 0], [prev.lon, prev.lat])).toBeGreaterThan(110);
    const events = segmentEvents(index, prev, cur, new Set());
    // 0.0004 degrees of latitude is 44.478 m (turf agrees to the micrometre); the closest point is the midpoint.
    expect(events).toEqual([{ type: 'waypoint.passed', waypointId: 'wp', stageId: 'ss1', at: T0 + 500, distanceMeters: expect.closeTo(44.478032, 6) }]);
    expect(events[0]?.type === 'waypoint.passed' && events[0].distanceMeters).toBeCloseTo(metersBetween([0, 0], [0, 0.0004]), 6);
  });

  it('is not validated when the closest approach is beyond the tolerance', () => {
    expect(segmentEvents(index, fix(T0, [-0.001, 0.0005]), fix(T0 + 1000, [0.001, 0.0005]), new Set())).toEqual([]); // 55.6 m
  });

  it('follows the half-open rule: an approach ending at a fix counts there, moving away from it does not', () => {
    const closest = fix(T0 + 1000, [0, 0.0001]);
    expect(segmentEvents(index, fix(T0, [-0.0003, 0.0001]), closest, new Set())).toEqual([
      { type: 'waypoint.passed', waypointId: 'wp', stageId: 'ss1', at: T0 + 1000, distanceMeters: expect.closeTo(11.1195, 4) },
    ]);
    expect(segmentEvents(index, closest, fix(T0 + 2000, [0.0003, 0.0001]), new Set())).toEqual([]);
    expect(segmentEvents(index, closest, fix(T0 + 2000, [0, 0.0001]), new Set())).toEqual([]); // standing still
  });

  it('catches a passage during a 5 s signal gap near Erfoud, and misses one 55 m away with a 50 m tolerance', () => {
    const wp = ERFOUD;
    const near = buildGeofenceIndex(course({ waypoints: [waypoint('wp', wp, 50)] }));
    for (const [offset, expected] of [[40, 1], [55, 0]] as const) {
      const side = to(wp, offset, 0);
      const prev = fix(T0, to(side, 75, 270));
      const cur = fix(T0 + 5000, to(side, 75, 90));
      expect(metersBetween(wp, [cur.lon, cur.lat])).toBeGreaterThan(80);
      const events = segmentEvents(near, prev, cur, new Set());
      expect(events).toHaveLength(expected);
      for (const e of events) {
        expect(e).toMatchObject({ type: 'waypoint.passed', at: T0 + 2500 });
        if (e.type === 'waypoint.passed') expect(Math.abs(e.distanceMeters - offset)).toBeLessThan(0.01);
      }
    }
  });

  it('on a 1 Hz track through the waypoint, every event is inside the tolerance and the closest is at the true time', () => {
    const near = buildGeofenceIndex(course({ waypoints: [waypoint('wp', ERFOUD, 90)] }));
    const fixes = straightTrack({ through: ERFOUD, metersBefore: 300.3, bearingDeg: 63, speedKmh: 100, t0: T0, fixes: 25 });
    const events = runTrack(near, fixes).map(({ event }) => event);
    // Fixes 8, 9 and 10 are 78.1, 50.3 and 22.5 m before the waypoint: the approaching segments ending there each
    // report at that fix (the caller debounces), segment 10->11 reports the true closest approach at 10.811 s, and
    // the segments moving away report nothing.
    const truth = T0 + (300.3 / (100 / 3.6)) * 1000;
    expect(events.map((e) => e.at)).toEqual([T0 + 8000, T0 + 9000, T0 + 10_000, Math.round(truth)]);
    const distances = events.map((e) => (e.type === 'waypoint.passed' ? e.distanceMeters : NaN));
    expect(distances.slice(0, 3).map((d) => Math.round(d * 10) / 10)).toEqual([78.1, 50.3, 22.5]);
    expect(distances[3]).toBeLessThan(0.05);
  });
});
