import type { Waypoint } from '../course.ts';
import type { StageProgress } from './device-state.ts';
import type { Draft } from './draft.ts';
import { factKey, type AnomalyFact, type PenaltyFact } from './facts.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** The penalty and the anomaly of one waypoint an entry missed in a stage, reported against one tracker. */
export function missedWaypointFacts(entryId: string, stageId: string, deviceId: string, at: number, waypoint: Waypoint): [PenaltyFact, AnomalyFact] {
  const details = { waypoint: waypoint.id, name: waypoint.name, tolerance_meters: waypoint.toleranceMeters };
  return [
    {
      type: 'penalty',
      key: factKey.penalty(entryId, stageId, 'missed_waypoint', waypoint.id),
      entryId,
      stageId,
      kind: 'missed_waypoint',
      amountMs: waypoint.penaltyMs,
      details,
    },
    {
      type: 'anomaly',
      key: factKey.anomaly(deviceId, 'missed_waypoint', `${stageId}:${waypoint.id}`),
      kind: 'missed_waypoint',
      severity: 'warning',
      entryId,
      stageId,
      deviceId,
      startedAt: at,
      endedAt: null,
      details: { ...details, penalty_ms: waypoint.penaltyMs },
    },
  ];
}

/** At the finish, every waypoint of the stage not validated since the start costs its penalty and is reported. */
export function settleMissedWaypoints(draft: Draft, progress: StageProgress, context: PipelineContext): void {
  for (const waypoint of context.course.waypoints) {
    if (waypoint.stageId !== progress.stageId || progress.waypoints[waypoint.id] !== undefined) continue;
    const at = progress.finishedAt ?? progress.startedAt;
    for (const fact of missedWaypointFacts(progress.entryId, progress.stageId, context.deviceId, at, waypoint)) draft.setFact(fact);
  }
}
