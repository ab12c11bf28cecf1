import { distance } from '@turf/turf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixDistanceM, GPS_ERROR_M, impliedSpeedKmh, isPositionJump } from '../../../../src/domain/anomalies/implied-speed.ts';

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

describe('isPositionJump', () => {
  const metresNorth = (m: number) => m / 111_195; // degrees of latitude

  it('is no jump within the GPS error, however close in time: a burst of fixes milliseconds apart', () => {
    expect(isPositionJump(fix(-4, 31, 0), fix(-4, 31 + metresNorth(1), 1), 400)).toBe(false);
    expect(isPositionJump(fix(-4, 31, 0), fix(-4, 31 + metresNorth(GPS_ERROR_M - 1), 1), 400)).toBe(false);
    expect(isPositionJump(fix(-4, 31, 0), fix(-4, 31 + metresNorth(GPS_ERROR_M + 10), 1), 400)).toBe(true);
  });

  it('is a jump past what the top speed covers in the time, plus the GPS error', () => {
    // 400 km/h covers 111.1 m in a second: 150 m is within it and the error, 200 m is not.
    expect(isPositionJump(fix(-4, 31, 0), fix(-4, 31 + metresNorth(150), 1000), 400)).toBe(false);
    expect(isPositionJump(fix(-4, 31, 0), fix(-4, 31 + metresNorth(200), 1000), 400)).toBe(true);
    expect(isPositionJump(fix(-4, 31, 0), fix(120, -33, 60_000), 400)).toBe(true);
  });
});
