import type { StageResultFact } from '../pipeline/facts.ts';
import { stageResultOf } from '../pipeline/stage-result.ts';

/** A stored crossing of one entry in one stage, as a timekeeper may have corrected it. */
export interface TimedCrossing {
  kind: 'start' | 'split' | 'finish';
  crossedAt: number;
}

/** A stored crossing, and whether the officials corrected it (or added it) by hand. */
export interface StoredCrossing extends TimedCrossing {
  corrected: boolean;
}

/**
 * Whether a stored crossing set by hand, by its stored speed, is a stopwatch time (added by the officials, with no
 * speed: the pipeline gives every crossing of its own the tracker's speed) rather than a tracker's crossing whose time
 * they corrected. Beside a stopwatch time the tracker's own crossing of the line is kept (see official-crossings), to
 * count once it is deleted.
 */
export const isStopwatchTime = (speedKmh: unknown): boolean => speedKmh === null || speedKmh === undefined;

/**
 * The crossings that time a result: where the officials corrected a start or finish by hand, it alone of its kind
 * (the pipeline's own beside it is left from before: a stopwatch start added for a car whose tracker's start was
 * wrong); the others as they are.
 */
export function countedCrossings(crossings: readonly StoredCrossing[]): TimedCrossing[] {
  const corrected = new Set(crossings.filter((c) => c.corrected).map((c) => c.kind));
  return crossings.filter((c) => c.corrected || !corrected.has(c.kind)).map(({ kind, crossedAt }) => ({ kind, crossedAt }));
}

/**
 * An entry's stage result after a timekeeper corrected its crossings or penalties by hand, from its counted
 * crossings (countedCrossings): the earliest start, the first finish after it, and the penalties' sum. Finished with
 * both; otherwise running, or still DNF if the stage had already closed on it. Null when there is nothing to time and
 * no result to correct.
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
 * whose row was refused), unless the officials `taken` that passage from the entry: they moved the crossing the
 * pipeline timed it from to another car (trackers swapped), and two cars finished on one time. Null as
 * resultFromCrossings.
 */
export function resultOnCrossings(result: StageResultFact, crossings: readonly TimedCrossing[], taken: ReadonlySet<'start' | 'finish'> = new Set()): StageResultFact | null {
  const timed = [...crossings];
  if (!timed.some((c) => c.kind === 'start') && result.startedAt !== null && !taken.has('start')) timed.push({ kind: 'start', crossedAt: result.startedAt });
  if (!timed.some((c) => c.kind === 'finish') && result.finishedAt !== null && !taken.has('finish')) timed.push({ kind: 'finish', crossedAt: result.finishedAt });
  return resultFromCrossings(result.entryId, result.stageId, timed, result.penaltyMs, result.status);
}
