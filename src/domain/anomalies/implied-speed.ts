import { distance } from '@turf/turf';
import type { Fix } from '../course.ts';

/** Great-circle distance between two fixes, in metres. */
export function fixDistanceM(a: Fix, b: Fix): number {
  return distance([a.lon, a.lat], [b.lon, b.lat], { units: 'meters' });
}

/** The speed a vehicle would need to get from one fix to the next. Equal times give Infinity unless it stood still. */
export function impliedSpeedKmh(a: Fix, b: Fix): number {
  const metres = fixDistanceM(a, b);
  const seconds = Math.abs(b.ts - a.ts) / 1000;
  if (seconds === 0) return metres === 0 ? 0 : Number.POSITIVE_INFINITY;
  return (metres / seconds) * 3.6;
}
