import type { DeviceState } from './device-state.ts';
import { Draft } from './draft.ts';
import { factKey } from './facts.ts';
import type { PipelineContext } from './pipeline-context.ts';
import type { StepResult } from './step-device.ts';
import { writeStageResult } from './stage-result.ts';

/**
 * What the passing of time alone decides, with `now` given by the caller: a stage that closed without a finish
 * is DNF for the entries still running in it, and a running entry silent for too long has an open signal loss.
 * Silent since its last fix's time, or since `heardAt` (the caller's clock when a fix last came) if that is later:
 * a tracker back in coverage uploads fixes dated minutes ago, and is not silent while they come.
 */
export function tickDevice(state: DeviceState, now: number, context: PipelineContext, heardAt: number | null = null): StepResult {
  const draft = new Draft(state);
  for (const [key, progress] of Object.entries(draft.progress)) {
    const stage = context.course.stages.find((s) => s.id === progress.stageId);
    if (progress.status !== 'running' || !stage || now <= stage.closesAt) continue;
    draft.progress[key] = { ...progress, status: 'dnf' };
    writeStageResult(draft, draft.progress[key]!);
  }
  const last = draft.last;
  const running = Object.values(draft.progress).find((p) => p.status === 'running');
  if (last && running && now - Math.max(last.ts, heardAt ?? last.ts) > context.options.signalLossMs && draft.openSignalLossFrom !== last.ts) {
    draft.setFact({
      type: 'anomaly',
      key: factKey.anomaly(context.deviceId, 'signal_loss', String(last.ts)),
      kind: 'signal_loss',
      severity: 'warning',
      entryId: running.entryId,
      stageId: running.stageId,
      deviceId: context.deviceId,
      startedAt: last.ts,
      endedAt: null,
      details: { lat: last.lat, lon: last.lon },
    });
    draft.openSignalLossFrom = last.ts;
  }
  return { state: draft.finish(), changed: draft.changed };
}
