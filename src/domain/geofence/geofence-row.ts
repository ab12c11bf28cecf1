import type { LonLat } from '../course.ts';
import { gateProblem, zoneProblem } from './check-course.ts';

const LINE_KINDS: ReadonlySet<unknown> = new Set(['start_line', 'finish_line', 'split_line']);
const ZONE_KINDS: ReadonlySet<unknown> = new Set(['zone', 'speed_zone']);

/** A row of `geofences` (CONTRACTS section 3), `geometry` as GeoJSON. */
export interface GeofenceRow {
  kind?: unknown;
  stage?: unknown;
  geometry?: unknown;
  speed_limit_kmh?: unknown;
  direction_deg?: unknown;
}

export interface GeofenceRowProblem {
  field: 'kind' | 'stage' | 'geometry' | 'speed_limit_kmh' | 'direction_deg';
  message: string;
}

// Exactly two: the columns are 2D, and PostGIS refuses a position with altitude or more with a 500.
const isPosition = (value: unknown): value is LonLat =>
  Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number';
const isPositions = (value: unknown): value is LonLat[] => Array.isArray(value) && value.every(isPosition);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function geometryOf(value: unknown): { type: unknown; coordinates: unknown } | null {
  const geometry = typeof value === 'string' ? safeJson(value) : value;
  return typeof geometry === 'object' && geometry !== null && 'type' in geometry ? (geometry as { type: unknown; coordinates: unknown }) : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * What keeps a geofence from being timed, field by field (none: it can be). The engine's own guards (gateProblem,
 * zoneProblem) decide the geometry, so Directus refuses what the processor would have to leave out.
 */
export function geofenceRowProblems(row: GeofenceRow): GeofenceRowProblem[] {
  const { kind } = row;
  if (!LINE_KINDS.has(kind) && !ZONE_KINDS.has(kind)) return [{ field: 'kind', message: `expected one of start_line, finish_line, split_line, zone, speed_zone, not ${JSON.stringify(kind)}` }];
  const problems: GeofenceRowProblem[] = [];
  const geometry = geometryOf(row.geometry);
  const direction = row.direction_deg ?? null;
  // A travel bearing, in [0, 360) as the engine's bearings are: a gate of 720 degrees counts no car heading 100.
  if (direction !== null && !(isNumber(direction) && direction >= 0 && direction < 360)) {
    problems.push({ field: 'direction_deg', message: `expected degrees from 0 up to 360 (not included), or nothing, not ${JSON.stringify(direction)}` });
  }
  if (LINE_KINDS.has(kind)) {
    if (row.stage === null || row.stage === undefined) problems.push({ field: 'stage', message: `a ${kind} belongs to a stage` });
    if (geometry?.type !== 'LineString' || !isPositions(geometry.coordinates)) {
      problems.push({ field: 'geometry', message: `a ${kind} needs a LineString, not ${describe(geometry, 'LineString')}` });
    } else {
      const problem = gateProblem({ line: geometry.coordinates, directionDeg: null });
      if (problem) problems.push({ field: 'geometry', message: `a ${kind} ${problem}` });
    }
    return problems;
  }
  if (geometry?.type !== 'Polygon' || !Array.isArray(geometry.coordinates) || !geometry.coordinates.every(isPositions)) {
    problems.push({ field: 'geometry', message: `a ${kind} needs a Polygon, not ${describe(geometry, 'Polygon')}` });
  } else {
    const problem = zoneProblem({ polygon: geometry.coordinates as LonLat[][] });
    if (problem) problems.push({ field: 'geometry', message: `a ${kind} ${problem}` });
  }
  const limit = row.speed_limit_kmh ?? null;
  // No limit: a speed zone that times nothing, as the contract allows. A limit of 0 or less would make everyone speed.
  if (kind === 'speed_zone' && limit !== null && !(isNumber(limit) && limit > 0)) {
    problems.push({ field: 'speed_limit_kmh', message: `expected km/h above 0, not ${JSON.stringify(limit)}` });
  }
  return problems;
}

function describe(geometry: { type: unknown; coordinates: unknown } | null, expected: string): string {
  if (!geometry) return 'nothing';
  if (typeof geometry.type !== 'string') return 'a geometry without a type';
  return geometry.type === expected ? `a ${expected} whose positions are not [longitude, latitude]` : `a ${geometry.type}`;
}
