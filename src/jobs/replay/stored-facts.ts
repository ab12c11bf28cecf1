import type { Knex } from 'knex';
import { recordOfRow, type FactRecord } from './fact-records.ts';
import type { FactScope } from './fact-scope.ts';

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
  const [crossings, results, penalties, anomalies] = await Promise.all([
    db('entry_crossings')
      .select('id', 'entry', 'stage', 'geofence', 'device_id', 'kind', 'crossed_at', 'speed_kmh')
      .whereRaw('stage = ANY(?::uuid[]) AND entry = ANY(?::uuid[])', [stages, entries])
      .where('crossed_at', '>=', from)
      .where('crossed_at', '<', to),
    db('stage_results')
      .select('id', 'entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank')
      .whereRaw('stage = ANY(?::uuid[])', [stages]),
    db('entry_penalties')
      .select('id', 'entry', 'stage', 'kind', 'amount_ms', 'details')
      .whereRaw('stage = ANY(?::uuid[]) AND entry = ANY(?::uuid[])', [stages, entries]),
    db('anomalies')
      .select('id', 'kind', 'severity', 'entry', 'stage', 'device_id', 'started_at', 'ended_at', 'details')
      .whereRaw('device_id = ANY(?::text[])', [devices])
      .where('started_at', '>=', from)
      .where('started_at', '<', to)
      .whereNot('kind', 'late_data'),
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
