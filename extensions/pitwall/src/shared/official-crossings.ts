import { factId } from '../../../../src/domain/pipeline/fact-ids';
import { factKey, type StageResultFact } from '../../../../src/domain/pipeline/facts';
import { stageResultOf } from '../../../../src/domain/pipeline/stage-result';
import { countedCrossings, isStopwatchTime, resultOnCrossings, type TimedCrossing } from '../../../../src/domain/timing/result-from-crossings';
import { isoOf } from './race-events-build';

type Row = Record<string, unknown>;

const CHUNK = 500;
const msOf = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string).getTime());

/**
 * Of the crossings a batch writes or retracts (by id; null for a retraction), the ones the officials' corrections
 * keep out: a crossing they corrected by hand (`corrected_at`, set by the hook's crossing guard), which the pipeline,
 * live or replayed, neither moves nor removes; and a start or finish of an entry in a stage whose start or finish
 * they corrected, at another time (a replay after the line was moved, a late fix): the corrected one is the entry's
 * start or finish, and the tracker's own is already listed beside it under its first time; and a split of an entry
 * after the finish they set in the stage. Beside a stopwatch time (isStopwatchTime) the tracker's own start or finish
 * is kept: it does not count while the stopwatch time stands (countedCrossings), and times the car once that is
 * deleted. Kept out, a finish typed on the wrong car while the car still ran left it running, then DNF, when the
 * timekeeper deleted the mistake. Read locking the rows, in id order: a correction under way is waited for and then
 * seen, and one made after waits for this batch and then wins.
 */
export async function officialCrossingIds(trx: any, wanted: ReadonlyMap<string, Row | null>): Promise<Set<string>> {
  const official = new Set<string>();
  const ids = [...wanted.keys()].sort();
  // Starts and finishes, and splits, whose entry's finish in the stage the officials may have set before them.
  const timing = [...wanted].filter(([, row]) => row !== null && ['start', 'finish', 'split'].includes(row['kind'] as string)) as [string, Row][];
  const sameKind = (row: Row, kind = row['kind']) => `${row['entry']}:${row['stage']}:${kind}`;
  const corrected = new Map<string, { id: string; at: number | null; stopwatch: boolean }>(); // entry:stage:kind → the corrected crossing
  for (let i = 0; i < Math.max(ids.length, timing.length); i += CHUNK) {
    const kinds = timing.slice(i, i + CHUNK).map(([, row]) => [row['entry'], row['stage'], row['kind'] === 'split' ? 'finish' : row['kind']]);
    const rows: Row[] = await trx('entry_crossings')
      .where((q: any) => {
        q.whereIn('id', ids.slice(i, i + CHUNK));
        if (kinds.length > 0) q.orWhere((k: any) => k.whereIn(['entry', 'stage', 'kind'], kinds).whereNotNull('corrected_at'));
      })
      .orderBy('id').forUpdate().select('id', 'entry', 'stage', 'kind', 'crossed_at', 'corrected_at', 'speed_kmh');
    for (const row of rows) {
      if (row['corrected_at'] === null) continue;
      if (wanted.has(String(row['id']))) official.add(String(row['id']));
      corrected.set(sameKind(row), { id: String(row['id']), at: msOf(row['crossed_at']), stopwatch: isStopwatchTime(row['speed_kmh']) });
    }
  }
  for (const [id, row] of timing) {
    if (row['kind'] === 'split') {
      // A split after the finish the officials set: the car had finished, as a split typed by hand there is refused.
      const finish = corrected.get(sameKind(row, 'finish'));
      const at = msOf(row['crossed_at']);
      if (finish?.at != null && at !== null && at > finish.at) official.add(id);
      continue;
    }
    const theirs = corrected.get(sameKind(row));
    if (theirs !== undefined && theirs.id !== id && !theirs.stopwatch) official.add(id);
  }
  return official;
}

/** How long the start and finish lines of a stage are kept: lines change far more rarely than fact batches come. */
const LINES_TTL_MS = 5_000;
const linesOfStage = new Map<string, { at: number; lines: Row[] }>();

/** The start and finish lines of these stages, read where not kept (linesOfStage). */
async function startAndFinishLines(trx: any, stages: readonly string[]): Promise<Row[]> {
  const now = Date.now();
  const stale = stages.filter((stage) => (linesOfStage.get(stage)?.at ?? -Infinity) < now - LINES_TTL_MS);
  if (stale.length > 0) {
    const rows: Row[] = await trx('geofences').whereIn('stage', stale).whereIn('kind', ['start_line', 'finish_line']).select('id', 'stage', 'kind');
    for (const stage of stale) linesOfStage.set(stage, { at: now, lines: rows.filter((row) => row['stage'] === stage) });
  }
  return stages.flatMap((stage) => linesOfStage.get(stage)?.lines ?? []);
}

