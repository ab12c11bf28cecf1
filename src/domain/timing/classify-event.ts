import type { ClassifiedResult } from './classify-stage.ts';
import { classifyStage } from './classify-stage.ts';

export interface EventResult extends ClassifiedResult {
  stageId: string;
}

export interface OverallClassificationRow {
  entryId: string;
  raceNumber: number | null;
  /** Stages of the event this entry finished. */
  stagesFinished: number;
  /** Sum of the totals of the stages it finished (penalties included), and of their penalties. */
  totalMs: number;
  penaltyMs: number;
  /** Entries that finished every stage only, ranked by the sum of their stage totals (ties share a rank). */
  rank: number | null;
  tied: boolean;
  gapToLeaderMs: number | null;
  gapToAheadMs: number | null;
  /** Finished every stage of the event: only these are classified; the others are listed apart. */
  complete: boolean;
}

/**
 * An event's overall classification: the sum of each entry's stage totals over the given stages, ranked with the
 * stage rule (classifyStage: ties share a rank, gaps to the leader and the car ahead). Entries that have not
 * finished every stage are listed apart after them, most stages finished first, then by the time they have.
 */
export function classifyEvent(stageIds: readonly string[], results: readonly EventResult[]): OverallClassificationRow[] {
  const stages = new Set(stageIds);
  const byEntry = new Map<string, { raceNumber: number | null; stagesFinished: number; totalMs: number; penaltyMs: number }>();
  for (const r of results) {
    if (!stages.has(r.stageId)) continue;
    const sum = byEntry.get(r.entryId) ?? { raceNumber: r.raceNumber, stagesFinished: 0, totalMs: 0, penaltyMs: 0 };
    if (r.status === 'finished' && r.totalMs !== null) {
      sum.stagesFinished++;
      sum.totalMs += r.totalMs;
      sum.penaltyMs += r.penaltyMs;
    }
    byEntry.set(r.entryId, sum);
  }
  const entries = [...byEntry].map(([entryId, sum]) => ({ entryId, ...sum, complete: stages.size > 0 && sum.stagesFinished === stages.size }));
  const classified = classifyStage(
    entries.filter((e) => e.complete).map((e) => ({ entryId: e.entryId, raceNumber: e.raceNumber, status: 'finished', startedAt: null, finishedAt: null, elapsedMs: null, penaltyMs: e.penaltyMs, totalMs: e.totalMs })),
  );
  const apart = entries
    .filter((e) => !e.complete)
    .sort((a, b) => b.stagesFinished - a.stagesFinished || a.totalMs - b.totalMs || (a.raceNumber ?? Infinity) - (b.raceNumber ?? Infinity));
  const ofEntry = new Map(entries.map((e) => [e.entryId, e]));
  return [
    ...classified.map((row) => ({ ...ofEntry.get(row.entryId)!, rank: row.rank, tied: row.tied, gapToLeaderMs: row.gapToLeaderMs, gapToAheadMs: row.gapToAheadMs })),
    ...apart.map((e) => ({ ...e, rank: null, tied: false, gapToLeaderMs: null, gapToAheadMs: null })),
  ];
}
