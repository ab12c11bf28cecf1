import { distance } from '@turf/turf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixDistanceM, impliedSpeedKmh } from '../../../../src/domain/anomalies/implied-speed.ts';

const fix = (lon: number, lat: number, ts = 0) => ({ ts, lon, lat, speedKmh: 0 });

describe('fixDistanceM', () => {
  it("is turf's distance in metres, bit for bit (it replaced it on the hot path)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.double({ min: -90, max: 90, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.double({ min: -90, max: 90, noNaN: true }),
        (lon1, lat1, lon2, lat2) => {
          expect(Object.is(fixDistanceM(fix(lon1, lat1), fix(lon2, lat2)), distance([lon1, lat1], [lon2, lat2], { units: 'meters' }))).toBe(true);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('gives about 111 km per degree of latitude, and the implied speed from it', () => {
    expect(fixDistanceM(fix(-4, 31), fix(-4, 32)) / 1000).toBeCloseTo(111.19, 1);
    expect(impliedSpeedKmh(fix(-4, 31, 0), fix(-4, 31.001, 3600_000))).toBeCloseTo(0.111, 3);
    expect(impliedSpeedKmh(fix(-4, 31, 5), fix(-4, 31.001, 5))).toBe(Number.POSITIVE_INFINITY);
  });
});
