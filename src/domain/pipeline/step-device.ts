import type { Fix } from '../course.ts';
import { fixDistanceM, impliedSpeedKmh, isPositionJump } from '../anomalies/implied-speed.ts';
import { segmentEvents, zonesContaining } from '../geofence/index.ts';
import type { DeviceState } from './device-state.ts';
import { applyGateCrossing } from './apply-gate-crossing.ts';
import { applyWaypoint } from './apply-waypoint.ts';
import { Draft } from './draft.ts';
import { factKey } from './facts.ts';
import { entryAt, type PipelineContext } from './pipeline-context.ts';
import { accrueSpeedExposure, closeSpeedZoneVisit, openSpeedZoneVisit } from './speed-zones.ts';

export interface StepResult {
  state: DeviceState;
  /** Keys of the facts this step created, changed or dropped (a dropped key is no longer in `state.facts`). */
  changed: string[];
}

function runningEntryStage(draft: Draft, context: PipelineContext, at: number): { entryId: string; stageId: string } | null {
  const assignment = entryAt(context, at);
  if (!assignment) return null;
  return Object.values(draft.progress).find((p) => p.entryId === assignment.entryId && p.status === 'running') ?? null;
}

/**
 * A fix that implies an impossible speed (beyond the GPS error: isPositionJump) is reported and kept aside rather
 * than evaluated. If the next fix agrees with it rather than with the last good fix, the device really moved (or the
 * earlier fix was the bad one), and evaluation resumes from it without crossing the gap.
 */
function screenJump(draft: Draft, prev: Fix, fix: Fix, context: PipelineContext): Fix | null {
  const { maxSpeedKmh } = context.options;
  if (!isPositionJump(prev, fix, maxSpeedKmh)) {
    draft.suspect = null;
    return prev;
  }
  if (draft.suspect && !isPositionJump(draft.suspect, fix, maxSpeedKmh)) {
    const resumed = draft.suspect;
    draft.suspect = null;
    draft.insideZones = new Set(zonesContaining(context.index, resumed));
    return resumed;
  }
  const running = runningEntryStage(draft, context, fix.ts);
  draft.setFact({
    type: 'anomaly',
    key: factKey.anomaly(context.deviceId, 'position_jump', String(fix.ts)),
    kind: 'position_jump',
    severity: 'warning',
    entryId: entryAt(context, fix.ts)?.entryId ?? null,
    stageId: running?.stageId ?? null,
    deviceId: context.deviceId,
    startedAt: fix.ts,
    endedAt: null,
    details: { from_ts: prev.ts, distance_m: Math.round(fixDistanceM(prev, fix)), implied_speed_kmh: Math.round(impliedSpeedKmh(prev, fix)), lat: fix.lat, lon: fix.lon },
  });
  draft.suspect = fix;
  return null;
}

/**
 * A silence longer than `signalLossMs` between two fixes. With the caller's clock (`now`, live processing), the
 * silence is counted up to that clock at most: a fix dated ahead of it (a tracker's clock jumping minutes forward
 * once) proves no silence that has not happened yet. Without that bound, each true fix arriving after such a fix was
 * evaluated again before it and moved the start of a new "signal loss" by a second: one alert a second until the
 * clock caught up with the glitch.
 */
function reportSignalLoss(draft: Draft, prev: Fix, fix: Fix, context: PipelineContext, now: number | undefined): void {
  const silentUntil = now === undefined ? fix.ts : Math.min(fix.ts, now);
  if (silentUntil - prev.ts <= context.options.signalLossMs) {
    // The clock opened a signal loss while the tracker was silent (tickDevice), and its fixes came after all with no
    // gap between them (an upload of buffered fixes): taken back, as the same fixes replayed never report one.
    if (draft.openSignalLossFrom !== null) draft.dropFact(factKey.anomaly(context.deviceId, 'signal_loss', String(draft.openSignalLossFrom)));
    draft.openSignalLossFrom = null;
    return;
  }
  const running = runningEntryStage(draft, context, prev.ts);
  if (!running) return;
  draft.setFact({
    type: 'anomaly',
    key: factKey.anomaly(context.deviceId, 'signal_loss', String(prev.ts)),
    kind: 'signal_loss',
    severity: 'warning',
    entryId: running.entryId,
    stageId: running.stageId,
    deviceId: context.deviceId,
    startedAt: prev.ts,
    endedAt: fix.ts,
    details: { gap_ms: fix.ts - prev.ts, lat: prev.lat, lon: prev.lon },
  });
  draft.openSignalLossFrom = null;
}

/**
 * Evaluates one fix that is newer than every fix evaluated before it. `now`: the caller's clock when live (see
 * reportSignalLoss); a replay of stored fixes has none.
 */
export function stepDevice(state: DeviceState, fix: Fix, context: PipelineContext, now?: number): StepResult {
  const draft = new Draft(state);
  const last = draft.last;
  if (last === null) {
    draft.last = fix;
    draft.insideZones = new Set(zonesContaining(context.index, fix));
    for (const zoneId of draft.insideZones) openSpeedZoneVisit(draft, zoneId, fix.ts, context);
    return { state: draft.finish(), changed: draft.changed };
  }
  if (fix.ts <= last.ts) throw new RangeError(`stepDevice needs fixes in time order: ${fix.ts} is not after ${last.ts}`);
  const prev = screenJump(draft, last, fix, context);
  if (prev === null) return { state: draft.finish(), changed: draft.changed };

  reportSignalLoss(draft, prev, fix, context, now);
  let cursor = prev.ts;
  for (const event of segmentEvents(context.index, prev, fix, draft.zonesNow)) {
    accrueSpeedExposure(draft, prev, fix, cursor, event.at, context);
    cursor = event.at;
    switch (event.type) {
      case 'gate.crossed':
        applyGateCrossing(draft, event, context, fix.ts - prev.ts);
        break;
      case 'waypoint.passed':
        applyWaypoint(draft, event, context);
        break;
      case 'zone.entered':
        draft.insideZones.add(event.zoneId);
        openSpeedZoneVisit(draft, event.zoneId, event.at, context);
        break;
      case 'zone.exited':
        draft.insideZones.delete(event.zoneId);
        closeSpeedZoneVisit(draft, event.zoneId, event.at, context);
        break;
      default: {
        const never: never = event;
        throw new Error(`unknown geofence event ${JSON.stringify(never)}`);
      }
    }
  }
  accrueSpeedExposure(draft, prev, fix, cursor, fix.ts, context);
  draft.last = fix;
  return { state: draft.finish(), changed: draft.changed };
}
