import type { StageResultFact } from '../pipeline/facts.ts';
import { rankStage } from './rank-stage.ts';

/** A stored stage result as the classification reads it; the race number only orders ties and the unranked. */
export interface ClassifiedResult {
  entryId: string;
  raceNumber: number | null;
  status: StageResultFact['status'];
  startedAt: number | null;
  finishedAt: number | null;
  elapsedMs: number | null;
  penaltyMs: number;
  totalMs: number | null;
}

export interface StageClassificationRow extends ClassifiedResult {
  /** Finished entries only; tied entries share it ("1, 2, 2, 4"). */
  rank: number | null;
  /** Another entry has the same rank. */
  tied: boolean;
  /** Null for the leader and for the unranked. */
  gapToLeaderMs: number | null;
  /** To the entry classified just before (0 within a tie); null for the leader and for the unranked. */
  gapToAheadMs: number | null;
}

const byNumber = (a: ClassifiedResult, b: ClassifiedResult) => (a.raceNumber ?? Infinity) - (b.raceNumber ?? Infinity) || a.entryId.localeCompare(b.entryId);

/**
 * A stage's classification as officials post it: finished entries by rank (rankStage: total time, penalties
 * included, ties sharing a rank), with their gaps to the leader and to the car ahead; then the entries still
 * running, in start order; then the DNFs.
 */
export function classifyStage(results: readonly ClassifiedResult[]): StageClassificationRow[] {
  const facts: StageResultFact[] = results.map((r, i) => ({ ...r, type: 'stage_result', key: String(i), stageId: '' }));
  const rankOf = new Map(rankStage(facts).map((r) => [Number(r.key), r.rank]));
  const rows = results.map((r, i) => ({ ...r, rank: rankOf.get(i) ?? null }));
  const finished = rows.filter((r) => r.rank !== null).sort((a, b) => a.rank! - b.rank! || byNumber(a, b));
  const running = rows.filter((r) => r.rank === null && r.status === 'running').sort((a, b) => (a.startedAt ?? Infinity) - (b.startedAt ?? Infinity) || byNumber(a, b));
  const others = rows.filter((r) => r.rank === null && r.status !== 'running').sort(byNumber);
  const count = new Map<number, number>();
  for (const r of finished) count.set(r.rank!, (count.get(r.rank!) ?? 0) + 1);
  const leader = finished[0]?.totalMs ?? null;
  return [
    ...finished.map((r, i) => ({
      ...r,
      tied: count.get(r.rank!)! > 1,
      gapToLeaderMs: i === 0 ? null : r.totalMs! - leader!,
      gapToAheadMs: i === 0 ? null : r.totalMs! - finished[i - 1]!.totalMs!,
    })),
    ...[...running, ...others].map((r) => ({ ...r, tied: false, gapToLeaderMs: null, gapToAheadMs: null })),
  ];
}
