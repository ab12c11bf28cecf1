import type { ApiExtensionContext, SchemaOverview } from '@directus/types';
import { factId } from '../../../../src/domain/pipeline/fact-ids';
import { factKey, type StageResultFact } from '../../../../src/domain/pipeline/facts';
import { countedCrossings, resultFromCrossings, type TimedCrossing } from '../../../../src/domain/timing/result-from-crossings';
import { lockRanking, raiseFactVersions, versionedSubject } from './fact-versions';
import { crossingEvent, intOf, isoOf, loadRefs, raceEvent, stageResultEvent, type RaceEventItem } from './race-events-build';
import { publishPendingSafely, stagePendingEvents, type PublishContext } from './race-events-publish';
import { standingChanges, standingFields, stageStandings } from './stage-standings';

type Row = Record<string, unknown>;
const resultFields = ['id', 'entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank', 'computed_at'];

export interface RecomputeContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  logger?: PublishContext['logger'];
}

const msOf = (value: unknown): number | null => (value === null || value === undefined ? null : new Date(value as string).getTime());

/**
 * After a timekeeper corrected crossings or penalties by hand: recomputes each (entry, stage) result from the stored
 * start and finish crossings (a corrected one alone of its kind: countedCrossings) and the penalty sum (the domain's resultFromCrossings), re-ranks the stages, writes what changed (as the system, without
 * item events) and emits `stage.result.computed` (source `system`) for every result that changed, after the commit.
 */
export async function recomputeStageResults(pairs: { entry: string; stage: string }[], context: RecomputeContext): Promise<RaceEventItem[]> {
  const { services, database, schema } = context;
  const unique = [...new Map(pairs.filter((p) => p.entry && p.stage).map((p) => [`${p.entry}:${p.stage}`, p])).values()];
  if (unique.length === 0) return [];
  const now = new Date();
  const events = await database.transaction(async (trx: any) => {
    await lockRanking(trx);
    const results = new services.ItemsService('stage_results', { knex: trx, schema, accountability: null });
    const quiet = { emitEvents: false };
    const changed = new Set<string>();
    const stages = new Set<string>();

    for (const { entry, stage } of unique) {
      // Ranked again even when the entry has no result (any more): a deleted entry's results went with it.
      stages.add(stage);
      const crossings: Row[] = await trx('entry_crossings').where({ entry, stage }).whereIn('kind', ['start', 'finish']).select('kind', 'crossed_at', 'corrected_at');
      // Every penalty of the entry counts, whoever gave it, but those the officials waived.
      const penalty = Number((await trx('entry_penalties').where({ entry, stage }).whereRaw('waived IS NOT TRUE').sum({ sum: 'amount_ms' }).first())?.sum ?? 0);
      const existing: Row | undefined = await trx('stage_results').where({ entry, stage }).first(resultFields);
      const timed = countedCrossings(crossings.map((c) => ({ kind: c['kind'] as TimedCrossing['kind'], crossedAt: msOf(c['crossed_at'])!, corrected: c['corrected_at'] !== null })));
      const result = resultFromCrossings(entry, stage, timed, penalty, (existing?.['status'] as StageResultFact['status'] | undefined) ?? null);
      if (!result) continue;
      const { startedAt, finishedAt } = result;
      const next: Row = {
        status: result.status, started_at: isoOf(startedAt), finished_at: isoOf(finishedAt), elapsed_ms: result.elapsedMs, penalty_ms: result.penaltyMs,
        total_ms: result.totalMs,
      };
      if (!existing) {
        const id = factId(factKey.stageResult(entry, stage));
        await results.createOne({ id, entry, stage, ...next, computed_at: now.toISOString() }, quiet);
        changed.add(id);
        continue;
      }
      const same =
        existing['status'] === next['status'] && msOf(existing['started_at']) === startedAt && msOf(existing['finished_at']) === finishedAt &&
        intOf(existing['elapsed_ms']) === result.elapsedMs && intOf(existing['penalty_ms']) === result.penaltyMs && intOf(existing['total_ms']) === result.totalMs;
      if (!same) {
        await results.updateOne(String(existing['id']), { ...next, computed_at: now.toISOString() }, quiet);
        changed.add(String(existing['id']));
      }
    }

    for (const stage of stages) {
      // Rank and gap to the leader as the domain classifies the stage (stage-standings); only rows whose standing moved.
      const rows: Row[] = await trx('stage_results').where({ stage }).select(standingFields);
      const previous = new Map(rows.map((row) => [String(row['id']), row]));
      for (const [id, change] of standingChanges(previous, stageStandings(rows))) {
        await results.updateOne(id, change, quiet);
        // A gap that moved alone is no news (see bookkeeping in apply-facts): the result whose time moved says so.
        if ('rank' in change) changed.add(id);
      }
    }

    if (changed.size === 0) return [];
    const rows: Row[] = await trx('stage_results').whereIn('id', [...changed]).select(resultFields);
    const refs = await loadRefs(trx, rows.map((r) => String(r['entry'])), rows.map((r) => String(r['stage'])));
    // The bundle writes stage_results only under the rank lock, so raising their versions now is as safe as first.
    const versions = await raiseFactVersions(trx, changed);
    const subject = (row: Row) => versionedSubject(factKey.stageResult(String(row['entry']), String(row['stage'])), versions.get(String(row['id'])));
    const items = rows.map((row) => stageResultEvent(row, subject(row), 'system', refs, now));
    return stagePendingEvents(trx, items);
  });
  await publishPendingSafely({ ...context, accountability: null }, events);
  return events;
}

