import { PIPELINE_PENALTY_KINDS } from '../../domain/pipeline/facts.ts';
import type { FactRecord } from './fact-records.ts';

/** The part of the stored facts a replay answers for. */
export interface FactScope {
  from: number;
  to: number;
  entries: ReadonlySet<string>;
  stages: ReadonlySet<string>;
  devices: ReadonlySet<string>;
  /** The `stage` parameter; without it, anomalies outside any stage are in scope too. */
  stage: string | null;
}


const within = (value: unknown, scope: FactScope): boolean => {
  if (value === null || value === undefined) return false;
  const ms = Date.parse(String(value));
  return ms >= scope.from && ms < scope.to;
};

export const runKey = (entry: string | null, stage: string | null): string => `${entry}|${stage}`;

/**
 * Whether a stored row or replayed fact belongs to the replayed scope; the same test on both sides, so a fact the
 * replay cannot produce is never reported as removed. A result is in scope when its start is in the range; its
 * penalties follow it (`runs`: run keys of the results in scope, stored or replayed). Late-data anomalies describe
 * arrival, not the track, and replay reads in order: never in scope. Foreign rows (another event's entries timed on
 * a replayed stage) are always in scope, so a replay repairs timing polluted by an event on the same ground. Crossings
 * the officials corrected by hand never are.
 */
export function factInScope(record: FactRecord, scope: FactScope, runs: ReadonlySet<string>): boolean {
  const { row } = record;
  // The officials' crossings are theirs (see FactRecord.official).
  if (record.official) return false;
  const entryOk = record.entry !== null && scope.entries.has(record.entry);
  const stageOk = record.stage !== null && scope.stages.has(record.stage);
  // Another event's timing stored against a replayed stage: whatever entry or tracker it names, it goes.
  if (record.foreign) return stageOk && (record.collection !== 'entry_crossings' || within(row['crossed_at'], scope));
  switch (record.collection) {
    case 'entry_crossings':
      return entryOk && stageOk && record.deviceId !== null && scope.devices.has(record.deviceId) && within(row['crossed_at'], scope);
    case 'stage_results':
      return entryOk && stageOk && within(row['started_at'], scope);
    case 'entry_penalties':
      return entryOk && stageOk && PIPELINE_PENALTY_KINDS.has(String(row['kind'])) && runs.has(runKey(record.entry, record.stage));
    case 'anomalies':
      return (
        row['kind'] !== 'late_data' &&
        record.deviceId !== null &&
        scope.devices.has(record.deviceId) &&
        within(row['started_at'], scope) &&
        (record.entry === null || scope.entries.has(record.entry)) &&
        (stageOk || (record.stage === null && scope.stage === null))
      );
    default: {
      const never: never = record.collection;
      throw new Error(`unknown collection ${String(never)}`);
    }
  }
}
