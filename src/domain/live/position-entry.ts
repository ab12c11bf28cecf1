import { hasGpsFix } from '../gps-fix.ts';
import type { Position } from '../position.ts';

/** What the live map is sent of a fix (CONTRACTS section 6): `ts` in epoch ms, `speed` km/h, `course` degrees. */
export interface PositionEntry {
  deviceId: string;
  lat: number;
  lon: number;
  ts: number;
  speed?: number;
  course?: number;
  satellites?: number;
}

export const toPositionEntry = (position: Position): PositionEntry => ({
  deviceId: position.deviceId,
  lat: position.latitude,
  lon: position.longitude,
  ts: position.ts,
  speed: position.speed,
  course: position.angle,
  satellites: position.satellites,
});

/**
 * Why a well-formed fix is not put on the live map, or null when it is. A record without a GPS fix (see hasGpsFix)
 * would draw the car where it lost the sky as if it were live there, or at 0,0 in the Gulf of Guinea; a fix dated
 * ahead of the clock is a tracker clock gone wrong, which the processor dead-letters too.
 */
export function unmappableReason(position: Position, nowMs: number, maxFutureSkewMs: number): string | null {
  if (!hasGpsFix(position)) return 'no-gps-fix';
  if (position.ts > nowMs + maxFutureSkewMs) return 'future-time';
  return null;
}
