import type { Fix } from '../course.ts';
import { factors } from './units.ts';

/**
 * The travel bearing from one fix to the next in degrees clockwise from north, in [0, 360): the direction of the
 * chord in an equirectangular plane at the mid latitude. For segments up to a few kilometres it agrees with turf's
 * `bearing` to better than 0.01°; the fix's own GPS heading is not used, because the segment is what crossed the line.
 * A zero-length segment has bearing 0 (it cannot cross anything).
 */
export function travelBearing(from: Pick<Fix, 'lon' | 'lat'>, to: Pick<Fix, 'lon' | 'lat'>): number {
  const midLat = ((from.lat + to.lat) / 2) * factors.radiansPerDegree;
  const east = (to.lon - from.lon) * Math.cos(midLat);
  const north = to.lat - from.lat;
  const degrees = Math.atan2(east, north) * factors.degreesPerRadian;
  const wrapped = degrees < 0 ? degrees + 360 : degrees;
  // -1e-15 + 360 rounds to 360; keep the documented half-open range, and turn -0 into 0.
  return wrapped >= 360 ? 0 : wrapped + 0;
}
