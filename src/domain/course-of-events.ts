import type { Course } from './course.ts';

/**
 * The part of a course that belongs to the given events: their stages, the gates and waypoints of those stages, and
 * their zones (event-wide ones included). Two events on the same ground have identical lines; a tracker must only
 * ever be judged against the lines of its own entry's event.
 */
export function courseOfEvents(course: Course, eventIds: ReadonlySet<string>): Course {
  const stages = course.stages.filter((s) => eventIds.has(s.eventId));
  const stageIds = new Set(stages.map((s) => s.id));
  return {
    stages,
    gates: course.gates.filter((g) => stageIds.has(g.stageId)),
    zones: course.zones.filter((z) => eventIds.has(z.eventId) && (z.stageId === null || stageIds.has(z.stageId))),
    waypoints: course.waypoints.filter((w) => stageIds.has(w.stageId)),
  };
}
