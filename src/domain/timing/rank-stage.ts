import type { StageResultFact } from '../pipeline/facts.ts';

export type RankedResult = StageResultFact & { rank: number | null };

/**
 * Ranks a stage's finished entries by total time (elapsed plus penalties), ties sharing a rank ("1, 2, 2, 4"),
 * as rally classifications do. Running and DNF entries have no rank.
 */
export function rankStage(results: readonly StageResultFact[]): RankedResult[] {
  const finished = results
    .filter((r) => r.status === 'finished' && r.totalMs !== null)
    .sort((a, b) => a.totalMs! - b.totalMs! || a.entryId.localeCompare(b.entryId));
  const rankOf = new Map<string, number>();
  finished.forEach((result, i) => {
    const previous = finished[i - 1];
    rankOf.set(result.key, previous && previous.totalMs === result.totalMs ? rankOf.get(previous.key)! : i + 1);
  });
  return results.map((r) => ({ ...r, rank: rankOf.get(r.key) ?? null }));
}
