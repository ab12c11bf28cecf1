import type { GeofenceEvent } from '../geofence/geofence-event.ts';
import { progressKey } from './device-state.ts';
import type { Draft } from './draft.ts';
import { entryAt, type PipelineContext } from './pipeline-context.ts';

type WaypointPassed = Extract<GeofenceEvent, { type: 'waypoint.passed' }>;

/** A waypoint counts once, while its stage runs for the entry. */
export function applyWaypoint(draft: Draft, event: WaypointPassed, context: PipelineContext): void {
  const eventId = context.course.stages.find((s) => s.id === event.stageId)?.eventId;
  const assignment = eventId === undefined ? null : entryAt(context, event.at, eventId);
  if (!assignment) return;
  const key = progressKey(assignment.entryId, event.stageId);
  const progress = draft.progress[key];
  if (progress?.status !== 'running' || progress.waypoints[event.waypointId] !== undefined) return;
  draft.progress[key] = { ...progress, waypoints: { ...progress.waypoints, [event.waypointId]: event.at } };
}
