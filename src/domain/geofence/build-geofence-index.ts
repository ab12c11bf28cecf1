import RBush from 'rbush';
import type { Course, Gate, LonLat, Waypoint, Zone } from '../course.ts';
import { checkCourse } from './check-course.ts';
import type { DegreeBox, GeofenceIndex, IndexedGate, IndexedGeofence, IndexedWaypoint, IndexedZone } from './geofence-index.ts';
import { localProjection } from './local-projection.ts';

export interface BuildGeofenceIndexOptions {
  /** rbush's maxEntries per node. */
  nodeSize?: number;
}

// A loop rather than Math.min(...spread), which overflows the call stack on polygons with ~100k vertices.
function boxOf(positions: readonly LonLat[]): DegreeBox {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [lon, lat] of positions) {
    minX = Math.min(minX, lon); minY = Math.min(minY, lat); maxX = Math.max(maxX, lon); maxY = Math.max(maxY, lat);
  }
  return { minX, minY, maxX, maxY };
}

// Each geofence is projected around the centre of its own box: distances stay accurate wherever it is on a long
// course, and coordinates stay small (well conditioned) in the orientation tests.
function centreOf(box: DegreeBox): LonLat {
  return [(box.minX + box.maxX) / 2, (box.minY + box.maxY) / 2];
}

function indexGate(gate: Gate): IndexedGate {
  const box = boxOf(gate.line);
  const projection = localProjection(centreOf(box));
  const line = gate.line.map(([lon, lat]) => projection.project(lon, lat));
  return { ...box, type: 'gate', id: gate.id, stageId: gate.stageId, kind: gate.kind, directionDeg: gate.directionDeg, projection, line };
}

function indexZone(zone: Zone): IndexedZone {
  const box = boxOf(zone.polygon.flat());
  const projection = localProjection(centreOf(box));
  const rings = zone.polygon.map((ring) => ring.map(([lon, lat]) => projection.project(lon, lat)));
  return { ...box, type: 'zone', id: zone.id, projection, rings };
}

// The box is the tolerance circle's box in degrees of the waypoint's own projection (the one the distance test uses),
// widened by a relative 1e-9 so rounding can never drop a fix segment that the exact test would accept.
function indexWaypoint(waypoint: Waypoint): IndexedWaypoint {
  const [lon, lat] = waypoint.location;
  const projection = localProjection(waypoint.location);
  const dLon = (waypoint.toleranceMeters / projection.metersPerDegreeLon) * (1 + 1e-9);
  const dLat = (waypoint.toleranceMeters / projection.metersPerDegreeLat) * (1 + 1e-9);
  return {
    minX: lon - dLon, minY: lat - dLat, maxX: lon + dLon, maxY: lat + dLat,
    type: 'waypoint', id: waypoint.id, stageId: waypoint.stageId, toleranceMeters: waypoint.toleranceMeters, projection,
  };
}

/**
 * Projects every gate, zone and waypoint of a course once and bulk-loads their boxes into an R-tree, so that
 * segmentEvents only runs exact math on the few geofences near a segment. Stages are not used: which stage a
 * crossing belongs to and whether it is open is the caller's decision. Throws on invalid geometry (see checkCourse).
 */
export function buildGeofenceIndex(course: Course, options: BuildGeofenceIndexOptions = {}): GeofenceIndex {
  const { nodeSize = 9 } = options;
  if (!Number.isInteger(nodeSize) || nodeSize < 4) {
    throw new Error(`buildGeofenceIndex: nodeSize must be an integer >= 4, got ${nodeSize}`);
  }
  checkCourse(course);
  const zones = course.zones.map(indexZone);
  const items: IndexedGeofence[] = [...course.gates.map(indexGate), ...zones, ...course.waypoints.map(indexWaypoint)];
  const tree = new RBush<IndexedGeofence>(nodeSize).load(items);
  return { tree, zones: new Map(zones.map((zone) => [zone.id, zone])), size: items.length };
}
