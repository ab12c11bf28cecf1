import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { RaceEventType } from '../../../../src/domain/events/catalogue';

/** Fixed namespace for race event ids; changing it would publish every event again. */
const RACE_EVENT_NAMESPACE = '4f0d3c1e-8a7b-4e52-9c61-2b3a4d5e6f70';

export type RaceEventSource = 'live' | 'replay' | 'backfill' | 'system';

/** A `race_events` item (CONTRACTS section 4). */
export interface RaceEventItem {
  id: string;
  type: RaceEventType;
  version: number;
  occurred_at: string;
  source: RaceEventSource;
  event: string | null;
  entry: string | null;
  device_id: string | null;
  payload: Record<string, unknown>;
}

type Row = Record<string, unknown>;

/** JSON with object keys sorted, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * The idempotency key of an event: its type, what it is about (for a fact, its key and the version that changed
 * it, see fact-versions) and a hash of its canonical payload. The same event stored or published again gets the
 * same key and so the same id; every change of a fact (a new rank, a corrected time, also back to an earlier
 * value) gets a new one. The source is left out on purpose.
 */
export function raceEventKey(type: RaceEventType, subject: string, payload: Row, version = 1): string {
  const hash = createHash('sha256').update(canonicalJson(payload)).digest('hex').slice(0, 32);
  return `${type}:v${version}:${subject}:${hash}`;
}

export const raceEventId = (key: string): string => uuidv5(key, RACE_EVENT_NAMESPACE);

export function raceEvent(input: Omit<RaceEventItem, 'id' | 'version'> & { subject: string; version?: number }): RaceEventItem {
  const { subject, version = 1, ...rest } = input;
  return { id: raceEventId(raceEventKey(rest.type, subject, rest.payload, version)), version, ...rest };
}

export const isoOf = (value: unknown): string | null => {
  if (value === null || value === undefined) return null;
  const date = value instanceof Date ? value : new Date(typeof value === 'number' ? value : String(value));
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
};
export const intOf = (value: unknown): number | null => (value === null || value === undefined ? null : Math.round(Number(value)));
export const numOf = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const str = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** What the payloads need from reference data: race numbers of entries, events of stages and entries. */
export interface EventRefs {
  raceNumber: Map<string, number | null>;
  eventOfEntry: Map<string, string | null>;
  eventOfStage: Map<string, string | null>;
}

export const noRefs = (): EventRefs => ({ raceNumber: new Map(), eventOfEntry: new Map(), eventOfStage: new Map() });

/** Adds rows of `entries` (id, race_number, event) or of `stages` (id, event) to `refs`. */
export function addRefs(refs: EventRefs, table: 'entries' | 'stages', rows: readonly Row[]): void {
  for (const row of rows) {
    if (table === 'stages') {
      refs.eventOfStage.set(String(row['id']), str(row['event']));
    } else {
      refs.raceNumber.set(String(row['id']), intOf(row['race_number']));
      refs.eventOfEntry.set(String(row['id']), str(row['event']));
    }
  }
}

/** The refs of these entries and stages: `known` (read earlier in the transaction) with the others read into it. */
export async function loadRefs(knex: any, entryIds: Iterable<string | null>, stageIds: Iterable<string | null>, known: EventRefs = noRefs()): Promise<EventRefs> {
  const entries = [...new Set([...entryIds].filter((id): id is string => !!id && !known.eventOfEntry.has(id)))];
  const stages = [...new Set([...stageIds].filter((id): id is string => !!id && !known.eventOfStage.has(id)))];
  if (entries.length > 0) addRefs(known, 'entries', await knex('entries').whereIn('id', entries).select('id', 'race_number', 'event'));
  if (stages.length > 0) addRefs(known, 'stages', await knex('stages').whereIn('id', stages).select('id', 'event'));
  return known;
}

const eventOf = (refs: EventRefs, stage: string | null, entry: string | null): string | null =>
  (stage ? refs.eventOfStage.get(stage) : null) ?? (entry ? refs.eventOfEntry.get(entry) : null) ?? null;

export function crossingEvent(row: Row, subject: string, source: RaceEventSource, refs: EventRefs): RaceEventItem {
  const entry = String(row['entry']);
  const stage = String(row['stage']);
  const payload = {
    crossing: String(row['id']), entry, race_number: refs.raceNumber.get(entry) ?? null, stage, geofence: String(row['geofence']),
    kind: row['kind'], crossed_at: isoOf(row['crossed_at']), device_id: String(row['device_id']), speed_kmh: numOf(row['speed_kmh']),
  };
  return raceEvent({
    type: 'timing.crossing.recorded', subject, occurred_at: payload.crossed_at!, source, event: eventOf(refs, stage, entry), entry,
    device_id: payload.device_id, payload,
  });
}

export function stageResultEvent(row: Row, subject: string, source: RaceEventSource, refs: EventRefs, now: Date): RaceEventItem {
  const entry = String(row['entry']);
  const stage = String(row['stage']);
  const payload = {
    entry, race_number: refs.raceNumber.get(entry) ?? null, stage, status: row['status'], started_at: isoOf(row['started_at']),
    finished_at: isoOf(row['finished_at']), elapsed_ms: intOf(row['elapsed_ms']), penalty_ms: intOf(row['penalty_ms']) ?? 0,
    total_ms: intOf(row['total_ms']), rank: intOf(row['rank']),
  };
  return raceEvent({
    type: 'stage.result.computed', subject, occurred_at: payload.finished_at ?? payload.started_at ?? isoOf(row['computed_at']) ?? now.toISOString(),
    source, event: eventOf(refs, stage, entry), entry, device_id: null, payload,
  });
}

export function anomalyEvent(row: Row, subject: string, source: RaceEventSource, refs: EventRefs): RaceEventItem {
  const entry = str(row['entry']);
  const stage = str(row['stage']);
  const details = typeof row['details'] === 'string' ? JSON.parse(row['details']) : (row['details'] ?? {});
  const payload = {
    anomaly: String(row['id']), kind: row['kind'], severity: row['severity'], entry, race_number: entry ? (refs.raceNumber.get(entry) ?? null) : null,
    stage, device_id: String(row['device_id']), started_at: isoOf(row['started_at']), details,
  };
  return raceEvent({
    type: 'anomaly.detected', subject, occurred_at: payload.started_at!, source, event: eventOf(refs, stage, entry), entry,
    device_id: payload.device_id, payload,
  });
}
