import type { StageResultFact } from '../../../../src/domain/pipeline/facts';
import { stageResultOf } from '../../../../src/domain/pipeline/stage-result';
import { resultOnCrossings, type TimedCrossing } from '../../../../src/domain/timing/result-from-crossings';
import { isoOf } from './race-events-build';

type Row = Record<string, unknown>;

const CHUNK = 500;
const msOf = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string).getTime());

/**
 * Of these crossing ids, the ones the officials corrected by hand (`corrected_at`, set by the hook's crossing guard):
 * the pipeline, live or replayed, neither moves nor removes them. Read locking the rows, in id order: a correction
 * under way is waited for and then seen, and one made after waits for this batch and then wins.
 */
export async function officialCrossingIds(trx: any, ids: readonly string[]): Promise<Set<string>> {
  const official = new Set<string>();
  const sorted = [...ids].sort();
  for (let i = 0; i < sorted.length; i += CHUNK) {
    const rows: Row[] = await trx('entry_crossings').whereIn('id', sorted.slice(i, i + CHUNK)).orderBy('id').forUpdate().select('id', 'corrected_at');
    for (const row of rows) if (row['corrected_at'] !== null) official.add(String(row['id']));
  }
  return official;
}

/**
 * The pipeline's results timed again where the officials corrected a start or finish of the entry in the stage by
 * hand: from the stored crossings (this batch's own already written), as the hook times a result after a correction
 * (resultOnCrossings), with the penalties the row carries. The pipeline knows only its own crossing times, so its
 * result would otherwise undo the correction when the car finishes. Other rows stay as the pipeline made them.
 */
export async function retimeOnOfficialCrossings(trx: any, results: readonly Row[]): Promise<void> {
  const pairs = results.filter((row) => row['entry'] && row['stage']).map((row) => [String(row['entry']), String(row['stage'])]);
  if (pairs.length === 0) return;
  const byPair = new Map<string, Row[]>();
  for (let i = 0; i < pairs.length; i += CHUNK) {
    const rows: Row[] = await trx('entry_crossings').whereIn(['entry', 'stage'], pairs.slice(i, i + CHUNK)).whereIn('kind', ['start', 'finish']).select('entry', 'stage', 'kind', 'crossed_at', 'corrected_at');
    for (const row of rows) {
      const key = `${row['entry']}:${row['stage']}`;
      const list = byPair.get(key);
      if (list) list.push(row);
      else byPair.set(key, [row]);
    }
  }
  for (const row of results) {
    const crossings = byPair.get(`${row['entry']}:${row['stage']}`) ?? [];
    if (!crossings.some((c) => c['corrected_at'] !== null)) continue;
    const timed = crossings.map((c): TimedCrossing => ({ kind: c['kind'] as TimedCrossing['kind'], crossedAt: msOf(c['crossed_at'])! }));
    const made = stageResultOf(
      { entryId: String(row['entry']), stageId: String(row['stage']), status: row['status'] as StageResultFact['status'], startedAt: msOf(row['started_at']), finishedAt: msOf(row['finished_at']) },
      Number(row['penalty_ms'] ?? 0),
    );
    const result = resultOnCrossings(made, timed);
    if (!result) continue;
    Object.assign(row, {
      status: result.status, started_at: isoOf(result.startedAt), finished_at: isoOf(result.finishedAt), elapsed_ms: result.elapsedMs, total_ms: result.totalMs,
    });
  }
}
