import type { Course } from '../course.ts';
import type { DeviceState, StageProgress } from './device-state.ts';
import type { CrossingFact, Fact, PenaltyFact } from './facts.ts';
import { missedWaypointFacts } from './missed-waypoints.ts';
import type { TrackerRole } from './pipeline-context.ts';
import { stageResultOf } from './stage-result.ts';

/** One tracker of an entry, as its own pipeline timed the entry. */
export interface TrackerView {
  deviceId: string;
  role: TrackerRole;
  state: DeviceState;
}

/** The facts entryTiming decides for an entry with several trackers; the trackers' other anomalies are their own. */
export function isTimingFact(fact: Fact): boolean {
  return fact.type !== 'anomaly' || fact.kind === 'missed_waypoint';
}

const ROLE_ORDER: Record<TrackerRole, number> = { primary: 0, backup: 1 };

interface StageView {
  rank: number;
  tracker: TrackerView;
  progress: StageProgress;
}

/**
 * The better of two crossings of one gate: one interpolated between close fixes beats one across a silence
 * (longer than `signalLossMs`), then the primary beats the backup, then the earlier crossing.
 */
function better(a: { fact: CrossingFact; rank: number }, b: { fact: CrossingFact; rank: number }, signalLossMs: number): boolean {
  const silentA = (a.fact.segmentMs ?? 0) > signalLossMs;
  const silentB = (b.fact.segmentMs ?? 0) > signalLossMs;
  if (silentA !== silentB) return silentB;
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.fact.crossedAt < b.fact.crossedAt;
}

/**
 * One entry timed once from all of its trackers, each of which ran its own pipeline over its own fixes:
 * - each gate's crossing is the primary's where the primary has it from close fixes, else the backup's (the source
 *   tracker stays on the crossing);
 * - a waypoint counts as passed when any tracker validated it; at the finish the others cost their penalty;
 * - speeding in a zone costs what the most preferred tracker that measured speeding there says (never the sum);
 * - one result per stage: finished when a finish is timed, running while any tracker still runs the stage, DNF
 *   when all of them were stopped by the stage closing.
 * Returns the entry's crossings, results, penalties and missed-waypoint anomalies.
 */
export function entryTiming(entryId: string, trackers: readonly TrackerView[], course: Course, signalLossMs: number): Fact[] {
  const ordered = [...trackers].sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.deviceId.localeCompare(b.deviceId));
  const stages = new Map<string, StageView[]>();
  ordered.forEach((tracker, rank) => {
    for (const progress of Object.values(tracker.state.progress)) {
      if (progress.entryId !== entryId) continue;
      stages.set(progress.stageId, [...(stages.get(progress.stageId) ?? []), { rank, tracker, progress }]);
    }
  });
  const facts: Fact[] = [];
  for (const stageId of [...stages.keys()].sort()) facts.push(...stageTiming(entryId, stageId, stages.get(stageId)!, course, signalLossMs));
  return facts;
}

function stageTiming(entryId: string, stageId: string, views: StageView[], course: Course, signalLossMs: number): Fact[] {
  const byGate = new Map<string, { fact: CrossingFact; rank: number }>();
  const speeding = new Map<string, { rank: number; penalties: PenaltyFact[] }>();
  for (const { rank, tracker } of views) {
    for (const fact of Object.values(tracker.state.facts)) {
      if (fact.entryId !== entryId || fact.stageId !== stageId) continue;
      if (fact.type === 'crossing') {
        const candidate = { fact, rank };
        const held = byGate.get(fact.gateId);
        if (!held || better(candidate, held, signalLossMs)) byGate.set(fact.gateId, candidate);
      } else if (fact.type === 'penalty' && fact.kind === 'speeding') {
        const zone = String(fact.details['zone']);
        const held = speeding.get(zone);
        if (!held || rank < held.rank) speeding.set(zone, { rank, penalties: [fact] });
        else if (rank === held.rank) held.penalties.push(fact);
      }
    }
  }
  const chosen = [...byGate.values()].map((c) => c.fact).sort((a, b) => a.crossedAt - b.crossedAt);
  const start = chosen.find((c) => c.kind === 'start');
  if (!start) return [];
  const finish = chosen.find((c) => c.kind === 'finish' && c.crossedAt > start.crossedAt) ?? null;
  const crossings = chosen.filter(
    (c) => c === start || c === finish || (c.kind === 'split' && c.crossedAt > start.crossedAt && (!finish || c.crossedAt < finish.crossedAt)),
  );
  const facts: Fact[] = [...crossings];
  for (const { penalties } of speeding.values()) facts.push(...penalties);
  if (finish) {
    const passed = new Set(views.flatMap((v) => Object.keys(v.progress.waypoints)));
    for (const waypoint of course.waypoints) {
      if (waypoint.stageId === stageId && !passed.has(waypoint.id)) facts.push(...missedWaypointFacts(entryId, stageId, finish.deviceId, finish.crossedAt, waypoint));
    }
  }
  const status = finish ? 'finished' : views.some((v) => v.progress.status === 'running') || views.every((v) => v.progress.status !== 'dnf') ? 'running' : 'dnf';
  const penaltyMs = facts.reduce((sum, f) => sum + (f.type === 'penalty' ? f.amountMs : 0), 0);
  facts.push(stageResultOf({ entryId, stageId, status, startedAt: start.crossedAt, finishedAt: finish?.crossedAt ?? null }, penaltyMs));
  return facts;
}
