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
  for (const penalty of stored) {
    const computed = PIPELINE_PENALTY_KINDS.has(penalty.kind);
    const ms = computed ? (penalty.waived ? -computedMs(penalty) : 0) : penalty.waived ? 0 : penalty.amountMs;
    if (ms === 0) continue;
    const key = `${penalty.entryId}:${penalty.stageId}`;
    adjustment.set(key, (adjustment.get(key) ?? 0) + ms);
  }
  return adjustment;
}

/** A penalty fact of the batch being applied: its amount, or null where the batch retracts it. */
export interface BatchPenaltyAmount {
  id: string;
  entryId: string;
  stageId: string;
  amountMs: number | null;
}

/**
 * What to add to the penalty totals of the results a live batch writes, keyed `entry:stage`: a result counts every
 * penalty of its entry and stage as stored once the batch is applied (the batch's amounts over the stored ones), but
 * those the officials waived; the same rule the timing after a hand change follows. The live pipeline's own total
 * (`penaltyMs`) can differ from the stored penalties: a replay applied meanwhile (after a penalty formula changed)
 * stored other amounts for its computed penalties, which the live pipeline does not know. Taken out at the stored
 * amount from the pipeline's smaller one, a waived penalty made the car's penalty negative: a time bonus on the board.
 * Pairs that nothing changes are left out.
 */
export function liveResultPenaltyAdjustment(
  results: readonly { entryId: string; stageId: string; penaltyMs: number }[],
  stored: readonly StoredPenaltyAmount[],
  batch: readonly BatchPenaltyAmount[],
): Map<string, number> {
  const key = (p: { entryId: string; stageId: string }) => `${p.entryId}:${p.stageId}`;
  const inBatch = new Map(batch.map((p) => [p.id, p]));
  const totals = new Map<string, number>();
  const add = (pair: string, ms: number) => totals.set(pair, (totals.get(pair) ?? 0) + ms);
  const storedIds = new Set<string>();
  for (const penalty of stored) {
    storedIds.add(penalty.id);
    const amount = inBatch.has(penalty.id) ? (inBatch.get(penalty.id)!.amountMs ?? 0) : penalty.amountMs;
    if (!penalty.waived) add(key(penalty), amount);
  }
  for (const penalty of batch) if (!storedIds.has(penalty.id) && penalty.amountMs !== null) add(key(penalty), penalty.amountMs);
  const adjustment = new Map<string, number>();
  for (const result of results) {
    const ms = (totals.get(key(result)) ?? 0) - result.penaltyMs;
    if (ms !== 0) adjustment.set(key(result), ms);
  }
  return adjustment;
}
