import { PIPELINE_PENALTY_KINDS } from '../../../../src/domain/pipeline/facts.ts';

/**
 * The sum of the penalties officials gave by hand (kinds the pipeline does not compute) per entry and stage, keyed
 * `entry:stage`, for the results the pipeline is about to write. Read under the ranking lock, which the hook's
 * re-timing after a hand penalty takes too, so a penalty added meanwhile is counted by one or the other.
 */
export async function officialPenalties(trx: any, pairs: readonly { entryId: string; stageId: string }[]): Promise<Map<string, number>> {
  if (pairs.length === 0) return new Map();
  const rows: { entry: string; stage: string; sum: string | number }[] = await trx('entry_penalties')
    .select('entry', 'stage')
    .sum({ sum: 'amount_ms' })
    .whereIn(['entry', 'stage'], pairs.map((p) => [p.entryId, p.stageId]))
    .whereNotIn('kind', [...PIPELINE_PENALTY_KINDS])
    .groupBy('entry', 'stage');
  return new Map(rows.map((r) => [`${r.entry}:${r.stage}`, Number(r.sum)]));
}