/**
 * The ids the pipeline gives the start and finish each result was timed from (its lines, the result's times): where
 * such a crossing is now, corrected by hand, on another entry, the officials moved that passage to another car.
 */
function passageIds(results: readonly Row[], lines: readonly Row[]): Map<string, { pair: string; kind: 'start' | 'finish' }> {
  const passages = new Map<string, { pair: string; kind: 'start' | 'finish' }>();
  for (const row of results) {
    for (const line of lines) {
      if (line['stage'] !== row['stage']) continue;
      const kind = line['kind'] === 'start_line' ? 'start' : 'finish';
      const at = msOf(row[kind === 'start' ? 'started_at' : 'finished_at']);
      if (at !== null) passages.set(factId(factKey.crossing(String(row['entry']), String(line['id']), at)), { pair: `${row['entry']}:${row['stage']}`, kind });
    }
  }
  return passages;
}

/**
 * The pipeline's results timed again where the officials corrected a start or finish of the entry in the stage by
 * hand, or moved the one it was timed from to another car: from the stored crossings (this batch's own already
 * written), as the hook times a result after a correction (resultOnCrossings), with the penalties the row carries.
 * The pipeline knows only its own crossing times, so its result would otherwise undo the correction when the car
 * finishes. Other rows stay as the pipeline made them. This runs in every fact batch with results, under the ranking
 * lock: the crossings are read in one indexed query, as before moved passages were looked for (a second read of the
 * lines and one of the passages cost an event 8-20 ms at p50 under load).
 */
export async function retimeOnOfficialCrossings(trx: any, results: readonly Row[]): Promise<void> {
  const keyed = results.filter((row) => row['entry'] && row['stage']);
  if (keyed.length === 0) return;
  const byPair = new Map<string, Row[]>();
  const taken = new Map<string, Set<'start' | 'finish'>>();
  for (let i = 0; i < keyed.length; i += CHUNK) {
    const chunk = keyed.slice(i, i + CHUNK);
    const pairs = chunk.map((row) => [String(row['entry']), String(row['stage'])]);
    const passages = passageIds(chunk, await startAndFinishLines(trx, [...new Set(chunk.map((row) => String(row['stage'])))]));
    const rows: Row[] = await trx('entry_crossings')
      .whereIn('kind', ['start', 'finish'])
      .andWhere((q: any) => q.whereIn(['entry', 'stage'], pairs).orWhereIn('id', [...passages.keys()]))
      .select('id', 'entry', 'stage', 'kind', 'crossed_at', 'corrected_at');
    for (const row of rows) {
      const passage = passages.get(String(row['id']));
      if (passage && row['corrected_at'] !== null && `${row['entry']}:${row['stage']}` !== passage.pair) {
        taken.set(passage.pair, (taken.get(passage.pair) ?? new Set()).add(passage.kind));
      }
      const key = `${row['entry']}:${row['stage']}`;
      const list = byPair.get(key);
      if (list) list.push(row);
      else byPair.set(key, [row]);
    }
  }
  for (const row of results) {
    const crossings = byPair.get(`${row['entry']}:${row['stage']}`) ?? [];
    const takenFrom = taken.get(`${row['entry']}:${row['stage']}`);
    if (!takenFrom && !crossings.some((c) => c['corrected_at'] !== null)) continue;
    const timed = countedCrossings(crossings.map((c) => ({ kind: c['kind'] as TimedCrossing['kind'], crossedAt: msOf(c['crossed_at'])!, corrected: c['corrected_at'] !== null })));
    const made = stageResultOf(
      { entryId: String(row['entry']), stageId: String(row['stage']), status: row['status'] as StageResultFact['status'], startedAt: msOf(row['started_at']), finishedAt: msOf(row['finished_at']) },
      Number(row['penalty_ms'] ?? 0),
    );
    const result = resultOnCrossings(made, timed, takenFrom);
    if (!result) continue;
    Object.assign(row, {
      status: result.status, started_at: isoOf(result.startedAt), finished_at: isoOf(result.finishedAt), elapsed_ms: result.elapsedMs, total_ms: result.totalMs,
    });
  }
}
