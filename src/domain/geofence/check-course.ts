import type { Course, LonLat } from '../course.ts';

function checkPosition(what: string, position: LonLat): void {
  const [lon, lat] = position;
  if (!Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) >= 90) {
    throw new Error(`buildGeofenceIndex: ${what} has an invalid position [${lon}, ${lat}]`);
  }
}

// A box spanning more than half the globe means the geometry crosses the antimeridian, which the planar math
// (no longitude wrapping) would silently get wrong.
function checkSpan(what: string, positions: readonly LonLat[]): void {
  let min = Infinity, max = -Infinity;
  for (const [lon] of positions) {
    min = Math.min(min, lon);
    max = Math.max(max, lon);
  }
  if (max - min > 180) {
    throw new Error(`buildGeofenceIndex: ${what} crosses the antimeridian, which is not supported`);
  }
}

function checkUnique(what: string, ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new Error(`buildGeofenceIndex: duplicate ${what} id "${id}"`);
    seen.add(id);
  }
}

/** The guard clauses of buildGeofenceIndex: rejects geometry the engine would otherwise misread silently. */
export function checkCourse(course: Course): void {
  checkUnique('gate', course.gates.map((gate) => gate.id));
  checkUnique('zone', course.zones.map((zone) => zone.id));
  checkUnique('waypoint', course.waypoints.map((waypoint) => waypoint.id));
  for (const gate of course.gates) {
    const what = `gate "${gate.id}"`;
    if (gate.line.length < 2) throw new Error(`buildGeofenceIndex: ${what} needs at least 2 points, got ${gate.line.length}`);
    gate.line.forEach((position) => checkPosition(what, position));
    checkSpan(what, gate.line);
    if (gate.directionDeg !== null && !Number.isFinite(gate.directionDeg)) {
      throw new Error(`buildGeofenceIndex: ${what} has a non-finite directionDeg ${gate.directionDeg}`);
    }
  }
  for (const zone of course.zones) {
    const what = `zone "${zone.id}"`;
    if (zone.polygon.length === 0) throw new Error(`buildGeofenceIndex: ${what} has no outer ring`);
    zone.polygon.forEach((ring, i) => {
      if (ring.length < 4) throw new Error(`buildGeofenceIndex: ${what} ring ${i} needs at least 4 positions, got ${ring.length}`);
      ring.forEach((position) => checkPosition(what, position));
      const first = ring[0]!;
      const last = ring[ring.length - 1]!;
      if (first[0] !== last[0] || first[1] !== last[1]) throw new Error(`buildGeofenceIndex: ${what} ring ${i} is not closed`);
    });
    checkSpan(what, zone.polygon.flat());
  }
  for (const waypoint of course.waypoints) {
    const what = `waypoint "${waypoint.id}"`;
    checkPosition(what, waypoint.location);
    if (!Number.isFinite(waypoint.toleranceMeters) || waypoint.toleranceMeters < 0) {
      throw new Error(`buildGeofenceIndex: ${what} needs a finite toleranceMeters >= 0, got ${waypoint.toleranceMeters}`);
    }
  }
}
