import { bearing, destination, distance } from '@turf/turf';
import type { Course, Fix, Gate, LonLat, Waypoint, Zone } from '../../../../src/domain/course.ts';
import type { GeofenceEvent, GeofenceIndex } from '../../../../src/domain/geofence/index.ts';
import { segmentEvents } from '../../../../src/domain/geofence/index.ts';
import { corridor, gateAcross, pointAlong, roadLengthKm, type StageCourse } from '../../../../src/demo/course.ts';

/** A race morning with a millisecond part, so that "at the later fix" and "interpolated" differ visibly. */
export const T0 = Date.UTC(2026, 2, 1, 8, 0, 0, 137);
export const KMH = { toMetersPerSecond: 1000 / 3600 } as const;
/** Near Erfoud, where the demo rally runs. */
export const ERFOUD: LonLat = [-4.2, 31.42];

export function course(parts: Partial<Course> = {}): Course {
  return { stages: [], gates: [], zones: [], waypoints: [], ...parts };
}

export function gate(id: string, line: LonLat[], overrides: Partial<Gate> = {}): Gate {
  return { id, stageId: 'ss1', kind: 'split_line', name: id, line, directionDeg: null, sortOrder: 1, ...overrides };
}

export function zone(id: string, polygon: LonLat[][], overrides: Partial<Zone> = {}): Zone {
  return { id, eventId: 'event', stageId: null, kind: 'zone', name: id, polygon, speedLimitKmh: null, ...overrides };
}

export function waypoint(id: string, location: LonLat, toleranceMeters: number): Waypoint {
  return { id, stageId: 'ss1', name: id, location, toleranceMeters, sortOrder: 1, penaltyMs: 0 };
}

export function fix(ts: number, [lon, lat]: LonLat, speedKmh = 100): Fix {
  return { ts, lon, lat, speedKmh };
}

export function to(from: LonLat, meters: number, bearingDeg: number): LonLat {
  const [lon, lat] = destination(from, meters, bearingDeg, { units: 'meters' }).geometry.coordinates;
  return [lon!, lat!];
}

export function metersBetween(a: LonLat, b: LonLat): number {
  return distance(a, b, { units: 'meters' });
}

/**
 * A noiseless 1 Hz straight track at constant speed that passes through `through` exactly `metersBefore` metres after
 * its first fix (at t0). Positions follow the great circle, computed with turf.
 */
export function straightTrack(options: { through: LonLat; metersBefore: number; bearingDeg: number; speedKmh: number; t0: number; fixes: number }): Fix[] {
  const { through, metersBefore, bearingDeg, speedKmh, t0, fixes } = options;
  const start = to(through, metersBefore, bearingDeg + 180);
  const startBearing = bearing(start, through);
  const metersPerSecond = speedKmh * KMH.toMetersPerSecond;
  return Array.from({ length: fixes }, (_, i) => fix(t0 + i * 1000, to(start, metersPerSecond * i, startBearing), speedKmh));
}

export interface TrackEvent {
  event: GeofenceEvent;
  /** The segment the event came from. */
  prev: Fix;
  cur: Fix;
}

/** Feeds a track segment by segment, carrying `insideZones` as a caller would. */
export function runTrack(index: GeofenceIndex, fixes: readonly Fix[], insideZones: Iterable<string> = []): TrackEvent[] {
  const inside = new Set(insideZones);
  const out: TrackEvent[] = [];
  for (let i = 1; i < fixes.length; i++) {
    const prev = fixes[i - 1]!;
    const cur = fixes[i]!;
    for (const event of segmentEvents(index, prev, cur, inside)) {
      if (event.type === 'zone.entered') inside.add(event.zoneId);
      if (event.type === 'zone.exited') inside.delete(event.zoneId);
      out.push({ event, prev, cur });
    }
  }
  return out;
}

/** A square of `half` degrees around a centre, as a closed ring (counter-clockwise). */
export function square([lon, lat]: LonLat, half: number): LonLat[] {
  return [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half]];
}

/** The demo rally's stage as a Course, exactly as the seeding derives its geofences from the road. */
export function demoStage(stage: StageCourse): Course {
  const lengthKm = roadLengthKm(stage);
  const gateAt = (id: string, kind: Gate['kind'], km: number, sortOrder: number | null): Gate => {
    const { line, directionDeg } = gateAcross(stage, km);
    return { id, stageId: stage.key, kind, name: id, line: line.geometry.coordinates as LonLat[], directionDeg, sortOrder };
  };
  return {
    stages: [],
    gates: [
      gateAt(`${stage.key}-start`, 'start_line', stage.startAtKm, null),
      ...stage.splitsAtKm.map((km, i) => gateAt(`${stage.key}-split${i + 1}`, 'split_line', km, i + 1)),
      gateAt(`${stage.key}-finish`, 'finish_line', lengthKm - stage.finishBeforeEndKm, null),
    ],
    zones: stage.speedZone
      ? [{ id: `${stage.key}-speed`, eventId: 'event', stageId: stage.key, kind: 'speed_zone', name: stage.speedZone.name, polygon: corridor(stage, stage.speedZone.fromKm, stage.speedZone.toKm).geometry.coordinates as LonLat[][], speedLimitKmh: stage.speedZone.limitKmh }]
      : [],
    waypoints: stage.waypointsAtKm.map((wp, i) => ({
      id: `${stage.key}-wp${i + 1}`, stageId: stage.key, name: wp.name, location: pointAlong(stage, wp.km).geometry.coordinates as LonLat,
      toleranceMeters: wp.toleranceMeters, sortOrder: i + 1, penaltyMs: wp.penaltyMs,
    })),
  };
}

/** A noiseless 1 Hz drive along the stage's road at constant speed, from its first metre to its last. */
export function driveRoad(stage: StageCourse, speedKmh: number, t0: number): Fix[] {
  const metersPerSecond = speedKmh * KMH.toMetersPerSecond;
  const seconds = Math.floor((roadLengthKm(stage) * 1000) / metersPerSecond);
  return Array.from({ length: seconds + 1 }, (_, i) => fix(t0 + i * 1000, pointAlong(stage, (metersPerSecond * i) / 1000).geometry.coordinates as LonLat, speedKmh));
}
