import type { FactCollection } from '../../domain/pipeline/fact-row.ts';
import type { Fact } from '../../domain/pipeline/facts.ts';
import { changedFields, type FactRecord, type Row } from './fact-records.ts';

export type DiffChange = 'added' | 'removed' | 'changed' | 'unchanged';

/** A stored row and the replayed fact that stands for it; either may be missing. */
export interface FactPair {
  before: FactRecord | null;
  after: FactRecord | null;
  change: DiffChange;
}

/** One line of the diff the panel shows. `before`/`after` are rows of the collection, with their ids. */
export interface DiffRow {
  collection: FactCollection;
  change: Exclude<DiffChange, 'unchanged'>;
  /** The row's id after the replay (its stored id when removed). */
  id: string;
  entry: string | null;
  race_number: number | null;
  stage: string | null;
  label: string;
  before: Row | null;
  after: Row | null;
  /** Crossings: crossed_at moved by; results: total_ms; penalties: amount_ms; anomalies: started_at. */
  delta_ms: number | null;
  /** The fields that differ, for a changed row. */
  fields?: string[];
}

export interface DiffNames {
  raceNumbers: ReadonlyMap<string, number | null>;
  stageNames: ReadonlyMap<string, string>;
  geofenceNames: ReadonlyMap<string, string>;
}

/**
 * Pairs stored rows with replayed facts: first by id (same key, same id), then what is left by `pairKey`, nearest in
 * time first, so a crossing that moved is one changed row with its delta rather than a removal and an addition.
 */
