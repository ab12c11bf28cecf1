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
 * The most a result's time holds (its columns are 4-byte integers of milliseconds): 596:31:23.647. Penalties given by
 * hand to a car still running can add up past it by the time it finishes; such a time is this much, rather than a
 * value no column takes, which failed every write of the entry's result and, with it, every other car's timing.
 */
export const MAX_RESULT_MS = 2_147_483_647;

const storable = (ms: number): number => Math.min(ms, MAX_RESULT_MS);

/**
 * The stage_result fact with elapsed, penalty and total times as the contract defines them: elapsed from start to
 * finish, total = elapsed + penalties for a finished entry only, each at most MAX_RESULT_MS. The one place these are
 * computed.
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
    elapsedMs: elapsedMs === null ? null : storable(elapsedMs),
    penaltyMs: storable(penaltyMs),
    totalMs: elapsedMs === null || progress.status !== 'finished' ? null : storable(elapsedMs + penaltyMs),
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
