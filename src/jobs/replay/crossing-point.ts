import type { Fix, LonLat } from '../../domain/course.ts';

/**
 * Where a crossing happened: the point at time `at` on the straight segment between the two fixes around it, the
 * same linear interpolation the geofence engine uses for the time. `at` outside the segment is clamped to its ends.
 */
export function crossingPoint(before: Pick<Fix, 'ts' | 'lon' | 'lat'>, after: Pick<Fix, 'ts' | 'lon' | 'lat'>, at: number): LonLat {
  const span = after.ts - before.ts;
  const t = span <= 0 ? 1 : Math.min(1, Math.max(0, (at - before.ts) / span));
  return [before.lon + t * (after.lon - before.lon), before.lat + t * (after.lat - before.lat)];
}
