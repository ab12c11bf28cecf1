import { PIPELINE_PENALTY_KINDS } from '../pipeline/facts.ts';

/** A stored penalty row as a result's total reads it. */
export interface StoredPenaltyAmount {
  id: string;
  entryId: string;
  stageId: string;
  kind: string;
  amountMs: number;
  /** Lifted by the officials (the `waived` field): the penalty is kept, for the record, but no longer counts. */
  waived: boolean;
}

/** Per `entry:stage`: the penalties the officials gave and still count, and the computed ones they waived. */
interface PenaltyParts {
  given: number;
  waived: number;
}

/**
 * The stored penalties in the two parts the officials' decisions make, keyed `entry:stage`: a penalty they gave by
 * hand (a kind the pipeline does not compute) unless they waived it, and a computed penalty they waived, at the amount
 * the pipeline now gives it (`computedMs`). Pairs with no such penalty are left out.
 */
function penaltyParts(stored: readonly StoredPenaltyAmount[], computedMs: (penalty: StoredPenaltyAmount) => number): Map<string, PenaltyParts> {
  const parts = new Map<string, PenaltyParts>();
  for (const penalty of stored) {
    const computed = PIPELINE_PENALTY_KINDS.has(penalty.kind);
    const given = !computed && !penalty.waived ? penalty.amountMs : 0;
    const waived = computed && penalty.waived ? computedMs(penalty) : 0;
    if (given === 0 && waived === 0) continue;
    const key = `${penalty.entryId}:${penalty.stageId}`;
    const part = parts.get(key) ?? { given: 0, waived: 0 };
    part.given += given;
    part.waived += waived;
    parts.set(key, part);
  }
  return parts;
}

/**
 * What the stored penalties change in the penalty total the pipeline computed for each entry and stage, keyed
 * `entry:stage`. The pipeline counts only its own penalties, and counts them all:
 * - a penalty the officials gave by hand (a kind the pipeline does not compute) is added, unless they waived it;
 * - a computed penalty the officials waived is taken out, at the amount the pipeline now gives it (`computedMs`:
 *   0 when the pipeline no longer computes it). The pipeline writes the amount again; the waiver is the officials'
 *   and stays.
 * Pairs that nothing changes are left out.
 */
export function storedPenaltyAdjustment(stored: readonly StoredPenaltyAmount[], computedMs: (penalty: StoredPenaltyAmount) => number): Map<string, number> {
  const adjustment = new Map<string, number>();
  for (const [key, { given, waived }] of penaltyParts(stored, computedMs)) adjustment.set(key, given - waived);
  return adjustment;
}

/**
 * storedPenaltyAdjustment for the results a live batch writes (`penaltyMs`, the pipeline's own total), keyed
 * `entry:stage`: the waived computed penalties never take more out than the pipeline counts. A replay applied after a
 * penalty formula changed stores new amounts, which the live pipeline does not know: a waived penalty taken out at
 * the stored 105,146 ms from the pipeline's 52,573 made the car's penalty negative, a time bonus on the board. Where
 * the two agree this is storedPenaltyAdjustment. Pairs that nothing changes are left out.
 */
export function liveResultPenaltyAdjustment(
  results: readonly { entryId: string; stageId: string; penaltyMs: number }[],
  stored: readonly StoredPenaltyAmount[],
  computedMs: (penalty: StoredPenaltyAmount) => number,
): Map<string, number> {
  const parts = penaltyParts(stored, computedMs);
  const adjustment = new Map<string, number>();
  for (const result of results) {
    const pair = `${result.entryId}:${result.stageId}`;
    const { given, waived } = parts.get(pair) ?? { given: 0, waived: 0 };
    const ms = Math.max(0, result.penaltyMs - waived) + given - result.penaltyMs;
    if (ms !== 0) adjustment.set(pair, ms);
  }
  return adjustment;
}
