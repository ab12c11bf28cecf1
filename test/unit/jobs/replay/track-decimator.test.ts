import { describe, expect, it } from 'vitest';
import { TrackDecimator } from '../../../../src/jobs/replay/track-decimator.ts';

const feed = (n: number, max: number) => {
  const decimator = new TrackDecimator(max);
  for (let i = 0; i < n; i++) decimator.push(i / 1000, 31 + i / 1000, 1_000_000 + i * 1000);
  return decimator.points();
};

describe('TrackDecimator', () => {
  it('keeps a short track as it is', () => {
    const points = feed(5, 400);
    expect(points).toEqual([0, 1, 2, 3, 4].map((i) => [i / 1000, 31 + i / 1000, 1_000_000 + i * 1000]));
  });

  it.each([399, 400, 401, 799, 1000, 3601, 100_000])('thins %i fixes to at most 400 points, first and last included', (n) => {
    const points = feed(n, 400);
    expect(points.length).toBeLessThanOrEqual(400);
    expect(points.length).toBeGreaterThanOrEqual(Math.min(n, 200));
    expect(points[0]![2]).toBe(1_000_000);
    expect(points.at(-1)![2]).toBe(1_000_000 + (n - 1) * 1000);
  });

  it('spaces the points evenly (but for the last one)', () => {
    const times = feed(10_000, 400).map((p) => p[2]);
    const gaps = new Set(times.slice(1, -1).map((t, i) => t - times[i]!));
    expect(gaps.size).toBe(1);
  });

  it('rounds coordinates to 6 decimals', () => {
    const decimator = new TrackDecimator(10);
    decimator.push(-4.123456789, 31.987654321, 5);
    expect(decimator.points()).toEqual([[-4.123457, 31.987654, 5]]);
  });

  it('gives nothing for no fixes, and refuses a budget under 2', () => {
    expect(new TrackDecimator(3).points()).toEqual([]);
    expect(() => new TrackDecimator(1)).toThrow(RangeError);
  });
});
