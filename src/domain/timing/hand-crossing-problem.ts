import { cutShort } from '../cut-short.ts';
import { isoTimeMs } from '../iso-time.ts';
import { MAX_RESULT_MS } from '../pipeline/stage-result.ts';
import { formatRaceTime } from './format-race-time.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../read-well-formed-entry.ts';

export interface HandCrossingProblem {
  field: 'crossedAt' | 'kind';
  message: string;
}

/** A date and time as people and the app write one: seconds and zone optional, `T` or a space between. */
const WRITTEN_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * What is wrong with a crossing time that an official writes by hand (a correction of `crossed_at`), or null. It must
 * be a real date and time of the calendar: Directus hands anything else to Postgres and answers 500. Without a zone
 * Directus reads it in its server's zone, as it does for its own app. Left out or null: not this check's matter
 * (Directus refuses the null itself).
 */
export function handCrossingProblem(write: { crossedAt?: unknown }): HandCrossingProblem | null {
  const { crossedAt } = write;
  if (crossedAt === undefined || crossedAt === null) return null;
  if (typeof crossedAt === 'string' && isRealTime(crossedAt.trim())) return null;
  return { field: 'crossedAt', message: `crossed_at must be a date and time such as 2026-03-14T08:00:00.705Z, got ${cutShort(String(JSON.stringify(crossedAt)), 40)}` };
}

function isRealTime(text: string): boolean {
  const parts = WRITTEN_TIME.exec(text);
  if (!parts) return false;
  const [, date, minutes, seconds, zone] = parts;
  return !Number.isNaN(isoTimeMs(`${date}T${minutes}${seconds ?? ':00'}${zone ?? 'Z'}`));
}

/** Where a start, split or finish written by hand must fall: among the entry's other crossings of the stage. */
export interface CrossingPlace {
  kind: string;
  crossedAt: number;
  /** The entry's other start and finish crossings in the stage (epoch ms), this one left out. */
  starts: readonly number[];
  finishes: readonly number[];
  /** The entry's split crossings in the stage (epoch ms), this one left out; none when not read. */
  splits?: readonly number[];
  /** Those of them set by hand (`corrected_at`), this one left out. */
  corrected?: readonly { kind: string; crossedAt: number }[];
  /** How far apart the stage's start and finish lines are, as the crow flies; none when not read (no time typed). */
  linesApartM?: number;
  /** The speed no car drives (the processor's MAX_SPEED_KMH): the stage takes at least the lines' distance at it. */
  topSpeedKmh?: number;
}

const shownTime = (ms: number): string => new Date(ms).toISOString();
/** How a message names the crossing written: by its kind, when it has one. */
const thisCrossing = (kind: unknown): string => (typeof kind === 'string' && kind !== '' ? `this ${kind}` : 'this crossing');

/**
 * What is wrong with where a crossing time written by hand falls, or null. A typo in the hour (19:35 for 20:35) made a
 * finish come before the car's start, and the car dropped back to running with no word. A finish or split must come
 * after a start of the entry in the stage, a start before a finish or split, a split before a finish, when the other
 * is stored; a start and finish may not be further apart than a result holds (a year typed wrong, 2027 for 2026,
 * failed the result's timing on every try), nor so close that no car covers the stage in the time (`linesApartM` at
 * `topSpeedKmh`); and a start or finish set by hand may not have a second one beside it.
 */
export function handCrossingPlaceProblem(place: CrossingPlace): HandCrossingProblem | null {
  const { kind, crossedAt, starts, finishes } = place;
  // A start or finish set by hand is the entry's only one, and the timing takes the first of two: a second one typed
  // in (a steward who did not see the first) was stored and changed nothing, with no word.
  const twin = place.corrected?.find((other) => other.kind === kind && (kind === 'start' || kind === 'finish'));
  if (twin) {
    return { field: 'kind', message: `the entry already has a ${kind} in the stage set by hand (${shownTime(twin.crossedAt)}), and only one counts: correct that crossing's time, or delete it first` };
  }
  if ((kind === 'finish' || kind === 'split') && starts.length > 0 && starts.every((start) => start >= crossedAt)) {
    return { field: 'crossedAt', message: `this ${kind} at ${shownTime(crossedAt)} is not after the entry's start in the stage (${shownTime(Math.min(...starts))})` };
  }
  if (kind === 'start' && finishes.length > 0 && finishes.every((finish) => finish <= crossedAt)) {
    return { field: 'crossedAt', message: `this start at ${shownTime(crossedAt)} is not before the entry's finish in the stage (${shownTime(Math.max(...finishes))})` };
  }
  // The car's own splits bound it too: a start typed after one took minutes off its stage time, and won the stage.
  const splits = place.splits ?? [];
  if (kind === 'start' && splits.length > 0 && splits.every((split) => split <= crossedAt)) {
    return { field: 'crossedAt', message: `this start at ${shownTime(crossedAt)} is not before the entry's split in the stage (${shownTime(Math.min(...splits))})` };
  }
  if (kind === 'finish' && splits.length > 0 && splits.every((split) => split >= crossedAt)) {
    return { field: 'crossedAt', message: `this finish at ${shownTime(crossedAt)} is not after the entry's split in the stage (${shownTime(Math.max(...splits))})` };
  }
  if (kind === 'split' && finishes.length > 0 && finishes.every((finish) => finish <= crossedAt)) {
    return { field: 'crossedAt', message: `this split at ${shownTime(crossedAt)} is not before the entry's finish in the stage (${shownTime(Math.max(...finishes))})` };
  }
  // A year typed wrong: the stage time would overflow the result, whose timing would then fail on every try.
  const [from, to] = kind === 'start' ? [crossedAt, Math.min(...finishes.filter((f) => f > crossedAt))] : kind === 'finish' ? [Math.max(...starts.filter((s) => s < crossedAt)), crossedAt] : [0, 0];
  if (Number.isFinite(from) && Number.isFinite(to) && to - from > MAX_RESULT_MS) {
    return { field: 'crossedAt', message: `this ${kind} at ${shownTime(crossedAt)} makes a stage time of ${Math.round((to - from) / 86_400_000)} days, more than a result holds (596:31:23.647)` };
  }
  // A stopwatch finish typed on the wrong car, 33 s after its start, won the stage: no car covers it that fast.
  const { linesApartM, topSpeedKmh } = place;
  if ((kind === 'start' || kind === 'finish') && Number.isFinite(from) && Number.isFinite(to) && linesApartM !== undefined && topSpeedKmh !== undefined) {
    const shortestMs = (linesApartM / (topSpeedKmh / 3.6)) * 1000;
    if (to - from < shortestMs) {
      return {
        field: 'crossedAt',
        message: `this ${kind} at ${shownTime(crossedAt)} makes a stage time of ${formatRaceTime(to - from)}, shorter than the ${(linesApartM / 1000).toFixed(1)} km from the start line to the finish line take at ${topSpeedKmh} km/h (${formatRaceTime(shortestMs, { decimals: 0 })}): check the car and the time`,
      };
    }
  }
  return null;
}

