import type { FactBatch } from '../../../../src/domain/pipeline/fact-batch';
import { factId } from '../../../../src/domain/pipeline/fact-ids';
import type { StageResultFact } from '../../../../src/domain/pipeline/facts';
import { liveResultPenaltyAdjustment, type BatchPenaltyAmount, type StoredPenaltyAmount } from '../../../../src/domain/penalties/stored-penalty-adjustment.ts';

/**
 * What the officials' decisions and the stored penalties change in the penalty totals of the results the pipeline is
 * about to write, keyed `entry:stage` (liveResultPenaltyAdjustment): every penalty of the entry and stage as stored
 * once this batch is applied counts, the waived ones excepted. Read under the ranking lock, which the hook's re-timing
 * after a hand change takes too, so a penalty added or waived meanwhile is counted by one or the other.
 */
export async function officialPenalties(trx: any, batch: FactBatch, results: readonly StageResultFact[]): Promise<Map<string, number>> {
  if (results.length === 0) return new Map();
  const rows: { id: string; entry: string; stage: string; kind: string; amount_ms: string | number; waived: boolean | null }[] = await trx('entry_penalties')
    .select('id', 'entry', 'stage', 'kind', 'amount_ms', 'waived')
    .whereIn(['entry', 'stage'], results.map((p) => [p.entryId, p.stageId]));
  const stored: StoredPenaltyAmount[] = rows.map((r) => ({ id: r.id, entryId: r.entry, stageId: r.stage, kind: r.kind, amountMs: Number(r.amount_ms), waived: r.waived === true }));
  const inBatch: BatchPenaltyAmount[] = [];
  for (const fact of batch.upserts) if (fact.type === 'penalty') inBatch.push({ id: factId(fact.key), entryId: fact.entryId, stageId: fact.stageId, amountMs: fact.amountMs });
  const storedById = new Map(stored.map((p) => [p.id, p]));
  for (const key of batch.retractions) {
    const penalty = storedById.get(factId(key));
    if (penalty) inBatch.push({ id: penalty.id, entryId: penalty.entryId, stageId: penalty.stageId, amountMs: null });
  }
  return liveResultPenaltyAdjustment(results, stored, inBatch);
}
