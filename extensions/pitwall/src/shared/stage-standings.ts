import { classifyStage, type ClassifiedResult } from '../../../../src/domain/timing/classify-stage.ts';

type Row = Record<string, unknown>;

/** What the bundle stores of a result's place in its stage: `rank` and `gap_ms` of `stage_results`. */
export interface Standing {
  rank: number | null;
  /** Behind the stage leader; null for the leader and the unranked (classifyStage's gapToLeaderMs). */
  gapMs: number | null;
}

export const standingFields = ['id', 'entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank', 'gap_ms'];

const msOf = (value: unknown): number | null => (value === null || value === undefined ? null : Date.parse(String(value)));
const numberOf = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/**
 * The rank and gap of each `stage_results` row of ONE stage (stored rows, or rows as they will be after planned
 * writes), by row id, as the domain classifies the stage (classifyStage: total time, ties sharing a rank). The bundle
 * only adapts rows to it; the rule lives in src/domain/timing. A stage holds one result per entry.
 */
export function stageStandings(rows: readonly Row[]): Map<string, Standing> {
  const idOfEntry = new Map<string, string>();
  const results: ClassifiedResult[] = rows.map((row) => {
    idOfEntry.set(String(row['entry']), String(row['id']));
    return {
      entryId: String(row['entry']),
      raceNumber: null,
      status: row['status'] as ClassifiedResult['status'],
      startedAt: msOf(row['started_at']),
      finishedAt: msOf(row['finished_at']),
      elapsedMs: numberOf(row['elapsed_ms']),
      penaltyMs: numberOf(row['penalty_ms']) ?? 0,
      totalMs: numberOf(row['total_ms']),
    };
  });
  return new Map(classifyStage(results).map((r) => [idOfEntry.get(r.entryId)!, { rank: r.rank, gapMs: r.gapToLeaderMs }]));
}

/** The writes that bring stored standings to the computed ones: only fields that differ, only rows that change. */
export function standingChanges(previous: ReadonlyMap<string, Row>, next: ReadonlyMap<string, Standing>): Map<string, Row> {
  const changes = new Map<string, Row>();
  for (const [id, { rank, gapMs }] of next) {
    const before = previous.get(id);
    const change: Row = {};
    if ((numberOf(before?.['rank']) ?? null) !== rank) change['rank'] = rank;
    if ((numberOf(before?.['gap_ms']) ?? null) !== gapMs) change['gap_ms'] = gapMs;
    if (Object.keys(change).length > 0) changes.set(id, change);
  }
  return changes;
}
