import type { Fix } from '../course.ts';
import type { GeofenceIndex } from './geofence-index.ts';
import { pointInZone } from './point-in-zone.ts';

/**
 * Ids of the zones a single fix is in (boundary counts as inside), sorted. This is the `insideZones` to start a
 * device with (its first fix, or after a gap the caller will not interpolate across); it uses the same test as
 * segmentEvents' end state, so the two always agree.
 */
export function zonesContaining(index: GeofenceIndex, fix: Pick<Fix, 'lon' | 'lat'>): string[] {
  if (!Number.isFinite(fix.lon) || !Number.isFinite(fix.lat)) {
    throw new Error(`zonesContaining: a fix needs a finite lon and lat, got [${fix.lon}, ${fix.lat}]`);
  }
  const ids: string[] = [];
  for (const geofence of index.tree.search({ minX: fix.lon, minY: fix.lat, maxX: fix.lon, maxY: fix.lat })) {
    if (geofence.type !== 'zone') continue;
    if (pointInZone(geofence.projection.project(fix.lon, fix.lat), geofence.rings)) ids.push(geofence.id);
  }
  return ids.sort();
}
