import type { GateKind } from '../course.ts';

/**
 * Everything the pipeline derives from positions, as facts with deterministic keys. The live processor upserts
 * them and deletes retracted keys; replay compares them with what is stored. Same fixes in, same facts out.
 */
export type Fact = CrossingFact | StageResultFact | PenaltyFact | AnomalyFact;

export interface CrossingFact {
  type: 'crossing';
  key: string;
  entryId: string;
  stageId: string;
  gateId: string;
  deviceId: string;
  kind: 'start' | 'split' | 'finish';
  crossedAt: number;
  speedKmh: number;
  /**
   * Time between the two fixes the crossing was interpolated from: a crossing across a long silence is a guess,
   * and a second tracker of the entry that saw the line from close fixes is preferred (entryTiming).
   */
  segmentMs?: number;
}

export interface StageResultFact {
  type: 'stage_result';
  key: string;
  entryId: string;
  stageId: string;
  status: 'running' | 'finished' | 'dnf';
  startedAt: number | null;
  finishedAt: number | null;
  elapsedMs: number | null;
  penaltyMs: number;
  totalMs: number | null;
}

/** The penalties the pipeline computes; any other kind (`manual`, ...) is given by the officials, by hand. */
export const PIPELINE_PENALTY_KINDS: ReadonlySet<string> = new Set(['missed_waypoint', 'speeding']);

export interface PenaltyFact {
  type: 'penalty';
  key: string;
  entryId: string;
  stageId: string;
  kind: 'missed_waypoint' | 'speeding';
  amountMs: number;
  details: Record<string, unknown>;
}

export type AnomalyKind = 'missed_waypoint' | 'speeding' | 'signal_loss' | 'position_jump' | 'late_data';

export interface AnomalyFact {
  type: 'anomaly';
  key: string;
  kind: AnomalyKind;
  severity: 'info' | 'warning' | 'critical';
  entryId: string | null;
  stageId: string | null;
  deviceId: string;
  startedAt: number;
  endedAt: number | null;
  details: Record<string, unknown>;
}

export const crossingKind: Record<GateKind, CrossingFact['kind']> = {
  start_line: 'start',
  split_line: 'split',
  finish_line: 'finish',
};

/** Keys name what a fact is about, never its values, so a re-evaluated fact replaces its earlier version. */
export const factKey = {
  crossing: (entryId: string, gateId: string, crossedAt: number) => `crossing:${entryId}:${gateId}:${crossedAt}`,
  stageResult: (entryId: string, stageId: string) => `result:${entryId}:${stageId}`,
  penalty: (entryId: string, stageId: string, kind: string, ref: string) => `penalty:${entryId}:${stageId}:${kind}:${ref}`,
  anomaly: (deviceId: string, kind: AnomalyKind, ref: string) => `anomaly:${deviceId}:${kind}:${ref}`,
};
