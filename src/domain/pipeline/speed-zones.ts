import type { Fix, Zone } from '../course.ts';
import { fixDistanceM } from '../anomalies/implied-speed.ts';
import { defaultSpeedingParams } from '../penalties/penalty-formula.ts';
import { speedingPenalty } from '../penalties/speeding-penalty.ts';
import { progressKey } from './device-state.ts';
import type { Draft } from './draft.ts';
import { factKey } from './facts.ts';
import { entryAt, type PipelineContext } from './pipeline-context.ts';
import { writeStageResult } from './stage-result.ts';

/** Speeding this far over the limit is critical rather than a warning. */
const CRITICAL_OVER_KMH = 20;

function speedZone(context: PipelineContext, zoneId: string): Zone | null {
  const zone = context.course.zones.find((z) => z.id === zoneId);
  return zone?.kind === 'speed_zone' && zone.speedLimitKmh !== null ? zone : null;
}

/** A visit counts for an entry only in a speed zone of its own event (another event may share the ground). */
export function openSpeedZoneVisit(draft: Draft, zoneId: string, at: number, context: PipelineContext): void {
  const zone = speedZone(context, zoneId);
  if (!zone || !entryAt(context, at, zone.eventId)) return;
  draft.speedVisits[zoneId] = { zoneId, enteredAt: at, overMs: 0, overM: 0, maxSpeedKmh: 0, penaltyMs: 0 };
}

/**
 * Adds the stretch [from, to] of the segment prev→cur to every open speed-zone visit. Speed is the fixes' GPS
 * speed interpolated over the stretch; distance is the stretch's share of the segment length. A GPS speed over
 * `maxSpeedKmh` (what no car drives: a glitched reading) counts as the speed the two positions imply: one reading of
 * 500 km/h, the car's positions 45 km/h apart, added 20 s to a tester's speeding penalty.
 */
export function accrueSpeedExposure(draft: Draft, prev: Fix, cur: Fix, from: number, to: number, context: PipelineContext): void {
  if (to <= from || !draft.hasSpeedVisits) return;
  // Only now: most segments have no open visit, and the distance is the costly part.
  const segmentM = fixDistanceM(prev, cur);
  const span = cur.ts - prev.ts;
  const credible = (kmh: number) => (kmh <= context.options.maxSpeedKmh ? kmh : (segmentM / span) * 3600);
  const [fromKmh, toKmh] = [credible(prev.speedKmh), credible(cur.speedKmh)];
  const speedAt = (t: number) => fromKmh + ((toKmh - fromKmh) * (t - prev.ts)) / span;
  const speedKmh = (speedAt(from) + speedAt(to)) / 2;
  const durationMs = to - from;
  const distanceM = (segmentM * durationMs) / span;
  for (const [zoneId, visit] of Object.entries(draft.speedVisits)) {
    const zone = speedZone(context, zoneId);
    const assignment = zone ? entryAt(context, visit.enteredAt, zone.eventId) : null;
    if (!zone || !assignment) continue;
    const params = context.speeding.get(assignment.eventId) ?? defaultSpeedingParams;
    const over = speedKmh > zone.speedLimitKmh!;
    draft.speedVisits[zoneId] = {
      ...visit,
      overMs: visit.overMs + (over ? durationMs : 0),
      overM: visit.overM + (over ? distanceM : 0),
      maxSpeedKmh: Math.max(visit.maxSpeedKmh, speedAt(from), speedAt(to)),
      penaltyMs: visit.penaltyMs + speedingPenalty({ durationMs, distanceM, speedKmh }, zone.speedLimitKmh!, params),
    };
  }
}

/** On leaving a speed zone, a visit over the limit becomes a penalty of the running stage and an anomaly. */
export function closeSpeedZoneVisit(draft: Draft, zoneId: string, at: number, context: PipelineContext): void {
  const visit = draft.speedVisits[zoneId];
  const zone = speedZone(context, zoneId);
  delete draft.speedVisits[zoneId];
  if (!visit || !zone || visit.overMs === 0) return;
  const assignment = entryAt(context, visit.enteredAt, zone.eventId);
  if (!assignment) return;
  const running = Object.values(draft.progress).find(
    (p) => p.entryId === assignment.entryId && p.status === 'running' && (zone.stageId === null || p.stageId === zone.stageId),
  );
  const details = {
    zone: zone.id,
    name: zone.name,
    limit_kmh: zone.speedLimitKmh,
    max_speed_kmh: Math.round(visit.maxSpeedKmh * 10) / 10,
    over_ms: Math.round(visit.overMs),
    over_m: Math.round(visit.overM * 10) / 10,
    entered_at: visit.enteredAt,
    exited_at: at,
  };
  if (running && visit.penaltyMs > 0) {
    draft.setFact({
      type: 'penalty',
      key: factKey.penalty(assignment.entryId, running.stageId, 'speeding', `${zone.id}:${visit.enteredAt}`),
      entryId: assignment.entryId,
      stageId: running.stageId,
      kind: 'speeding',
      amountMs: visit.penaltyMs,
      details,
    });
    writeStageResult(draft, draft.progress[progressKey(running.entryId, running.stageId)]!);
  }
  draft.setFact({
    type: 'anomaly',
    key: factKey.anomaly(context.deviceId, 'speeding', `${zone.id}:${visit.enteredAt}`),
    kind: 'speeding',
    severity: visit.maxSpeedKmh - zone.speedLimitKmh! >= CRITICAL_OVER_KMH ? 'critical' : 'warning',
    entryId: assignment.entryId,
    stageId: running?.stageId ?? zone.stageId,
    deviceId: context.deviceId,
    startedAt: visit.enteredAt,
    endedAt: at,
    details: { ...details, penalty_ms: running ? visit.penaltyMs : 0 },
  });
}
