import { along, bearing, destination, length, lineString, point, polygon } from '@turf/turf';
import type { Feature, LineString, Point, Polygon } from 'geojson';

/**
 * The demo rally-raid's two special stages near Erfoud, Morocco, as road polylines. Geofences are derived from
 * the road so that the simulator's tracks and the seeded gates always agree.
 */
export interface StageCourse {
  key: 'ss1' | 'ss2';
  name: string;
  road: Feature<LineString>;
  startAtKm: number;
  finishBeforeEndKm: number;
  splitsAtKm: number[];
  waypointsAtKm: { name: string; km: number; toleranceMeters: number; penaltyMs: number }[];
  speedZone: { name: string; fromKm: number; toKm: number; limitKmh: number } | null;
}

export const stageCourses: StageCourse[] = [
  {
    key: 'ss1',
    name: 'SS1 Erfoud – Merzouga dunes',
    road: lineString([
      [-4.23, 31.43], [-4.21, 31.428], [-4.195, 31.42], [-4.18, 31.415], [-4.165, 31.418], [-4.15, 31.41],
      [-4.135, 31.405], [-4.12, 31.4],
    ]),
    startAtKm: 0.3,
    finishBeforeEndKm: 0.3,
    splitsAtKm: [5.5],
    waypointsAtKm: [
      { name: 'WP1 Oued crossing', km: 3.2, toleranceMeters: 90, penaltyMs: 300_000 },
      { name: 'WP2 Dune ridge', km: 8.1, toleranceMeters: 90, penaltyMs: 300_000 },
    ],
    speedZone: { name: 'Village of Tisserdmine', fromKm: 6.2, toKm: 7.2, limitKmh: 50 },
  },
  {
    key: 'ss2',
    name: 'SS2 Merzouga – Taouz',
    road: lineString([
      [-4.12, 31.4], [-4.115, 31.385], [-4.11, 31.37], [-4.12, 31.355], [-4.13, 31.34], [-4.125, 31.325], [-4.115, 31.31],
    ]),
    startAtKm: 0.3,
    finishBeforeEndKm: 0.3,
    splitsAtKm: [],
    waypointsAtKm: [{ name: 'WP3 Ksar ruins', km: 4.6, toleranceMeters: 90, penaltyMs: 300_000 }],
    speedZone: null,
  },
];

const GATE_HALF_WIDTH_KM = 0.06;
const ZONE_HALF_WIDTH_KM = 0.15;

export function roadLengthKm(course: StageCourse): number {
  return length(course.road, { units: 'kilometers' });
}

/** Travel bearing of the road at a distance along it, from a short chord around that point. */
export function roadBearing(course: StageCourse, km: number): number {
  const total = roadLengthKm(course);
  const a = along(course.road, Math.max(0, km - 0.02), { units: 'kilometers' });
  const b = along(course.road, Math.min(total, km + 0.02), { units: 'kilometers' });
  return (bearing(a, b) + 360) % 360;
}

/** A gate across the road at `km`, drawn left to right of the travel direction. */
export function gateAcross(course: StageCourse, km: number): { line: Feature<LineString>; directionDeg: number } {
  const centre = along(course.road, km, { units: 'kilometers' });
  const heading = roadBearing(course, km);
  const left = destination(centre, GATE_HALF_WIDTH_KM, heading - 90, { units: 'kilometers' });
  const right = destination(centre, GATE_HALF_WIDTH_KM, heading + 90, { units: 'kilometers' });
  return { line: lineString([left.geometry.coordinates, right.geometry.coordinates]), directionDeg: Math.round(heading * 10) / 10 };
}

export function pointAlong(course: StageCourse, km: number): Feature<Point> {
  return point(along(course.road, km, { units: 'kilometers' }).geometry.coordinates);
}

/** A corridor polygon around the road between two distances (the speed zone through a village). */
export function corridor(course: StageCourse, fromKm: number, toKm: number): Feature<Polygon> {
  const left: number[][] = [];
  const right: number[][] = [];
  const steps = 10;
  for (let i = 0; i <= steps; i++) {
    const km = fromKm + ((toKm - fromKm) * i) / steps;
    const centre = along(course.road, km, { units: 'kilometers' });
    const heading = roadBearing(course, km);
    left.push(destination(centre, ZONE_HALF_WIDTH_KM, heading - 90, { units: 'kilometers' }).geometry.coordinates);
    right.push(destination(centre, ZONE_HALF_WIDTH_KM, heading + 90, { units: 'kilometers' }).geometry.coordinates);
  }
  const ring = [...left, ...right.reverse()];
  ring.push(ring[0]!);
  return polygon([ring]);
}
