import type { Fix } from '../course.ts';
import type { GeofenceIndex, IndexedGeofence } from './geofence-index.ts';

/**
 * The geofences whose boxes meet the box of the segment prev→cur: the only ones segmentEvents tests exactly.
 * Exported so that callers and tests can see how much exact work a segment costs. The order is rbush's.
 */
export function segmentCandidates(index: GeofenceIndex, prev: Fix, cur: Fix): IndexedGeofence[] {
  return index.tree.search({
    minX: Math.min(prev.lon, cur.lon),
    minY: Math.min(prev.lat, cur.lat),
    maxX: Math.max(prev.lon, cur.lon),
    maxY: Math.max(prev.lat, cur.lat),
  });
}
