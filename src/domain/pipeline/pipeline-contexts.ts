import type { Course } from '../course.ts';
import { courseOfEvents } from '../course-of-events.ts';
import { buildGeofenceIndex, type GeofenceIndex } from '../geofence/index.ts';
import type { SpeedingParams } from '../penalties/penalty-formula.ts';
import type { EntryAssignment, PipelineContext, PipelineOptions } from './pipeline-context.ts';

/** What the contexts are made of: the course of every event in view and who carries which tracker. */
export interface ContextSource {
  course: Course;
  /** entry_devices rows by tracker IMEI. */
  assignments: ReadonlyMap<string, readonly EntryAssignment[]>;
  speeding: ReadonlyMap<string, SpeedingParams>;
}

/**
 * One pipeline context per tracker, each seeing only the course of the events its entries belong to, so a tracker
 * of event B is never timed on the gates of event A laid on the same ground. Trackers of the same events share one
 * course and one geofence index (built once per set of events).
 */
export function pipelineContexts(source: ContextSource, options: PipelineOptions): Map<string, PipelineContext> {
  const courses = new Map<string, { course: Course; index: GeofenceIndex }>();
  const contexts = new Map<string, PipelineContext>();
  for (const [deviceId, assignments] of source.assignments) {
    const events = [...new Set(assignments.map((a) => a.eventId))].sort();
    const key = events.join(',');
    let shared = courses.get(key);
    if (!shared) {
      const course = courseOfEvents(source.course, new Set(events));
      shared = { course, index: buildGeofenceIndex(course) };
      courses.set(key, shared);
    }
    contexts.set(deviceId, { deviceId, course: shared.course, index: shared.index, assignments, speeding: source.speeding, options });
  }
  return contexts;
}
