import type { StageProgress } from './device-state.ts';
import type { Draft } from './draft.ts';
import { factKey, type StageResultFact } from './facts.ts';

/** Penalties of one entry in one stage, from the facts the draft holds. */
function penaltyTotal(draft: Draft, entryId: string, stageId: string): number {
  let total = 0;
  const prefix = `penalty:${entryId}:${stageId}:`;
  for (const [key, fact] of Object.entries(draft.facts)) {
    if (fact.type === 'penalty' && key.startsWith(prefix)) total += fact.amountMs;
  }
  return total;
}

/** What a stage result is made of: a progress, or the crossings a timekeeper corrected (startedAt may be gone). */
export type ResultTimes = Pick<StageProgress, 'entryId' | 'stageId' | 'status' | 'finishedAt'> & { startedAt: number | null };

/**
 * The stage_result fact with elapsed, penalty and total times as the contract defines them: elapsed from start to
 * finish, total = elapsed + penalties for a finished entry only. The one place these are computed.
 */
export function stageResultOf(progress: ResultTimes, penaltyMs: number): StageResultFact {
  const elapsedMs = progress.finishedAt === null || progress.startedAt === null ? null : progress.finishedAt - progress.startedAt;
  return {
    type: 'stage_result',
    key: factKey.stageResult(progress.entryId, progress.stageId),
    entryId: progress.entryId,
    stageId: progress.stageId,
    status: progress.status,
    startedAt: progress.startedAt,
    finishedAt: progress.finishedAt,
    elapsedMs,
    penaltyMs,
    totalMs: elapsedMs === null || progress.status !== 'finished' ? null : elapsedMs + penaltyMs,
  };
}

/**
 * A result the pipeline computed, with the officials' decisions in the same stage applied (`officialMs`, see
 * storedPenaltyAdjustment): the penalties they gave by hand added, the computed ones they waived taken out. The total
 * counts every penalty of the entry, whoever gave it, so a car that finishes after a hand penalty keeps it.
 */
export function withOfficialPenalties(result: StageResultFact, officialMs: number): StageResultFact {
  if (officialMs === 0) return result;
  return stageResultOf(result, result.penaltyMs + officialMs);
}

/** Sets the stage_result fact of a progress, its penalties being those the draft holds. */
export function writeStageResult(draft: Draft, progress: StageProgress): void {
  draft.setFact(stageResultOf(progress, penaltyTotal(draft, progress.entryId, progress.stageId)));
}
