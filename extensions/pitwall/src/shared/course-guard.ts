import type { Accountability } from '@directus/types';
import { waypointProblem } from '../../../../src/domain/geofence/check-course.ts';
import type { LonLat } from '../../../../src/domain/course.ts';
import { geofenceRowProblems } from '../../../../src/domain/geofence/geofence-row.ts';
import { parsedOrText, refuse, writePermission, type Problem } from './write-guard.ts';

type Row = Record<string, unknown>;

/**
 * Geofences and waypoints the timing could not use are refused where they are made, with a 400 naming the field:
 * the processor would only leave them out, in a log no timekeeper reads (and PostGIS answered a one-point line with
 * a 500). An update is checked as the row it makes: the stored row with the payload over it.
 *
 * Directus runs filters before its permission check; a caller none of whose policies may make the write is left to
 * that check, so it still answers 403 rather than telling the caller what a geofence needs.
 */
export function courseGuard(database: any) {
  const mayWrite = writePermission(database);

  const stored = async (collection: string, geometryField: string, keys: unknown[]): Promise<Row[]> =>
    keys.length === 0
      ? []
      : database(collection)
          .whereIn('id', keys.map(String))
          .select('*', database.raw(`ST_AsGeoJSON(??)::json AS ??`, [geometryField, `${geometryField}_geojson`]))
          .then((rows: Row[]) => rows.map(({ [`${geometryField}_geojson`]: geojson, ...row }) => ({ ...row, [geometryField]: geojson })));

  const rowsOf = async (collection: string, geometryField: string, payload: Row, keys: unknown[] | null): Promise<Row[]> =>
    keys === null ? [payload] : (await stored(collection, geometryField, keys)).map((row) => ({ ...row, ...payload }));

  return {
    async geofences(payload: Row, keys: unknown[] | null, accountability: Accountability | null | undefined): Promise<Row> {
      if (!(await mayWrite('geofences', keys === null ? 'create' : 'update', accountability))) return payload;
      for (const row of await rowsOf('geofences', 'geometry', payload, keys)) {
        const problems: Problem[] = geofenceRowProblems(row);
        if (problems.length > 0) refuse(problems);
      }
      return payload;
    },
    async waypoints(payload: Row, keys: unknown[] | null, accountability: Accountability | null | undefined): Promise<Row> {
      if (!(await mayWrite('waypoints', keys === null ? 'create' : 'update', accountability))) return payload;
      for (const row of await rowsOf('waypoints', 'location', payload, keys)) {
        const problem = waypointRowProblem(row);
        if (problem) refuse([problem]);
      }
      return payload;
    },
  };
}

/** A waypoint's location and tolerance as the engine needs them; what is absent is left to Directus and Postgres. */
function waypointRowProblem(row: Row): Problem | null {
  const location = typeof row['location'] === 'string' ? parsedOrText(row['location']) : row['location'];
  if (location !== undefined && location !== null) {
    const point = location as { type?: unknown; coordinates?: unknown };
    const coordinates = point.coordinates;
    if (point.type !== 'Point' || !Array.isArray(coordinates) || typeof coordinates[0] !== 'number' || typeof coordinates[1] !== 'number') {
      return { field: 'location', message: `a waypoint is a Point, not ${typeof point.type === 'string' ? `a ${point.type}` : 'this'}` };
    }
    const problem = waypointProblem({ location: coordinates as LonLat, toleranceMeters: 0 });
    if (problem) return { field: 'location', message: `the waypoint ${problem}` };
  }
  const tolerance = row['tolerance_meters'];
  if (tolerance !== undefined && tolerance !== null && !(Number.isFinite(Number(tolerance)) && Number(tolerance) >= 0 && typeof tolerance !== 'boolean')) {
    return { field: 'tolerance_meters', message: `expected metres, 0 or more, not ${JSON.stringify(tolerance)}` };
  }
  // Below 0, missing the waypoint would take time off the car's total.
  const penalty = row['penalty_ms'];
  if (penalty !== undefined && penalty !== null && !(Number.isInteger(Number(penalty)) && Number(penalty) >= 0 && typeof penalty !== 'boolean')) {
    return { field: 'penalty_ms', message: `expected milliseconds, 0 or more, not ${JSON.stringify(penalty)}` };
  }
  return null;
}
