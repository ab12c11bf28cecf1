import { describe, expect, it } from 'vitest';
import { buildGeofenceIndex, segmentEvents } from '../../../../src/domain/geofence/index.ts';
import type { LonLat } from '../../../../src/domain/course.ts';
import { ERFOUD, KMH, T0, course, fix, gate, runTrack, straightTrack, to } from './helpers.ts';

describe('gate.crossed: exact values on a simple segment', () => {
  // On the equator the plane is degrees times a constant, so t is 0.25 by construction.
  const index = buildGeofenceIndex(course({ gates: [gate('g', [[0.00025, -0.0005], [0.00025, 0.0005]], { kind: 'start_line' })] }));

  it('interpolates time, speed and reports the travel bearing', () => {
    const events = segmentEvents(index, fix(1000, [0, 0], 40), fix(2000, [0.001, 0], 80), new Set());
    expect(events).toEqual([{ type: 'gate.crossed', gateId: 'g', stageId: 'ss1', kind: 'start_line', at: 1250, speedKmh: 50, bearingDeg: 90 }]);
  });

  it('rounds the interpolated time to the nearest millisecond, never to a fix time', () => {
    // t = 0.25 of a 1003 ms segment: 250.75 ms after prev.
    const events = segmentEvents(index, fix(T0, [0, 0]), fix(T0 + 1003, [0.001, 0]), new Set());
    expect(events.map((e) => e.at)).toEqual([T0 + 251]);
  });

  it('reports nothing when the segment stops short of the line or misses its ends', () => {
    expect(segmentEvents(index, fix(1000, [0, 0]), fix(2000, [0.0002, 0]), new Set())).toEqual([]);
    expect(segmentEvents(index, fix(1000, [0, 0.0006]), fix(2000, [0.001, 0.0006]), new Set())).toEqual([]);
  });

  it('counts a fix lying exactly on the line once: in the segment that ends there (t in (0, 1])', () => {
    const onLine = fix(2000, [0.00025, 0]);
    const arriving = segmentEvents(index, fix(1000, [0, 0]), onLine, new Set());
    const leaving = segmentEvents(index, onLine, fix(3000, [0.0005, 0]), new Set());
    expect(arriving.map((e) => e.at)).toEqual([2000]);
    expect(leaving).toEqual([]);
  });

  it('does not count driving along the line', () => {
    expect(segmentEvents(index, fix(1000, [0.00025, -0.0004]), fix(2000, [0.00025, 0.0004]), new Set())).toEqual([]);
  });

  it('counts the crossing of a polyline gate once, also exactly through its inner vertex', () => {
    const polyline = buildGeofenceIndex(course({ gates: [gate('p', [[0.00025, -0.0005], [0.00025, 0], [0.0003, 0.0005]])] }));
    expect(segmentEvents(polyline, fix(1000, [0, 0]), fix(2000, [0.001, 0]), new Set()).map((e) => e.at)).toEqual([1250]);
    expect(segmentEvents(polyline, fix(1000, [0, 0.0004]), fix(2000, [0.001, 0.0004]), new Set()).map((e) => e.at)).toEqual([1290]);
  });
});

describe('gate.crossed: interpolated time on noiseless 1 Hz tracks at 100 km/h', () => {
  const speedKmh = 100;
  const metersPerSecond = speedKmh * KMH.toMetersPerSecond;
  const bearings = [0, 37.5, 90, 143, 200, 271.3, 333];
  const skews = [0, 35, -60]; // the line is not always square to the road
  // Offsets ~2.5 m apart span more than one 27.8 m fix interval, so the crossing falls everywhere between fixes; the
  // odd 0.0371 m makes the true time fall between milliseconds. 500 m puts a fix (18 s) on the line itself.
  const offsets = [500, ...Array.from({ length: 11 }, (_, j) => 502.5371 + j * 2.5)];

  function crossingsFor(bearingDeg: number, skew: number, reversed: boolean, metersBefore: number) {
    const centre = ERFOUD;
    const ends: LonLat[] = [to(centre, 60, bearingDeg - 90 + skew), to(centre, 60, bearingDeg + 90 + skew)];
    const index = buildGeofenceIndex(course({ gates: [gate('g', reversed ? ends.reverse() : ends)] }));
    const fixes = straightTrack({ through: centre, metersBefore, bearingDeg, speedKmh, t0: T0, fixes: Math.ceil(metersBefore / metersPerSecond) + 4 });
    const truth = T0 + (metersBefore / metersPerSecond) * 1000;
    return { crossings: runTrack(index, fixes), truth };
  }

  it('is within 5 ms of the analytic time for every angle, skew and drawing direction; the later fix is up to ~1 s off', () => {
    let worstInterpolated = 0;
    let worstLaterFix = 0;
    for (const bearingDeg of bearings) {
      for (const skew of skews) {
        for (const reversed of [false, true]) {
          for (const metersBefore of offsets) {
            const { crossings, truth } = crossingsFor(bearingDeg, skew, reversed, metersBefore);
            expect(crossings, `bearing ${bearingDeg} skew ${skew} reversed ${reversed} offset ${metersBefore}`).toHaveLength(1);
            const [{ event, cur }] = crossings as [(typeof crossings)[number]];
            worstInterpolated = Math.max(worstInterpolated, Math.abs(event.at - truth));
            worstLaterFix = Math.max(worstLaterFix, Math.abs(cur.ts - truth));
            expect(event).toMatchObject({ type: 'gate.crossed', gateId: 'g', speedKmh: 100 });
            if (event.type === 'gate.crossed') expect(Math.abs(event.bearingDeg - bearingDeg) % 360).toBeLessThan(0.01);
          }
        }
      }
    }
    expect(worstInterpolated).toBeLessThanOrEqual(5);
    expect(worstLaterFix).toBeGreaterThan(900);
    expect(worstLaterFix).toBeLessThanOrEqual(1000);
  });

  it('gives the exact millisecond for a crossing 512.5 m after the first fix (18.45 s at 100 km/h)', () => {
    const { crossings } = crossingsFor(97, 20, false, 512.5);
    expect(crossings.map(({ event }) => event.at)).toEqual([T0 + 18_450]);
    expect(crossings.map(({ cur }) => cur.ts)).toEqual([T0 + 19_000]); // what "the later fix" would have said: 550 ms late
  });
});
