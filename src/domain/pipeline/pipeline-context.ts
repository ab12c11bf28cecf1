import type { Course } from '../course.ts';
import type { GeofenceIndex } from '../geofence/index.ts';
import type { SpeedingParams } from '../penalties/penalty-formula.ts';

/** A car often carries two trackers: the entry is timed from its primary where the primary has the data. */
export type TrackerRole = 'primary' | 'backup';

/** One row of entry_devices for this device: which entry carried it, when, and as which of its trackers. */
export interface EntryAssignment {
  entryId: string;
  eventId: string;
  validFrom: number | null;
  validTo: number | null;
  role: TrackerRole;
}

export interface PipelineOptions {
  /** A second crossing of the same gate within this time is the same passage (GPS jitter around the line). */
  debounceMs: number;
  /** No fix for longer than this while a stage is running is a signal loss. */
  signalLossMs: number;
  /** Faster than this between two fixes is not a car: the fix is flagged as a position jump. */
  maxSpeedKmh: number;
  /** Fixes up to this much older than the newest are put back in order and their window re-evaluated. */
  lateWindowMs: number;
  /**
   * A fix put back in order less than this behind the newest raises no late_data anomaly: trackers swap neighbouring
   * fixes all the time, and each swap announced was a race event (851 for 12,000 fixes at 5% reordering). Fixes too
   * old to be re-evaluated are always reported.
   */
  lateNoticeMs: number;
}

export const defaultPipelineOptions: PipelineOptions = {
  debounceMs: 30_000,
  signalLossMs: 60_000,
  maxSpeedKmh: 400,
  lateWindowMs: 120_000,
  lateNoticeMs: 10_000,
};

/** What a device's pipeline reads but never changes: the race setup and the device's assignments. */
export interface PipelineContext {
  deviceId: string;
  /** Only the course of the events the device's entries belong to (courseOfEvents). */
  course: Course;
  index: GeofenceIndex;
  assignments: readonly EntryAssignment[];
  /** Speeding formula per event id; events without one use the default. */
  speeding: ReadonlyMap<string, SpeedingParams>;
  options: PipelineOptions;
}

/**
 * The entry that carried the device at a time, by the assignment's validity window (bounds inclusive-exclusive);
 * with `eventId`, the entry of that event. A car may be entered in two events run on the same ground at once (a
 * class timed as an event of its own) with the same tracker: what happens on an event's course is that event's
 * entry's, whichever assignment the setup listed first.
 */
export function entryAt(context: PipelineContext, at: number, eventId?: string): EntryAssignment | null {
  for (const a of context.assignments) {
    if (eventId !== undefined && a.eventId !== eventId) continue;
    if ((a.validFrom === null || at >= a.validFrom) && (a.validTo === null || at < a.validTo)) return a;
  }
  return null;
}
