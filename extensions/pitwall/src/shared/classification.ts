import { classifyEvent } from '../../../../src/domain/timing/classify-event.ts';
import { classifyStage, type ClassifiedResult } from '../../../../src/domain/timing/classify-stage.ts';

/**
 * What `GET /pitwall/classification` answers, built from stored rows by the domain's classification (ranks, ties,
 * gaps are decided in src/domain/timing, never here): this module only joins stored rows and renames fields.
 */

type Row = Record<string, unknown>;
export type ResultStatus = ClassifiedResult['status'];

export interface ClassificationEvent {
  id: string;
  name: string | null;
}

export interface ClassificationStage {
  id: string;
  name: string | null;
  sort_order: number | null;
  opens_at: string | null;
  closes_at: string | null;
}

interface Crew {
  entry: string;
  race_number: number | null;
  name: string | null;
  category: string | null;
}

export interface StageClassificationRow extends Crew {
  /** Finished entries only; tied entries share it. */
  rank: number | null;
  tied: boolean;
  status: ResultStatus;
  started_at: string | null;
  finished_at: string | null;
  elapsed_ms: number | null;
  penalty_ms: number;
  total_ms: number | null;
  gap_to_leader_ms: number | null;
  gap_to_ahead_ms: number | null;
}

export interface OverallClassificationRow extends Crew {
  /** Entries that finished every counted stage only. */
  rank: number | null;
  tied: boolean;
  stages_finished: number;
  /** The sum of the totals (penalties included) and of the penalties of the stages this entry finished. */
  total_ms: number;
  penalty_ms: number;
  gap_to_leader_ms: number | null;
  gap_to_ahead_ms: number | null;
}

export interface StageClassification {
  kind: 'stage';
  event: ClassificationEvent;
  stage: ClassificationStage;
  /** Server time of the reading. */
  computed_at: string;
  /** Finished by rank, then running in start order, then DNF. */
  rows: StageClassificationRow[];
}

export interface OverallClassification {
  kind: 'overall';
  event: ClassificationEvent;
  /** The stages counted: those of the event that any of its entries has started, in running order. */
  stages: ClassificationStage[];
  computed_at: string;
  /** Entries that finished every counted stage, ranked by the sum of their stage totals. */
  rows: OverallClassificationRow[];
  /** The others, apart: most stages finished first, then by their time so far. */
  incomplete: OverallClassificationRow[];
}

export type Classification = StageClassification | OverallClassification;

const intOrNull = (value: unknown): number | null => {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};
const msOf = (value: unknown): number | null => {
  if (value === null || value === undefined || value === '') return null;
  const ms = new Date(value as string).getTime();
  return Number.isFinite(ms) ? ms : null;
};
const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const textOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const idOf = (value: unknown): string => String(value && typeof value === 'object' && 'id' in value ? (value as { id: unknown }).id : value);

const statuses: readonly ResultStatus[] = ['running', 'finished', 'dnf'];

export const eventOf = (row: Row): ClassificationEvent => ({ id: idOf(row['id']), name: textOrNull(row['name']) });
export const stageOf = (row: Row): ClassificationStage => ({
  id: idOf(row['id']),
  name: textOrNull(row['name']),
  sort_order: intOrNull(row['sort_order']),
  opens_at: isoOf(msOf(row['opens_at'])),
  closes_at: isoOf(msOf(row['closes_at'])),
});

function crews(entries: readonly Row[]): Map<string, Crew> {
  return new Map(
    entries.map((e) => [idOf(e['id']), { entry: idOf(e['id']), race_number: intOrNull(e['race_number']), name: textOrNull(e['name']), category: textOrNull(e['category']) }]),
  );
}

/** Stored results of the event's own entries as the domain reads them; a result of another event's entry is left out. */
function classifiable(results: readonly Row[], ofEvent: Map<string, Crew>): (ClassifiedResult & { stageId: string })[] {
  return results.flatMap((r) => {
    const crew = ofEvent.get(idOf(r['entry']));
    const status = r['status'] as ResultStatus;
    if (!crew || !statuses.includes(status)) return [];
    return [{
      entryId: crew.entry,
      stageId: idOf(r['stage']),
      raceNumber: crew.race_number,
      status,
      startedAt: msOf(r['started_at']),
      finishedAt: msOf(r['finished_at']),
      elapsedMs: intOrNull(r['elapsed_ms']),
      penaltyMs: intOrNull(r['penalty_ms']) ?? 0,
      totalMs: intOrNull(r['total_ms']),
    }];
  });
}

/** One stage's classification from its stored results and the event's entries. */
export function stageClassification(event: Row, stage: Row, entries: readonly Row[], results: readonly Row[], now: Date): StageClassification {
  const ofEvent = crews(entries);
  const stageId = idOf(stage['id']);
  const rows = classifyStage(classifiable(results, ofEvent).filter((r) => r.stageId === stageId)).map((r) => ({
    ...ofEvent.get(r.entryId)!,
    rank: r.rank,
    tied: r.tied,
    status: r.status,
    started_at: isoOf(r.startedAt),
    finished_at: isoOf(r.finishedAt),
    elapsed_ms: r.elapsedMs,
    penalty_ms: r.penaltyMs,
    total_ms: r.totalMs,
    gap_to_leader_ms: r.gapToLeaderMs,
    gap_to_ahead_ms: r.gapToAheadMs,
  }));
  return { kind: 'stage', event: eventOf(event), stage: stageOf(stage), computed_at: now.toISOString(), rows };
}

/**
 * The event's overall classification after the stages run so far: a stage counts once any entry of the event has
 * a result in it, as officials post "overall after SS2" while SS3 has not started.
 */
export function overallClassification(event: Row, stages: readonly Row[], entries: readonly Row[], results: readonly Row[], now: Date): OverallClassification {
  const ofEvent = crews(entries);
  const stored = classifiable(results, ofEvent);
  const started = new Set(stored.map((r) => r.stageId));
  const counted = stages.map(stageOf).filter((s) => started.has(s.id));
  const all = classifyEvent(counted.map((s) => s.id), stored).map((r) => ({
    ...ofEvent.get(r.entryId)!,
    rank: r.rank,
    tied: r.tied,
    stages_finished: r.stagesFinished,
    total_ms: r.totalMs,
    penalty_ms: r.penaltyMs,
    gap_to_leader_ms: r.gapToLeaderMs,
    gap_to_ahead_ms: r.gapToAheadMs,
    complete: r.complete,
  }));
  const strip = ({ complete: _complete, ...row }: (typeof all)[number]): OverallClassificationRow => row;
  return {
    kind: 'overall',
    event: eventOf(event),
    stages: counted,
    computed_at: now.toISOString(),
    rows: all.filter((r) => r.complete).map(strip),
    incomplete: all.filter((r) => !r.complete).map(strip),
  };
}
