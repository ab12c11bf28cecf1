import type { Fix } from '../course.ts';

/** Mean Earth radius in metres, as turf's `distance` uses it (its `earthRadius`). */
const EARTH_RADIUS_M = 6371008.8;

/** turf's degreesToRadians, operation for operation, so distances stay bit-identical to turf's. */
const radians = (degrees: number): number => ((degrees % 360) * Math.PI) / 180;

/**
 * Great-circle distance between two fixes, in metres: the haversine formula exactly as turf's `distance` computes
 * it, without building two coordinate arrays per call (every fix of a live or replayed track goes through here).
 */
export function fixDistanceM(a: Fix, b: Fix): number {
  const dLat = radians(b.lat - a.lat);
  const dLon = radians(b.lon - a.lon);
  const h = Math.pow(Math.sin(dLat / 2), 2) + Math.pow(Math.sin(dLon / 2), 2) * Math.cos(radians(a.lat)) * Math.cos(radians(b.lat));
  return 2 * Math.atan2(Math.sqrt(h), Math.sqrt(1 - h)) * EARTH_RADIUS_M;
}

/** The speed a vehicle would need to get from one fix to the next. Equal times give Infinity unless it stood still. */
export function impliedSpeedKmh(a: Fix, b: Fix): number {
  const metres = fixDistanceM(a, b);
  const seconds = Math.abs(b.ts - a.ts) / 1000;
  if (seconds === 0) return metres === 0 ? 0 : Number.POSITIVE_INFINITY;
  return (metres / seconds) * 3.6;
}

/**
 * How far apart two fixes of a car standing still may read: a tracker's GPS error, worse under trees and between
 * buildings. Without it, a burst of fixes milliseconds apart (a tracker flushing its buffer) implied thousands of
 * km/h from a metre of jitter, and each fix was a `position_jump`: 843 anomalies for one burst of 1,000.
 */
export const GPS_ERROR_M = 50;

/**
 * Whether a vehicle cannot have got from one fix to the next: further apart than `maxSpeedKmh` covers in the time
 * between them, by more than the GPS error.
 */
export function isPositionJump(a: Fix, b: Fix, maxSpeedKmh: number): boolean {
  const reachM = (maxSpeedKmh / 3.6) * (Math.abs(b.ts - a.ts) / 1000);
  return fixDistanceM(a, b) > reachM + GPS_ERROR_M;
}
