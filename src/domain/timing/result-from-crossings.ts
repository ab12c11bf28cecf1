import type { StageResultFact } from '../pipeline/facts.ts';
import { stageResultOf } from '../pipeline/stage-result.ts';

/** A stored crossing of one entry in one stage, as a timekeeper may have corrected it. */
export interface TimedCrossing {
  kind: 'start' | 'split' | 'finish';
  crossedAt: number;
}

/**
 * An entry's stage result after a timekeeper corrected its crossings or penalties by hand: the earliest start, the
 * first finish after it, and the penalties' sum. Finished with both; otherwise running, or still DNF if the stage
 * had already closed on it. Null when there is nothing to time and no result to correct.
 */
export function resultFromCrossings(
  entryId: string, stageId: string, crossings: readonly TimedCrossing[], penaltyMs: number, previous: StageResultFact['status'] | null,
): StageResultFact | null {
  const ordered = [...crossings].sort((a, b) => a.crossedAt - b.crossedAt);
  const startedAt = ordered.find((c) => c.kind === 'start')?.crossedAt ?? null;
  const finishedAt = ordered.find((c) => c.kind === 'finish' && (startedAt === null || c.crossedAt > startedAt))?.crossedAt ?? null;
  if (previous === null && startedAt === null) return null;
  const status = startedAt !== null && finishedAt !== null ? 'finished' : previous === 'dnf' ? 'dnf' : 'running';
  return stageResultOf({ entryId, stageId, status, startedAt, finishedAt }, penaltyMs);
}
