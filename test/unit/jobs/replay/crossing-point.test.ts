import { describe, expect, it } from 'vitest';
import { crossingPoint } from '../../../../src/jobs/replay/crossing-point.ts';

const a = { ts: 1000, lon: -4.2, lat: 31.4 };
const b = { ts: 2000, lon: -4.1, lat: 31.5 };

describe('crossingPoint', () => {
  it('interpolates linearly in time between the two fixes', () => {
    const [lon, lat] = crossingPoint(a, b, 1250);
    expect(lon).toBeCloseTo(-4.175, 12);
    expect(lat).toBeCloseTo(31.425, 12);
  });

  it('gives the fixes themselves at their own times', () => {
    expect(crossingPoint(a, b, 1000)).toEqual([-4.2, 31.4]);
    expect(crossingPoint(a, b, 2000)).toEqual([-4.1, 31.5]);
  });

  it('clamps a time outside the segment to its ends, and copes with a zero-length segment', () => {
    expect(crossingPoint(a, b, 500)).toEqual([-4.2, 31.4]);
    expect(crossingPoint(a, b, 2500)).toEqual([-4.1, 31.5]);
    expect(crossingPoint(b, b, 2000)).toEqual([-4.1, 31.5]);
  });
});
