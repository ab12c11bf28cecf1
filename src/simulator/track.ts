import { along, destination } from '@turf/turf';
import { roadBearing, roadLengthKm, type StageCourse } from '../demo/course.ts';
import type { DemoEntry } from '../demo/demo-race.ts';
import type { Position } from '../domain/position.ts';
import { gaussian } from './random.ts';
import { fmb920Attributes, type IoState } from './raw-io.ts';

export interface DriverProfile {
  /** Cruise speed on open road. */
  cruiseKmh: number;
  /** Speed through a speed zone; above the limit for a driver who speeds. */
  zoneKmh: number;
  /** Distance along the road where the driver cuts a corner, missing a waypoint, if any. */
  cutAtKm: number | null;
}

/** Most crews respect the village limit; #104 and #111 do not, and #113 cuts past WP2. */
export function driverProfile(entry: DemoEntry, random: () => number): DriverProfile {
  const speeder = entry.raceNumber === 104 || entry.raceNumber === 111;
  return {
    cruiseKmh: 85 + random() * 30,
    zoneKmh: speeder ? 68 + random() * 10 : 42 + random() * 5,
    cutAtKm: entry.raceNumber === 113 ? 8.1 : null,
  };
}

const CUT_OFFSET_KM = 0.25;
const CUT_RAMP_KM = 0.4;
const GPS_SIGMA_M = 1.5;

/** Lateral offset from the road: a smooth detour around `cutAtKm` for the corner cutter, otherwise none. */
function lateralOffsetKm(profile: DriverProfile, km: number): number {
  if (profile.cutAtKm === null) return 0;
  const distance = Math.abs(km - profile.cutAtKm);
  if (distance >= CUT_RAMP_KM) return 0;
  return CUT_OFFSET_KM * Math.cos(((distance / CUT_RAMP_KM) * Math.PI) / 2);
}

function targetSpeed(course: StageCourse, profile: DriverProfile, km: number, total: number): number {
  const zone = course.speedZone;
  if (zone && km >= zone.fromKm - 0.15 && km <= zone.toKm) return profile.zoneKmh;
  if (km < 0.2) return 40; // leaving the start control
  if (km > total - 0.15) return 30; // braking into the stop control
  return profile.cruiseKmh;
}

export interface StageRun {
  course: StageCourse;
  entry: DemoEntry;
  /** Epoch ms of the first fix (the car waiting at the start control). */
  departAt: number;
  profile: DriverProfile;
  io: IoState;
  random: () => number;
}

/**
 * One entry's drive over one stage at 1 Hz: a few seconds at the start control, the road with speed changes,
 * GPS noise and the driver's quirks, and a stop after the finish. Fix timestamps carry milliseconds, as the GPS
 * module's do, because gate times are interpolated between them.
 */
export function simulateStageRun(run: StageRun): Position[] {
  const { course, entry, profile, io, random } = run;
  const total = roadLengthKm(course);
  const fixes: Position[] = [];
  let km = 0;
  let speed = 0;
  let t = run.departAt + Math.floor(random() * 1000);
  const waitSeconds = 5;
  for (let second = 0; ; second++) {
    if (second >= waitSeconds) {
      const target = targetSpeed(course, profile, km, total);
      // Accelerate at up to ~4 km/h per second, brake at up to ~12.
      const change = Math.max(-12, Math.min(4, target - speed));
      speed = Math.max(0, speed + change + gaussian(random, 0.8));
      const stepKm = speed / 3600;
      km = Math.min(total, km + stepKm);
      io.odometerM += BigInt(Math.round(stepKm * 1000));
      io.tripM += stepKm * 1000;
    }
    const heading = roadBearing(course, km);
    const onRoad = along(course.road, km, { units: 'kilometers' });
    const offset = lateralOffsetKm(profile, km);
    const shifted = offset === 0 ? onRoad : destination(onRoad, offset, heading + 90, { units: 'kilometers' });
    const noisy = destination(shifted, Math.abs(gaussian(random, GPS_SIGMA_M)) / 1000, random() * 360, { units: 'kilometers' });
    const [longitude, latitude] = noisy.geometry.coordinates as [number, number];
    const altitude = Math.round((760 + 25 * Math.sin(km / 2) + gaussian(random, 2)) * 10) / 10;
    io.temperatureTenths += Math.round(gaussian(random, 1));
    fixes.push({
      deviceId: entry.imei,
      ts: t,
      latitude: Math.round(latitude * 1e7) / 1e7,
      longitude: Math.round(longitude * 1e7) / 1e7,
      altitude,
      angle: Math.round(heading),
      speed: Math.round(speed),
      satellites: 9 + Math.floor(random() * 6),
      priority: 0,
      attributes: fmb920Attributes(io, { speedKmh: speed, moving: speed > 1, latitude, longitude, altitude, random }),
      codec: '8E',
    });
    if (km >= total) break;
    t += 1000;
  }
  return fixes;
}
