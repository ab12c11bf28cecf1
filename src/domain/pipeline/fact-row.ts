import type { Fact } from './facts.ts';

/** The Directus collection each kind of fact is stored in (CONTRACTS section 3). */
export const factCollections = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'] as const;
export type FactCollection = (typeof factCollections)[number];

export const collectionOfFactType: Record<Fact['type'], FactCollection> = {
  crossing: 'entry_crossings',
  stage_result: 'stage_results',
  penalty: 'entry_penalties',
  anomaly: 'anomalies',
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The row a fact is stored as, field by field (without its id, which is factId(key)). The endpoint writes it; replay
 * compares it with what is stored, so both must agree on every field.
 */
export function factRow(fact: Fact, source: 'live' | 'replay'): Record<string, unknown> {
  switch (fact.type) {
    case 'crossing':
      return { entry: fact.entryId, stage: fact.stageId, geofence: fact.gateId, device_id: fact.deviceId, kind: fact.kind, crossed_at: iso(fact.crossedAt), speed_kmh: fact.speedKmh, source };
    case 'stage_result':
      return {
        entry: fact.entryId, stage: fact.stageId, status: fact.status, started_at: iso(fact.startedAt), finished_at: iso(fact.finishedAt),
        elapsed_ms: fact.elapsedMs, penalty_ms: fact.penaltyMs, total_ms: fact.totalMs,
      };
    case 'penalty':
      return { entry: fact.entryId, stage: fact.stageId, kind: fact.kind, amount_ms: fact.amountMs, details: fact.details };
    case 'anomaly':
      return {
        kind: fact.kind, severity: fact.severity, entry: fact.entryId, stage: fact.stageId, device_id: fact.deviceId,
        started_at: iso(fact.startedAt), ended_at: iso(fact.endedAt), details: fact.details,
      };
    default: {
      const never: never = fact;
      throw new Error(`Unknown fact type: ${JSON.stringify(never)}`);
    }
  }
}
