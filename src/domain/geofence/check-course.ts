import type { Course, Gate, LonLat, Waypoint, Zone } from '../course.ts';

function positionProblem(position: LonLat): string | null {
  const [lon, lat] = position;
  if (!Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) >= 90) return `has an invalid position [${lon}, ${lat}]`;
  return null;
}

function positionsProblem(positions: readonly LonLat[]): string | null {
  for (const position of positions) {
    const problem = positionProblem(position);
    if (problem) return problem;
  }
  return spanProblem(positions);
}

// A box spanning more than half the globe means the geometry crosses the antimeridian, which the planar math
// (no longitude wrapping) would silently get wrong.
function spanProblem(positions: readonly LonLat[]): string | null {
  let min = Infinity, max = -Infinity;
  for (const [lon] of positions) {
    min = Math.min(min, lon);
    max = Math.max(max, lon);
  }
  return max - min > 180 ? 'crosses the antimeridian, which is not supported' : null;
}

/** What makes a gate's geometry unusable for the engine (it would misread it silently), or null. */
export function gateProblem(gate: Pick<Gate, 'line' | 'directionDeg'>): string | null {
  if (gate.line.length < 2) return `needs at least 2 points, got ${gate.line.length}`;
  const problem = positionsProblem(gate.line);
  if (problem) return problem;
  // A line of one place twice over: no car can ever cross it.
  const [lon0, lat0] = gate.line[0]!;
  if (gate.line.every(([lon, lat]) => lon === lon0 && lat === lat0)) return 'has no length: all its points are at one place';
  if (gate.directionDeg !== null && !Number.isFinite(gate.directionDeg)) return `has a non-finite directionDeg ${gate.directionDeg}`;
  return null;
}

/** What makes a zone's geometry unusable for the engine, or null. */
export function zoneProblem(zone: Pick<Zone, 'polygon'>): string | null {
  if (zone.polygon.length === 0) return 'has no outer ring';
  for (const [i, ring] of zone.polygon.entries()) {
    if (ring.length < 4) return `ring ${i} needs at least 4 positions, got ${ring.length}`;
    const first = ring[0]!;
    const last = ring[ring.length - 1]!;
    const problem = positionsProblem(ring) ?? (first[0] !== last[0] || first[1] !== last[1] ? `ring ${i} is not closed` : null);
    if (problem) return problem;
  }
  return spanProblem(zone.polygon.flat());
}

/** What makes a waypoint unusable for the engine, or null. */
export function waypointProblem(waypoint: Pick<Waypoint, 'location' | 'toleranceMeters'>): string | null {
  const problem = positionProblem(waypoint.location);
  if (problem) return problem;
  if (!Number.isFinite(waypoint.toleranceMeters) || waypoint.toleranceMeters < 0) return `needs a finite toleranceMeters >= 0, got ${waypoint.toleranceMeters}`;
  return null;
}

function checkUnique(what: string, ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new Error(`buildGeofenceIndex: duplicate ${what} id "${id}"`);
    seen.add(id);
  }
}

function check<T extends { id: string }>(what: string, items: readonly T[], problemOf: (item: T) => string | null): void {
  for (const item of items) {
    const problem = problemOf(item);
    if (problem) throw new Error(`buildGeofenceIndex: ${what} "${item.id}" ${problem}`);
  }
}

/** The guard clauses of buildGeofenceIndex: rejects geometry the engine would otherwise misread silently. */
export function checkCourse(course: Course): void {
  checkUnique('gate', course.gates.map((gate) => gate.id));
  checkUnique('zone', course.zones.map((zone) => zone.id));
  checkUnique('waypoint', course.waypoints.map((waypoint) => waypoint.id));
  check('gate', course.gates, gateProblem);
  check('zone', course.zones, zoneProblem);
  check('waypoint', course.waypoints, waypointProblem);
}
