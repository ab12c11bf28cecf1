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

/**
 * A result the pipeline made, timed again from the entry's crossings in the stage where the officials corrected some
 * by hand (they keep them; the pipeline's own times would undo the correction): the crossings give the start and the
 * finish, the result its penalties and status, and its own start or finish where no crossing gives one (a crossing
 * whose row was refused). Null as resultFromCrossings.
 */
export function resultOnCrossings(result: StageResultFact, crossings: readonly TimedCrossing[]): StageResultFact | null {
  const timed = [...crossings];
  if (!timed.some((c) => c.kind === 'start') && result.startedAt !== null) timed.push({ kind: 'start', crossedAt: result.startedAt });
  if (!timed.some((c) => c.kind === 'finish') && result.finishedAt !== null) timed.push({ kind: 'finish', crossedAt: result.finishedAt });
  return resultFromCrossings(result.entryId, result.stageId, timed, result.penaltyMs, result.status);
}
