/**
 * The cars on the live map, from the positions the gateway sends: the newest fix of each tracker by GPS time, the
 * entry that carried the tracker at that time, and whether the tracker has gone quiet. Pure, so the unit tests load
 * it without Vue or a browser.
 */
import type { PositionEntry } from '../../../../src/domain/live/position-entry.ts';
import type { LiveTracker } from '../shared/live-setup.ts';

export type Fix = PositionEntry;

/** How long a tracker may send nothing before its car is greyed out, unless the panel's option says otherwise. */
export const DEFAULT_STALE_SECONDS = 60;

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A position entry as the gateway sends it (CONTRACTS section 6); anything else is ignored, not drawn. */
export function isFix(value: unknown): value is Fix {
  if (!value || typeof value !== 'object') return false;
  const fix = value as Record<string, unknown>;
  return typeof fix['deviceId'] === 'string' && finite(fix['lat']) && finite(fix['lon']) && finite(fix['ts']);
}

/** How far ahead of the map's clock a fix's GPS time may be before it is taken for a tracker clock's glitch. */
export const AHEAD_MS = 30_000;

/**
 * Keeps `fix` when it is the newest of its tracker by GPS time; true when the map changes. A tracker that uploads
 * its buffered fixes late (out of coverage for an hour) must not move its car back along the road. With `nowMs` (the
 * live map's clock), a fix dated more than AHEAD_MS ahead of it is a clock glitch (the processor takes fixes up to
 * minutes ahead): it does not replace a fix of the present, and the next such fix replaces it, where newest-first
 * would have held the car at the glitch until its time came.
 */
export function offerFix(fixes: Map<string, Fix>, fix: Fix, nowMs?: number): boolean {
  const known = fixes.get(fix.deviceId);
  const ahead = (f: Fix) => nowMs !== undefined && f.ts > nowMs + AHEAD_MS;
  if (known && !(ahead(known) && !ahead(fix))) {
    if (ahead(fix) && !ahead(known)) return false;
    if (known.ts >= fix.ts) return false;
  }
  fixes.set(fix.deviceId, fix);
  return true;
}

/**
 * The assignment of `deviceId` at `ts`: the one whose window holds it, the primary before a backup (an entry timed
 * from two trackers is still one car, labelled with its race number either way).
 */
export function trackerAt(trackers: readonly LiveTracker[], deviceId: string, ts: number): LiveTracker | null {
  let found: LiveTracker | null = null;
  for (const t of trackers) {
    if (t.device_id !== deviceId) continue;
    if (t.valid_from !== null && ts < Date.parse(t.valid_from)) continue;
    if (t.valid_to !== null && ts >= Date.parse(t.valid_to)) continue;
    if (!found || (found.role === 'backup' && t.role === 'primary')) found = t;
  }
  return found;
}

/** True when the tracker's newest fix is older than `staleMs` at `nowMs` (the clock of the map: now, or the played-back time). */
export const isStale = (fix: Fix, nowMs: number, staleMs: number): boolean => nowMs - fix.ts > staleMs;

export interface Car {
  deviceId: string;
  fix: Fix;
  tracker: LiveTracker | null;
  /** "#101", or the IMEI of a tracker on no entry at the time of its fix. */
  label: string;
  stale: boolean;
}

/** The cars to draw, by race number (trackers on no entry last), each with its label and staleness. */
export function carsOf(fixes: Iterable<Fix>, trackers: readonly LiveTracker[], nowMs: number, staleMs: number): Car[] {
  const cars: Car[] = [];
  for (const fix of fixes) {
    const tracker = trackerAt(trackers, fix.deviceId, fix.ts);
    const label = tracker?.race_number !== null && tracker?.race_number !== undefined ? `#${tracker.race_number}` : fix.deviceId;
    cars.push({ deviceId: fix.deviceId, fix, tracker, label, stale: isStale(fix, nowMs, staleMs) });
  }
  return cars.sort((a, b) => (a.tracker?.race_number ?? Infinity) - (b.tracker?.race_number ?? Infinity) || a.deviceId.localeCompare(b.deviceId));
}

/** How much of its way a car drags behind it on the map: the road shows where the cars drive. */
export const TRAIL_POINTS = 60;
/** A jump longer than this (a tracker back after a long silence) starts the trail afresh instead of a line across the map. */
const TRAIL_BREAK_METRES = 2000;
const EARTH_RADIUS_METRES = 6_371_000;

/** Distance between two fixes, in metres (equirectangular: exact enough at a few kilometres). */
function metresBetween(a: readonly [number, number], b: readonly [number, number]): number {
  const rad = Math.PI / 180;
  const x = (b[0] - a[0]) * rad * Math.cos(((a[1] + b[1]) / 2) * rad);
  const y = (b[1] - a[1]) * rad;
  return Math.hypot(x, y) * EARTH_RADIUS_METRES;
}

/** The trail with the car's newest fix added ([lon, lat]), at most `maxPoints` long; a new array, the old one untouched. */
export function extendTrail(trail: readonly (readonly [number, number])[], fix: Fix, maxPoints = TRAIL_POINTS): [number, number][] {
  const point: [number, number] = [fix.lon, fix.lat];
  const last = trail[trail.length - 1];
  if (last && metresBetween(last, point) > TRAIL_BREAK_METRES) return [point];
  return [...trail.slice(Math.max(0, trail.length - maxPoints + 1)), point] as [number, number][];
}

/** "NE" for 45°: the heading of the last fix as a timekeeper reads it. */
export function compassPoint(degrees: number): string {
  const points = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];
  return points[Math.round((((degrees % 360) + 360) % 360) / 45) % 8]!;
}
