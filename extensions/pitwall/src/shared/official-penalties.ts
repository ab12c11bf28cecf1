import type { FactBatch } from '../../../../src/domain/pipeline/fact-batch';
import { factId } from '../../../../src/domain/pipeline/fact-ids';
import { PIPELINE_PENALTY_KINDS, type StageResultFact } from '../../../../src/domain/pipeline/facts.ts';
import { liveResultPenaltyAdjustment, type StoredPenaltyAmount } from '../../../../src/domain/penalties/stored-penalty-adjustment.ts';

/**
 * What the officials' decisions change in the penalty totals of the results the pipeline is about to write, keyed
 * `entry:stage` (liveResultPenaltyAdjustment): their own penalties added, the computed ones they waived taken out at the
 * amount this batch gives them (or, where it does not touch one, the stored amount), never more than the pipeline
 * counts. Read under the ranking lock, which the hook's re-timing after a hand change takes too, so a penalty added or
 * waived meanwhile is counted by one or the other.
 */
export async function officialPenalties(trx: any, batch: FactBatch, results: readonly StageResultFact[]): Promise<Map<string, number>> {
  if (results.length === 0) return new Map();
  const rows: { id: string; entry: string; stage: string; kind: string; amount_ms: string | number; waived: boolean | null }[] = await trx('entry_penalties')
    .select('id', 'entry', 'stage', 'kind', 'amount_ms', 'waived')
    .whereIn(['entry', 'stage'], results.map((p) => [p.entryId, p.stageId]))
    .andWhere((q: any) => q.whereNotIn('kind', [...PIPELINE_PENALTY_KINDS]).orWhere('waived', true));
  if (rows.length === 0) return new Map();
  const batchMs = new Map<string, number>();
  for (const fact of batch.upserts) if (fact.type === 'penalty') batchMs.set(factId(fact.key), fact.amountMs);
  for (const key of batch.retractions) batchMs.set(factId(key), 0);
  const stored: StoredPenaltyAmount[] = rows.map((r) => ({ id: r.id, entryId: r.entry, stageId: r.stage, kind: r.kind, amountMs: Number(r.amount_ms), waived: r.waived === true }));
  return liveResultPenaltyAdjustment(results, stored, (penalty) => batchMs.get(penalty.id) ?? penalty.amountMs);
}
