import { fastFactId } from './fast-fact-id.ts';
import { collectionOfFactType, factRow, type FactCollection } from '../../domain/pipeline/fact-row.ts';
import type { Fact } from '../../domain/pipeline/facts.ts';

export type Row = Record<string, unknown>;

/**
 * A fact as a row of its collection, replayed or stored, in one comparable shape: times as ISO strings, numbers as
 * numbers, JSON as objects. `pairKey` and `at` let a replayed fact whose key moved (a crossing 120 ms later has a
 * new key, so a new id) be paired with the stored row it replaces.
 */
export interface FactRecord {
  collection: FactCollection;
  id: string;
  entry: string | null;
  stage: string | null;
  deviceId: string | null;
  /** The row's fields without id, source and computed_at (stage_results: with rank). */
  row: Row;
  pairKey: string | null;
  /** Epoch ms of what the record is about (crossed_at, entered_at, started_at), for nearest-in-time pairing. */
  at: number | null;
  /** The replayed fact, to deliver in apply mode; undefined for stored rows. */
  fact?: Fact | undefined;
  /**
   * A stored row of an entry of another event than its stage's: timing that leaked between two events on the same
   * ground. No replay can produce it, so a replay of the stage removes it.
   */
  foreign?: boolean;
  /**
   * A stored crossing the officials corrected by hand (`corrected_at`): theirs, so no replay compares, moves or
   * removes it, and the results of its entry in the stage are timed from it (as the endpoint does).
   */
  official?: boolean;
  /**
   * A stored penalty the officials waived (`waived`): a replay still writes its amount, but the results of its entry
   * in the stage do not count it (as the endpoint does).
   */
  waived?: boolean;
}

/** How each field compares, as the endpoint compares it with what Directus stores (apply-facts.ts sameValue). */
const fieldTypes: Record<string, 'time' | 'float' | 'int' | 'json'> = {
  crossed_at: 'time',
  started_at: 'time',
  finished_at: 'time',
  ended_at: 'time',
  speed_kmh: 'float',
  elapsed_ms: 'int',
  penalty_ms: 'int',
  total_ms: 'int',
  amount_ms: 'int',
  rank: 'int',
  details: 'json',
};
/** Fields a replay does not judge: who wrote the row and when. */
const ignored = new Set(['id', 'source', 'computed_at']);
/** Columns that mark a stored record rather than being compared (see recordOfRow). */
const marks = new Set(['foreign', 'corrected_at', 'waived']);

const msOf = (value: unknown): number | null => (value === null || value === undefined ? null : value instanceof Date ? value.getTime() : Date.parse(String(value)));

/** toISOString's own shape: a string in it is kept as it is rather than parsed and printed again. */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function normalise(field: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (fieldTypes[field]) {
    case 'time':
      if (typeof value === 'string' && ISO_UTC.test(value)) return value;
      return new Date(msOf(value)!).toISOString();
    case 'float':
    case 'int':
      return Number(value);
    case 'json':
      return typeof value === 'string' ? JSON.parse(value) : value;
    default:
      return String(value);
  }
}

/** JSON with object keys sorted, so jsonb's key order does not matter. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export function sameField(field: string, a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  switch (fieldTypes[field]) {
    case 'time':
      return msOf(a) === msOf(b);
    // `real` columns: compare at float32 precision.
    case 'float':
      return Math.fround(Number(a)) === Math.fround(Number(b));
    case 'int':
      return Number(a) === Number(b);
    case 'json':
      return canonical(a) === canonical(b);
    default:
      return String(a) === String(b);
  }
}

/** Names of the fields that differ (ignoring id, source, computed_at). */
export function changedFields(before: Row, after: Row): string[] {
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...fields].filter((field) => !ignored.has(field) && !sameField(field, before[field], after[field]));
}

function pairing(collection: FactCollection, row: Row): { pairKey: string | null; at: number | null } {
  const details = (row['details'] ?? {}) as Row;
  switch (collection) {
    case 'entry_crossings':
      return { pairKey: `${row['entry']}|${row['geofence']}|${row['kind']}`, at: msOf(row['crossed_at']) };
    case 'stage_results':
      return { pairKey: `${row['entry']}|${row['stage']}`, at: null };
    case 'entry_penalties':
      if (row['kind'] === 'speeding') return { pairKey: `${row['entry']}|${row['stage']}|speeding|${details['zone']}`, at: Number(details['entered_at'] ?? 0) };
      return { pairKey: `${row['entry']}|${row['stage']}|${row['kind']}|${details['waypoint'] ?? ''}`, at: null };
    case 'anomalies':
      // Only anomalies tied to a geofence pair up; a signal loss or a jump elsewhere is simply another one.
      if (row['kind'] === 'speeding') return { pairKey: `${row['device_id']}|speeding|${row['stage']}|${details['zone']}`, at: msOf(row['started_at']) };
      if (row['kind'] === 'missed_waypoint') return { pairKey: `${row['device_id']}|missed_waypoint|${row['stage']}|${details['waypoint']}`, at: null };
      return { pairKey: null, at: msOf(row['started_at']) };
    default: {
      const never: never = collection;
      throw new Error(`unknown collection ${String(never)}`);
    }
  }
}

function record(collection: FactCollection, id: string, row: Row, fact: Fact | undefined): FactRecord {
  const { pairKey, at } = pairing(collection, row);
  return {
    collection,
    id,
    entry: (row['entry'] as string | null) ?? null,
    stage: (row['stage'] as string | null) ?? null,
    deviceId: (row['device_id'] as string | null) ?? null,
    row,
    pairKey,
    at,
    fact,
  };
}

/** A replayed fact as the row the endpoint would store; a stage result carries the rank it would get. */
export function recordOfFact(fact: Fact, rank: number | null = null): FactRecord {
  // factRow's values are already in the comparable shape (ISO times, numbers, objects): nothing to normalise.
  const row = factRow(fact, 'replay');
  delete row['source'];
  if (fact.type === 'stage_result') row['rank'] = rank;
  return record(collectionOfFactType[fact.type], fastFactId(fact.key), row, fact);
}

/**
 * A row read from a fact collection (as pg returns it: Dates, int8 as strings, jsonb as objects). The `foreign`,
 * `corrected_at` and `waived` columns, when the query reads them, mark the record (see FactRecord.foreign, .official
 * and .waived) and are not fields of the row: no replay writes them.
 */
export function recordOfRow(collection: FactCollection, raw: Row): FactRecord {
  const row: Row = {};
  for (const field in raw) if (!ignored.has(field) && !marks.has(field)) row[field] = normalise(field, raw[field]);
  const result = record(collection, String(raw['id']), row, undefined);
  if (raw['foreign'] === true) result.foreign = true;
  if (raw['corrected_at'] !== null && raw['corrected_at'] !== undefined) result.official = true;
  if (raw['waived'] === true) result.waived = true;
  return result;
}