/**
 * Why a crossing time written by hand cannot be a passage yet, or null: it is more than `aheadMs` ahead of `now`. A
 * finish typed for tomorrow, or in local time that Directus read in its server's zone (14:00 in Morocco read as
 * 14:00 UTC), was stored and timed the car from a passage that had not happened.
 */
export function futureCrossingProblem(kind: unknown, crossedAt: number, now: number, aheadMs = DEFAULT_MAX_FUTURE_SKEW_MS): HandCrossingProblem | null {
  if (!(crossedAt - now > aheadMs)) return null;
  const what = thisCrossing(kind);
  return { field: 'crossedAt', message: `${what} at ${shownTime(crossedAt)} is in the future (the server's clock reads ${shownTime(now)}): a crossing is set once the car has crossed; check the date, and the zone of a time typed without one` };
}

/** How far ahead of the server's clock a passage already recorded may be corrected to: a stopwatch a little fast. */
export const CORRECTED_AHEAD_MS = 10_000;

/**
 * Why a correction cannot move a passage already recorded (at `recordedAt`, not after `now`) ahead of the clock, or
 * null: the car has passed, so its true time is not later than now. A start corrected to two minutes ahead put the
 * car's next split before its start, and its finish then won it the stage. A stopwatch time set ahead for a car about
 * to leave is a new crossing, which futureCrossingProblem bounds.
 */
export function correctedAheadProblem(kind: unknown, crossedAt: number, now: number, recordedAt: number): HandCrossingProblem | null {
  if (recordedAt > now || crossedAt - now <= CORRECTED_AHEAD_MS) return null;
  const what = thisCrossing(kind);
  return {
    field: 'crossedAt',
    message: `${what} was recorded at ${shownTime(recordedAt)}: the car has passed, so it cannot be corrected to ${shownTime(crossedAt)}, ahead of the server's clock (${shownTime(now)}); check the time typed`,
  };
}

/** One tracker assignment of an entry (`entry_devices` with its device's IMEI); times in epoch ms, null when open. */
export interface EntryTracker {
  imei: string;
  role: string;
  validFrom: number | null;
  validTo: number | null;
}

/**
 * The tracker a crossing set by hand is credited to (`device_id`), or why the one written cannot be: a stopwatch time
 * has no tracker of its own, and a timekeeper does not know IMEIs. Left empty, it is the entry's tracker at that time,
 * its primary first; written, it must be one of the entry's trackers (any IMEI was stored, a typo included). An entry
 * with no tracker takes the IMEI written, and must be given one.
 */
export function handCrossingTracker(deviceId: unknown, crossedAt: number, trackers: readonly EntryTracker[], entry: string): { deviceId: string } | { message: string } {
  const given = typeof deviceId === 'string' ? deviceId.trim() : deviceId;
  if (given !== undefined && given !== null && given !== '') {
    if (typeof given !== 'string') return { message: `device_id must be a tracker's IMEI as text, not ${cutShort(String(JSON.stringify(given)), 40)}` };
    if (trackers.length === 0 || trackers.some((t) => t.imei === given)) return { deviceId: given };
    const imeis = [...new Set(trackers.map((t) => t.imei))].join(', ');
    return { message: `${cutShort(JSON.stringify(given), 40)} is not a tracker of entry ${entry} (its trackers: ${imeis}); leave device_id empty to credit the entry's tracker at that time` };
  }
  if (trackers.length === 0) return { message: `entry ${entry} has no tracker assigned: give device_id, the IMEI the crossing is credited to, or assign the entry a tracker first` };
  const at = (t: EntryTracker) => (t.validFrom === null || t.validFrom <= crossedAt) && (t.validTo === null || crossedAt <= t.validTo);
  const rank = (t: EntryTracker) => (at(t) ? 0 : 2) + (t.role === 'primary' ? 0 : 1);
  return { deviceId: [...trackers].sort((a, b) => rank(a) - rank(b))[0]!.imei };
}