export function pairRecords(stored: readonly FactRecord[], replayed: readonly FactRecord[]): FactPair[] {
  const pairs: FactPair[] = [];
  const storedById = new Map(stored.map((r) => [`${r.collection}:${r.id}`, r]));
  const leftAfter: FactRecord[] = [];
  for (const after of replayed) {
    const key = `${after.collection}:${after.id}`;
    const before = storedById.get(key);
    if (before) {
      storedById.delete(key);
      pairs.push(compared(before, after));
    } else {
      leftAfter.push(after);
    }
  }
  const groups = new Map<string, { before: FactRecord[]; after: FactRecord[] }>();
  const group = (r: FactRecord) => {
    const key = `${r.collection}|${r.pairKey}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { before: [], after: [] }));
    return g;
  };
  const unpairedBefore: FactRecord[] = [];
  const unpairedAfter: FactRecord[] = [];
  for (const r of storedById.values()) (r.pairKey === null ? unpairedBefore : group(r).before).push(r);
  for (const r of leftAfter) (r.pairKey === null ? unpairedAfter : group(r).after).push(r);
  for (const { before, after } of groups.values()) {
    const candidates: { b: number; a: number; distance: number }[] = [];
    before.forEach((rb, b) => after.forEach((ra, a) => candidates.push({ b, a, distance: Math.abs((ra.at ?? 0) - (rb.at ?? 0)) })));
    candidates.sort((x, y) => x.distance - y.distance || x.b - y.b || x.a - y.a);
    const usedB = new Set<number>();
    const usedA = new Set<number>();
    for (const { b, a } of candidates) {
      if (usedB.has(b) || usedA.has(a)) continue;
      usedB.add(b);
      usedA.add(a);
      pairs.push(compared(before[b]!, after[a]!));
    }
    before.forEach((r, i) => usedB.has(i) || unpairedBefore.push(r));
    after.forEach((r, i) => usedA.has(i) || unpairedAfter.push(r));
  }
  for (const before of unpairedBefore) pairs.push({ before, after: null, change: 'removed' });
  for (const after of unpairedAfter) pairs.push({ before: null, after, change: 'added' });
  return pairs;
}

function compared(before: FactRecord, after: FactRecord): FactPair {
  return { before, after, change: changedFields(before.row, after.row).length > 0 ? 'changed' : 'unchanged' };
}

const numberOf = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const msOf = (value: unknown): number | null => (value === null || value === undefined ? null : Date.parse(String(value)));

function delta(collection: FactCollection, before: Row, after: Row): number | null {
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  switch (collection) {
    case 'entry_crossings':
      return diff(msOf(before['crossed_at']), msOf(after['crossed_at']));
    case 'stage_results':
      return diff(numberOf(before['total_ms']), numberOf(after['total_ms']));
    case 'entry_penalties':
      return diff(numberOf(before['amount_ms']), numberOf(after['amount_ms']));
    case 'anomalies':
      return diff(msOf(before['started_at']), msOf(after['started_at']));
    default: {
      const never: never = collection;
      throw new Error(`unknown collection ${String(never)}`);
    }
  }
}

/** A short human label: "#101 SS1 finish", "#101 SS1 … result", "#104 SS1 … speeding penalty". */
export function diffLabel(record: FactRecord, names: DiffNames): string {
  const number = record.entry ? names.raceNumbers.get(record.entry) : undefined;
  const who = number !== undefined && number !== null ? `#${number}` : (record.deviceId ?? record.entry ?? '?');
  const stage = record.stage ? (names.stageNames.get(record.stage) ?? 'stage') : null;
  const row = record.row;
  switch (record.collection) {
    case 'entry_crossings':
      return `${who} ${names.geofenceNames.get(String(row['geofence'])) ?? `${stage ?? ''} ${row['kind']}`.trim()}`;
    case 'stage_results':
      return `${who} ${stage} result`;
    case 'entry_penalties':
      return `${who} ${stage} ${String(row['kind']).replace('_', ' ')} penalty`;
    case 'anomalies':
      return `${who} ${String(row['kind']).replace('_', ' ')}${stage ? ` (${stage})` : ''}`;
    default: {
      const never: never = record.collection;
      throw new Error(`unknown collection ${String(never)}`);
    }
  }
}

export interface DiffResult {
  counts: Record<DiffChange, number>;
  rows: DiffRow[];
  truncated: boolean;
}

const collectionOrder: Record<FactCollection, number> = { entry_crossings: 0, stage_results: 1, entry_penalties: 2, anomalies: 3 };

/** The diff rows of the pairs that differ (at most `limit`, results and crossings first), and counts of all pairs. */
export function diffRows(pairs: readonly FactPair[], names: DiffNames, limit = 2000): DiffResult {
  const counts: Record<DiffChange, number> = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  const differing: { pair: FactPair; record: FactRecord; number: number }[] = [];
  for (const pair of pairs) {
    counts[pair.change]++;
    if (pair.change === 'unchanged') continue;
    const record = (pair.after ?? pair.before)!;
    const number = record.entry ? (names.raceNumbers.get(record.entry) ?? null) : null;
    differing.push({ pair, record, number: number ?? Number.MAX_SAFE_INTEGER });
  }
  // By collection, race number, then time (a crossing list reads start, split, finish); rows are built for the
  // listed ones only.
  differing.sort(
    (a, b) =>
      collectionOrder[a.record.collection] - collectionOrder[b.record.collection] ||
      a.number - b.number ||
      (a.record.at ?? 0) - (b.record.at ?? 0) ||
      (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0),
  );
  const rows = differing.slice(0, limit).map(({ pair, record }): DiffRow => {
    const { before, after } = pair;
    return {
      collection: record.collection,
      change: pair.change as DiffRow['change'],
      id: record.id,
      entry: record.entry,
      race_number: record.entry ? (names.raceNumbers.get(record.entry) ?? null) : null,
      stage: record.stage,
      label: diffLabel(record, names),
      before: before ? { id: before.id, ...before.row } : null,
      after: after ? { id: after.id, ...after.row } : null,
      delta_ms: before && after ? delta(record.collection, before.row, after.row) : null,
      ...(before && after ? { fields: changedFields(before.row, after.row) } : {}),
    };
  });
  return { counts, rows, truncated: differing.length > limit };
}

/**
 * What apply must change so that the stored rows become the replayed ones: upsert every added or changed fact, and
 * remove every stored row that is gone or was replaced by a row of another id (a moved crossing). Unchanged pairs
 * need nothing, so a second apply delivers nothing.
 */
export function applyPlan(pairs: readonly FactPair[]): { upserts: Fact[]; removals: { collection: FactCollection; id: string }[] } {
  const upserts: Fact[] = [];
  const removals: { collection: FactCollection; id: string }[] = [];
  for (const { before, after, change } of pairs) {
    if (change === 'unchanged') continue;
    if (after?.fact) upserts.push(after.fact);
    if (before && (!after || after.id !== before.id)) removals.push({ collection: before.collection, id: before.id });
  }
  return { upserts, removals };
}
