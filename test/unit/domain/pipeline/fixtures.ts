import { destination } from '@turf/turf';
import type { Course, Fix, LonLat } from '../../../../src/domain/course.ts';
import { buildGeofenceIndex } from '../../../../src/domain/geofence/index.ts';
import { defaultPipelineOptions, type PipelineContext, type PipelineOptions } from '../../../../src/domain/pipeline/pipeline-context.ts';
import type { SpeedingParams } from '../../../../src/domain/penalties/penalty-formula.ts';

/** A straight road heading east from ORIGIN; distances along it in metres. */
export const ORIGIN: LonLat = [6.0, 45.0];
export const T0 = Date.UTC(2026, 5, 1, 9, 0, 0, 0);

export const along = (metres: number, north = 0): LonLat => {
  const east = destination(ORIGIN, metres / 1000, 90, { units: 'kilometers' }).geometry.coordinates as LonLat;
  return north === 0 ? east : (destination(east, north / 1000, 0, { units: 'kilometers' }).geometry.coordinates as LonLat);
};

/** A gate across the road at `metres`, 60 m each side. */
const gateAt = (metres: number): LonLat[] => [along(metres, 60), along(metres, -60)];

export const speeding: SpeedingParams = {
  basis: 'time',
  brackets: [
    { over_kmh: 0, penalty_ms_per_s: 1000 },
    { over_kmh: 20, penalty_ms_per_s: 3000 },
    { over_kmh: 40, penalty_ms_per_s: 10000 },
  ],
};

export function testCourse({ waypointNorth = 0 } = {}): Course {
  return {
    stages: [{ id: 'stage-1', eventId: 'event-1', name: 'SS1', sortOrder: 1, opensAt: T0 - 3_600_000, closesAt: T0 + 3_600_000 }],
    gates: [
      { id: 'start', stageId: 'stage-1', kind: 'start_line', name: 'start', line: gateAt(100), directionDeg: 90, sortOrder: null },
      { id: 'split', stageId: 'stage-1', kind: 'split_line', name: 'split', line: gateAt(500), directionDeg: 90, sortOrder: 1 },
      { id: 'finish', stageId: 'stage-1', kind: 'finish_line', name: 'finish', line: gateAt(1000), directionDeg: 90, sortOrder: null },
    ],
    zones: [
      {
        id: 'village',
        eventId: 'event-1',
        stageId: 'stage-1',
        kind: 'speed_zone',
        name: 'village',
        polygon: [[along(300, 50), along(400, 50), along(400, -50), along(300, -50), along(300, 50)]],
        speedLimitKmh: 50,
      },
    ],
    waypoints: [{ id: 'wp-1', stageId: 'stage-1', name: 'WP1', location: along(700, waypointNorth), toleranceMeters: 30, sortOrder: 1, penaltyMs: 300_000 }],
  };
}

export function testContext(course: Course = testCourse(), options: Partial<PipelineOptions> = {}): PipelineContext {
  return {
    deviceId: '350936080010018',
    course,
    index: buildGeofenceIndex(course),
    assignments: [{ entryId: 'entry-1', eventId: 'event-1', validFrom: null, validTo: null, role: 'primary' }],
    speeding: new Map([['event-1', speeding]]),
    options: { ...defaultPipelineOptions, ...options },
  };
}

/**
 * A 1 Hz track along the road, from `fromM` to `toM` metres, at `speedKmh` except inside [zoneFrom, zoneTo]
 * where it drives at `zoneKmh`. The first fix is at `start` (with milliseconds, as GPS modules give them).
 */
export function track({ fromM = 0, toM = 1100, speedKmh = 72, zoneKmh = 45, start = T0 + 250, north = 0 } = {}): Fix[] {
  const fixes: Fix[] = [];
  let metres = fromM;
  let ts = start;
  while (metres <= toM) {
    const inZone = metres >= 290 && metres <= 410;
    const speed = inZone ? zoneKmh : speedKmh;
    const [lon, lat] = along(metres, north);
    fixes.push({ ts, lat, lon, speedKmh: speed });
    metres += speed / 3.6;
    ts += 1000;
  }
  return fixes;
}

/** True time at which a track from `fromM` at constant `speedKmh` reaches `metres`. */
export const timeAt = (metres: number, { fromM = 0, speedKmh = 72, start = T0 + 250 } = {}) => start + ((metres - fromM) / (speedKmh / 3.6)) * 1000;
