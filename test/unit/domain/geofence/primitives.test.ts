import { bearing } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { intersectSegments, localProjection, travelBearing } from '../../../../src/domain/geofence/index.ts';
import { ERFOUD, metersBetween, to } from './helpers.ts';

describe('localProjection', () => {
  const projection = localProjection(ERFOUD);

  it('puts the origin at (0, 0) and measures metres east and north', () => {
    expect(projection.project(...ERFOUD)).toEqual({ x: 0, y: 0 });
    expect(projection.metersPerDegreeLat).toBeCloseTo(111_195.08, 2);
    expect(projection.metersPerDegreeLon).toBeCloseTo(111_195.08 * Math.cos((31.42 * Math.PI) / 180), 2);
  });

  it('agrees with turf distances to 1e-4 within 2 km of the origin', () => {
    for (const bearingDeg of [0, 45, 90, 135, 180, 225, 270, 315, 17]) {
      for (const meters of [10, 100, 2000]) {
        const [lon, lat] = to(ERFOUD, meters, bearingDeg);
        const { x, y } = projection.project(lon, lat);
        expect(Math.abs(Math.hypot(x, y) - meters) / meters).toBeLessThan(1e-4);
        expect(Math.abs(Math.hypot(x, y) - metersBetween(ERFOUD, [lon, lat])) / meters).toBeLessThan(1e-4);
      }
    }
  });

  it('refuses a pole or a non-finite origin', () => {
    expect(() => localProjection([0, 90])).toThrow('localProjection: origin must be a finite [lon, lat] with |lat| < 90, got [0, 90]');
    expect(() => localProjection([Number.NaN, 0])).toThrow('localProjection: origin must be a finite [lon, lat] with |lat| < 90, got [NaN, 0]');
  });
});

describe('intersectSegments', () => {
  const p = { x: 0, y: 0 };
  const q = { x: 4, y: 0 };

  it('returns t along the fix segment and u along the gate segment', () => {
    expect(intersectSegments(p, q, { x: 1, y: -1 }, { x: 1, y: 3 })).toEqual({ t: 0.25, u: 0.25 });
    expect(intersectSegments(p, q, { x: 1, y: 3 }, { x: 1, y: -1 })).toEqual({ t: 0.25, u: 0.75 });
    expect(intersectSegments(p, q, { x: 0, y: -2 }, { x: 4, y: 2 })).toEqual({ t: 0.5, u: 0.5 }); // oblique
  });

  it('is half-open in t: (0, 1]', () => {
    expect(intersectSegments(p, q, { x: 4, y: -1 }, { x: 4, y: 1 })).toEqual({ t: 1, u: 0.5 });
    expect(intersectSegments(p, q, { x: 0, y: -1 }, { x: 0, y: 1 })).toBeNull();
  });

  it('is closed in u unless the gate end is excluded', () => {
    expect(intersectSegments(p, q, { x: 2, y: 0 }, { x: 2, y: 2 })).toEqual({ t: 0.5, u: 0 });
    expect(intersectSegments(p, q, { x: 2, y: 2 }, { x: 2, y: 0 })).toEqual({ t: 0.5, u: 1 });
    expect(intersectSegments(p, q, { x: 2, y: 2 }, { x: 2, y: 0 }, { includeGateEnd: false })).toBeNull();
  });

  it('finds nothing for misses, parallels and collinear overlaps', () => {
    expect(intersectSegments(p, q, { x: 5, y: -1 }, { x: 5, y: 1 })).toBeNull();
    expect(intersectSegments(p, q, { x: 2, y: 1 }, { x: 2, y: 3 })).toBeNull();
    expect(intersectSegments(p, q, { x: 0, y: 1 }, { x: 4, y: 1 })).toBeNull();
    expect(intersectSegments(p, q, { x: 1, y: 0 }, { x: 3, y: 0 })).toBeNull();
    expect(intersectSegments(p, p, { x: 0, y: -1 }, { x: 0, y: 1 })).toBeNull();
  });
});

describe('travelBearing', () => {
  it('gives exact compass directions in [0, 360)', () => {
    const from = { lon: 0, lat: 0 };
    expect(travelBearing(from, { lon: 0, lat: 0.001 })).toBe(0);
    expect(travelBearing(from, { lon: 0.001, lat: 0 })).toBe(90);
    expect(travelBearing(from, { lon: 0, lat: -0.001 })).toBe(180);
    expect(travelBearing(from, { lon: -0.001, lat: 0 })).toBe(270);
    expect(travelBearing(from, from)).toBe(0);
  });

  it('agrees with turf bearing to 0.01 degree for segments of 30 m to 3 km', () => {
    for (const b of [0, 12.5, 90, 163, 181, 270, 359.5]) {
      for (const meters of [30, 300, 3000]) {
        const [lon, lat] = to(ERFOUD, meters, b);
        const ours = travelBearing({ lon: ERFOUD[0], lat: ERFOUD[1] }, { lon, lat });
        const turf = (bearing(ERFOUD, [lon, lat]) + 360) % 360;
        const diff = Math.abs(ours - turf) % 360;
        expect(Math.min(diff, 360 - diff)).toBeLessThan(0.01);
        expect(ours).toBeGreaterThanOrEqual(0);
        expect(ours).toBeLessThan(360);
      }
    }
  });
});
