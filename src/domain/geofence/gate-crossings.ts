import type { Fix } from '../course.ts';
import type { IndexedGate } from './geofence-index.ts';
import { interpolateFix } from './interpolate-fix.ts';
import { intersectSegments } from './intersect-segments.ts';
import type { TimedEvent } from './timed-event.ts';
import { travelBearing } from './travel-bearing.ts';

/** Smallest angle between two bearings, 0..180. */
function angleBetween(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/**
 * The crossings of one gate by the segment prev→cur: one per leg of the gate's polyline that the segment crosses
 * (t in (0, 1], see intersectSegments). A vertex shared by two legs belongs to the later leg only, so passing
 * exactly through it counts once. When the gate has a direction, a crossing whose travel bearing is more than 90°
 * from it (exactly 90° still counts) is dropped: that is a competitor driving back through the gate.
 */
export function gateCrossings(gate: IndexedGate, prev: Fix, cur: Fix): TimedEvent[] {
  const p = gate.projection.project(prev.lon, prev.lat);
  const q = gate.projection.project(cur.lon, cur.lat);
  const params: number[] = [];
  for (let i = 0; i + 1 < gate.line.length; i++) {
    const includeGateEnd = i + 2 === gate.line.length;
    const hit = intersectSegments(p, q, gate.line[i]!, gate.line[i + 1]!, { includeGateEnd });
    if (hit !== null) params.push(hit.t);
  }
  if (params.length === 0) return [];
  const bearingDeg = travelBearing(prev, cur);
  if (gate.directionDeg !== null && angleBetween(bearingDeg, gate.directionDeg) > 90) return [];
  return params.map((t) => ({
    t,
    event: { type: 'gate.crossed', gateId: gate.id, stageId: gate.stageId, kind: gate.kind, ...interpolateFix(prev, cur, t), bearingDeg },
  }));
}
