import type { Knex } from 'knex';
import { recordOfRow, type FactRecord } from './fact-records.ts';
import type { FactScope } from './fact-scope.ts';

const FOREIGN = 't.entry IS NOT NULL AND t.stage IS NOT NULL AND (SELECT e.event FROM entries e WHERE e.id = t.entry) IS DISTINCT FROM (SELECT s.event FROM stages s WHERE s.id = t.stage)';

/**
 * What is stored now for the scope's stages, entries and trackers, read straight from the Directus tables (read
 * only, as the race setup is). Loose on purpose: factInScope decides, the same way for stored and replayed facts.
 * `results` are every result of the scope's stages (a stage is ranked as a whole); `records` the other rows.
 */
export async function loadStoredFacts(db: Knex, scope: FactScope): Promise<{ records: FactRecord[]; results: FactRecord[] }> {
  const stages = [...scope.stages];
  const entries = [...scope.entries];
  const devices = [...scope.devices];
  if (stages.length === 0 && devices.length === 0) return { records: [], results: [] };
  const [from, to] = [new Date(scope.from), new Date(scope.to)];
  // One array parameter per list (`= ANY`), however many entries or trackers the scope has.
  // `foreign`: the row's entry belongs to another event than its stage (see FactRecord.foreign); such rows are read
  // whatever their entry or tracker, so that a replay of the stage can remove them.
  const foreign = db.raw(`(${FOREIGN}) AS foreign`);
  const ofScope = (table: string) => db({ t: table });
  const [crossings, results, penalties, anomalies] = await Promise.all([
    ofScope('entry_crossings')
      .select('id', 'entry', 'stage', 'geofence', 'device_id', 'kind', 'crossed_at', 'speed_kmh', 'corrected_at', foreign)
      .whereRaw('stage = ANY(?::uuid[])', [stages])
      .where('crossed_at', '>=', from)
      .where('crossed_at', '<', to)
      .andWhere((q) => q.whereRaw('entry = ANY(?::uuid[])', [entries]).orWhereRaw(FOREIGN)),
    ofScope('stage_results')
      .select('id', 'entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank', foreign)
      .whereRaw('stage = ANY(?::uuid[])', [stages]),
    ofScope('entry_penalties')
      .select('id', 'entry', 'stage', 'kind', 'amount_ms', 'details', 'waived', foreign)
      .whereRaw('stage = ANY(?::uuid[])', [stages])
      .andWhere((q) => q.whereRaw('entry = ANY(?::uuid[])', [entries]).orWhereRaw(FOREIGN)),
    ofScope('anomalies')
      .select('id', 'kind', 'severity', 'entry', 'stage', 'device_id', 'started_at', 'ended_at', 'details', foreign)
      .where('started_at', '>=', from)
      .where('started_at', '<', to)
      .whereNot('kind', 'late_data')
      .andWhere((q) => q.whereRaw('device_id = ANY(?::text[])', [devices]).orWhereRaw(`stage = ANY(?::uuid[]) AND ${FOREIGN}`, [stages])),
  ]);
  return {
    records: [
      ...crossings.map((row) => recordOfRow('entry_crossings', row)),
      ...penalties.map((row) => recordOfRow('entry_penalties', row)),
      ...anomalies.map((row) => recordOfRow('anomalies', row)),
    ],
    results: results.map((row: Record<string, unknown>) => recordOfRow('stage_results', row)),
  };
}