/**
 * `timing.crossing.recorded` (source `system`) for the crossings people added, corrected or moved by hand, as they
 * now stand: an integrator showing split and finish times heard of the pipeline's crossings only, and kept a time
 * the officials had corrected. Each is a new version of the crossing's fact, so its event is new.
 */
export async function announceHandCrossings(ids: string[], context: RecomputeContext): Promise<RaceEventItem[]> {
  if (ids.length === 0) return [];
  const events = await context.database.transaction(async (trx: any) => {
    const rows: Row[] = await trx('entry_crossings').whereIn('id', ids).select('id', 'entry', 'stage', 'geofence', 'kind', 'crossed_at', 'device_id', 'speed_kmh');
    if (rows.length === 0) return [];
    const refs = await loadRefs(trx, rows.map((r) => String(r['entry'])), rows.map((r) => String(r['stage'])));
    const versions = await raiseFactVersions(trx, rows.map((r) => String(r['id'])));
    const items = rows.map((row) => crossingEvent(row, versionedSubject(`crossing:${row['id']}`, versions.get(String(row['id']))), 'system', refs));
    return stagePendingEvents(trx, items);
  });
  await publishPendingSafely({ ...context, accountability: null }, events);
  return events;
}

/** One `io_mapping.changed` event per tracker model, staged and published at once (the change is committed). */
export async function emitIoMappingChanged(
  action: 'create' | 'update' | 'delete', rows: { model: string; io_id: number }[], context: RecomputeContext,
): Promise<RaceEventItem[]> {
  const byModel = new Map<string, Set<number>>();
  for (const row of rows) if (row.model) byModel.set(String(row.model), (byModel.get(String(row.model)) ?? new Set()).add(Number(row.io_id)));
  if (byModel.size === 0) return [];
  const now = new Date();
  const events = [...byModel].map(([model, ids]) => {
    const io_ids = [...ids].sort((a, b) => a - b);
    // A separate change of the same mappings later is a new event: the time is part of what it is about.
    return raceEvent({
      type: 'io_mapping.changed', subject: `io_mapping:${action}:${model}:${now.toISOString()}`, occurred_at: now.toISOString(), source: 'system',
      event: null, entry: null, device_id: null, payload: { model, io_ids },
    });
  });
  const staged = await context.database.transaction((trx: any) => stagePendingEvents(trx, events));
  await publishPendingSafely({ ...context, accountability: null }, staged);
  return events;
}
