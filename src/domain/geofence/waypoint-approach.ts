import type { Fix } from '../course.ts';
import type { IndexedWaypoint } from './geofence-index.ts';
import { interpolateFix } from './interpolate-fix.ts';
import type { TimedEvent } from './timed-event.ts';

/**
 * The waypoint passage on prev→cur, if the segment's closest approach to the waypoint is within its tolerance.
 * The closest point may lie between the fixes, so a fast car whose fixes both miss the circle is still validated.
 * Half-open like gates: the closest point must be at t in (0, 1]. A segment whose closest point is prev (moving
 * away, or standing still) reports nothing, because the segment that ended at prev already reported it. So one pass
 * gives one event per segment that approaches the waypoint while within tolerance (usually one or two); keeping the
 * first, or the closest, is the caller's debounce.
 */
export function waypointApproach(waypoint: IndexedWaypoint, prev: Fix, cur: Fix): TimedEvent[] {
  // The projection is centred on the waypoint, so it sits at the origin.
  const p = waypoint.projection.project(prev.lon, prev.lat);
  const q = waypoint.projection.project(cur.lon, cur.lat);
  const rx = q.x - p.x;
  const ry = q.y - p.y;
  const length2 = rx * rx + ry * ry;
  if (length2 === 0) return [];
  const t = Math.min(1, -(p.x * rx + p.y * ry) / length2);
  if (!(t > 0)) return [];
  const distanceMeters = Math.hypot(p.x + t * rx, p.y + t * ry);
  if (distanceMeters > waypoint.toleranceMeters) return [];
  const { at } = interpolateFix(prev, cur, t);
  return [{ t, event: { type: 'waypoint.passed', waypointId: waypoint.id, stageId: waypoint.stageId, at, distanceMeters } }];
}
