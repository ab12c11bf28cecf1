import type { StageProgress } from './device-state.ts';
import type { Draft } from './draft.ts';
import { factKey } from './facts.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** At the finish, every waypoint of the stage not validated since the start costs its penalty and is reported. */
export function settleMissedWaypoints(draft: Draft, progress: StageProgress, context: PipelineContext): void {
  for (const waypoint of context.course.waypoints) {
    if (waypoint.stageId !== progress.stageId || progress.waypoints[waypoint.id] !== undefined) continue;
    const details = { waypoint: waypoint.id, name: waypoint.name, tolerance_meters: waypoint.toleranceMeters };
    draft.setFact({
      type: 'penalty',
      key: factKey.penalty(progress.entryId, progress.stageId, 'missed_waypoint', waypoint.id),
      entryId: progress.entryId,
      stageId: progress.stageId,
      kind: 'missed_waypoint',
      amountMs: waypoint.penaltyMs,
      details,
    });
    draft.setFact({
      type: 'anomaly',
      key: factKey.anomaly(context.deviceId, 'missed_waypoint', `${progress.stageId}:${waypoint.id}`),
      kind: 'missed_waypoint',
      severity: 'warning',
      entryId: progress.entryId,
      stageId: progress.stageId,
      deviceId: context.deviceId,
      startedAt: progress.finishedAt ?? progress.startedAt,
      endedAt: null,
      details: { ...details, penalty_ms: waypoint.penaltyMs },
    });
  }
}
