/**
 * What the live map reads from the bundle's endpoint besides the gateway's positions: the event's course (gates,
 * zones, waypoints, in the domain's shapes) and which tracker an entry carries when. Pure, so the unit tests and the
 * app bundle load it without Directus.
 */
import type { Gate, LonLat, Waypoint, Zone } from '../../../../src/domain/course.ts';
import { waypointProblem } from '../../../../src/domain/geofence/check-course.ts';
import { geofenceRowProblems } from '../../../../src/domain/geofence/geofence-row.ts';

export type { Gate, Waypoint, Zone };

export interface LiveCourse {
  gates: Gate[];
  zones: Zone[];
  waypoints: Waypoint[];
}

/** One row of `entry_devices` as the map needs it: the tracker (IMEI), its entry, and when it was carried. */
export interface LiveTracker {
  device_id: string;
  entry: string;
  race_number: number | null;
  name: string | null;
  role: 'primary' | 'backup';
  valid_from: string | null;
  valid_to: string | null;
}

export interface LiveStage {
  id: string;
  name: string;
  sort_order: number | null;
}

/** `GET /pitwall/live/:event`. */
export interface LiveSetup {
  event: { id: string; name: string | null };
  stages: LiveStage[];
  course: LiveCourse;
  trackers: LiveTracker[];
  /** Geofences of a shape the map cannot draw, named; the rest is drawn. */
  problems: string[];
}

/** One stored stage result, as `GET /pitwall/live/:event/stage-states` lists them. */
export interface StageResultState {
  entry: string;
  stage: string;
  status: 'running' | 'finished' | 'dnf';
  started_at: string | null;
  finished_at: string | null;
  elapsed_ms: number | null;
  total_ms: number | null;
}

type Row = Record<string, unknown>;
type Geometry = { type?: unknown; coordinates?: unknown } | null | undefined;

const numberOrNull = (value: unknown): number | null => (value === null || value === undefined || value === '' ? null : Number(value));
const idOf = (value: unknown): string | null => (value === null || value === undefined ? null : typeof value === 'object' ? idOf((value as Row)['id']) : String(value));

/**
 * Geofence and waypoint items (geometry as the GeoJSON Directus answers) in the domain's shapes, with a problem
 * named for each one the map cannot draw, as the processor's setup reader does (src/store/race-setup.ts).
 */
export function courseFromItems(eventId: string, geofences: readonly Row[], waypoints: readonly Row[]): { course: LiveCourse; problems: string[] } {
  const course: LiveCourse = { gates: [], zones: [], waypoints: [] };
  const problems: string[] = [];
  for (const g of geofences) {
    const geometry = g['geometry'] as Geometry;
    const kind = g['kind'];
    const name = String(g['name'] ?? g['id']);
    const stageId = idOf(g['stage']);
    // The timing's own checks, so the map names exactly what the processor leaves out.
    const issues = geofenceRowProblems({ ...g, stage: stageId });
    if (issues.length > 0) problems.push(`geofence ${name}: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`);
    else if (kind === 'zone' || kind === 'speed_zone') {
      course.zones.push({ id: String(g['id']), eventId, stageId, kind: kind as Zone['kind'], name, polygon: geometry!.coordinates as LonLat[][], speedLimitKmh: numberOrNull(g['speed_limit_kmh']) });
    } else {
      course.gates.push({ id: String(g['id']), stageId: stageId!, kind: kind as Gate['kind'], name, line: geometry!.coordinates as LonLat[], directionDeg: numberOrNull(g['direction_deg']), sortOrder: numberOrNull(g['sort_order']) });
    }
  }
  for (const w of waypoints) {
    const geometry = w['location'] as Geometry;
    if (geometry?.type !== 'Point') {
      problems.push(`waypoint ${String(w['name'] ?? w['id'])}: needs a Point`);
      continue;
    }
    const waypoint = {
      id: String(w['id']),
      stageId: String(idOf(w['stage'])),
      name: String(w['name'] ?? ''),
      location: geometry.coordinates as LonLat,
      toleranceMeters: Number(w['tolerance_meters'] ?? 0),
      sortOrder: Number(w['sort_order'] ?? 0),
      penaltyMs: Number(w['penalty_ms'] ?? 0),
    };
    const problem = waypointProblem(waypoint);
    if (problem) problems.push(`waypoint ${waypoint.name || waypoint.id}: ${problem}`);
    else course.waypoints.push(waypoint);
  }
  return { course, problems };
}

/** Every coordinate of the course, to fit the map around it. */
export function coursePoints(course: LiveCourse): [number, number][] {
  return [
    ...course.gates.flatMap((g) => g.line.map(([lon, lat]) => [lon, lat] as [number, number])),
    ...course.zones.flatMap((z) => z.polygon.flatMap((ring) => ring.map(([lon, lat]) => [lon, lat] as [number, number]))),
    ...course.waypoints.map((w) => [w.location[0], w.location[1]] as [number, number]),
  ];
}
