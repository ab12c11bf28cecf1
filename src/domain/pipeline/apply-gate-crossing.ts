import type { GeofenceEvent } from '../geofence/geofence-event.ts';
import { progressKey } from './device-state.ts';
import type { Draft } from './draft.ts';
import { crossingKind, factKey } from './facts.ts';
import { entryAt, type PipelineContext } from './pipeline-context.ts';
import { settleMissedWaypoints } from './missed-waypoints.ts';
import { writeStageResult } from './stage-result.ts';

type GateCrossed = Extract<GeofenceEvent, { type: 'gate.crossed' }>;

/**
 * A crossing counts when the device belongs to an entry at that moment, the stage is one of that entry's event and
 * open, and the same gate was not crossed within the debounce window. The start line starts the stage, splits and
 * the finish count only while it runs; the finish settles missed waypoints and the result.
 */
export function applyGateCrossing(draft: Draft, event: GateCrossed, context: PipelineContext, segmentMs: number): void {
  const stage = context.course.stages.find((s) => s.id === event.stageId);
  const assignment = stage ? entryAt(context, event.at, stage.eventId) : null;
  if (!assignment || !stage || event.at < stage.opensAt || event.at > stage.closesAt) return;
  const previous = draft.lastCrossing[event.gateId];
  if (previous !== undefined && event.at - previous < context.options.debounceMs) return;

  const key = progressKey(assignment.entryId, stage.id);
  const progress = draft.progress[key];
  const kind = crossingKind[event.kind];
  if (kind === 'start' && progress) return; // the first start counts; a later pass is not a new start
  if (kind !== 'start' && progress?.status !== 'running') return;
  if (kind === 'split' && progress?.splits[event.gateId] !== undefined) return;

  draft.lastCrossing[event.gateId] = event.at;
  draft.setFact({
    type: 'crossing',
    key: factKey.crossing(assignment.entryId, event.gateId, event.at),
    entryId: assignment.entryId,
    stageId: stage.id,
    gateId: event.gateId,
    deviceId: context.deviceId,
    kind,
    crossedAt: event.at,
    speedKmh: Math.round(event.speedKmh * 10) / 10,
    segmentMs,
  });

  switch (kind) {
    case 'start':
      draft.progress[key] = { entryId: assignment.entryId, stageId: stage.id, status: 'running', startedAt: event.at, finishedAt: null, splits: {}, waypoints: {} };
      break;
    case 'split':
      draft.progress[key] = { ...progress!, splits: { ...progress!.splits, [event.gateId]: event.at } };
      break;
    case 'finish':
      draft.progress[key] = { ...progress!, status: 'finished', finishedAt: event.at };
      settleMissedWaypoints(draft, draft.progress[key]!, context);
      break;
    default: {
      const never: never = kind;
      throw new Error(`unknown crossing kind ${String(never)}`);
    }
  }
  writeStageResult(draft, draft.progress[key]!);
}
