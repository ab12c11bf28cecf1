import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import type { FactBatch } from '../../../../src/domain/pipeline/fact-batch';
import { factId } from '../../../../src/domain/pipeline/fact-ids';
import { factRow } from '../../../../src/domain/pipeline/fact-row';
import type { Fact, StageResultFact } from '../../../../src/domain/pipeline/facts';
import { withOfficialPenalties } from '../../../../src/domain/pipeline/stage-result';
import { lockRanking, raiseFactVersions, raiseFactVersionsInOrder, versionedSubject } from './fact-versions';
import { anomalyEvent, crossingEvent, loadRefs, noRefs, stageResultEvent, type EventRefs, type RaceEventItem } from './race-events-build';
import { createStagedEvents, publishPendingSafely, stagePendingEvents, type PublishContext } from './race-events-publish';
import { officialCrossingIds, retimeOnOfficialCrossings } from './official-crossings';
import { officialPenalties } from './official-penalties';
import { standingChanges, standingFields, stageStandings } from './stage-standings';
import { unstorableIssues } from './storable-facts';
import { plainWriteCollections, rowsPassFieldRules, tableWriter, type FactWriter } from './fact-table-writes';
import { purgeDataCache } from './purge-data-cache';
import { logUnwritable, takeOutUnwritable, type Unwritable } from './unwritable-facts';

export interface FactCounts {
  created: number;
  updated: number;
  deleted: number;
  /** Facts whose stored row already held these values, and retractions of rows that do not exist. */
  unchanged: number;
  /** stage_results rows whose rank was set or changed (they may also be counted as created or updated). */
  ranked: number;
  /**
   * Changes skipped because a newer change of the same fact was applied before: one with a higher `sequence`, or,
   * for a replay's batch, one written after its `snapshot`.
   */
  superseded: number;
  /** Upserts skipped because their entry, stage or geofence no longer exists (deleted while they waited). */
  orphaned: number;
  /** Upserts skipped because a row of another id (a timekeeper's) holds their place (unique entry and stage, ...). */
  conflicting: number;
  /** Changes of crossings the officials corrected by hand, left out (their results are timed from those crossings). */
  official: number;
}

export interface AppliedFacts {
  counts: FactCounts;
  /** The collections whose rows this batch wrote set-based; the others' went through ItemsService. */
  setBased: string[];
}

export interface ApplyFactsContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  /** The caller's: Directus checks its permissions. */
  accountability: Accountability | null;
  now?: Date;
  logger?: PublishContext['logger'];
  /** Directus's environment: whether to purge the data cache after set-based writes (see purgeDataCache). */
  env?: Record<string, unknown>;
}

/** The collection of a fact is named by the prefix of its key (see factKey in facts.ts). */
const collectionOfPrefix = {
  crossing: 'entry_crossings',
  result: 'stage_results',
  penalty: 'entry_penalties',
  anomaly: 'anomalies',
} as const;
type FactCollection = (typeof collectionOfPrefix)[keyof typeof collectionOfPrefix];
const collections: FactCollection[] = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];
const collectionOfType: Record<Fact['type'], FactCollection> = {
  crossing: 'entry_crossings',
  stage_result: 'stage_results',
  penalty: 'entry_penalties',
  anomaly: 'anomalies',
};

/**
 * Fields that say who computed a fact and when, not what it is: changing only these is no news. The gap to the leader
 * too: it moves for every car when the leader's time does, and the leader's own event says so.
 */
const bookkeeping = new Set(['id', 'source', 'computed_at', 'gap_ms']);

const anomalyDetails: ReadonlySet<string> = new Set(['details']);
const noFields: ReadonlySet<string> = new Set();

/**
 * Whether a change of this anomaly's details alone is stored without a new `anomaly.detected`: it is announced when
 * found, and again when it ends or its kind, severity, entry or stage changes. Its details move with every late fix
 * before it (a position jump's previous fix, when a fix dated minutes ahead made every later one late: one event a
 * second for one glitch). Late-data reports are the exception: the pipeline already announces their final count once.
 */
function quietDetails(row: Row | null | undefined): boolean {
  return row !== null && row !== undefined && row['kind'] !== 'late_data';
}

const READ_CHUNK = 500;

type Row = Record<string, unknown>;
type Items = InstanceType<ApiExtensionContext['services']['ItemsService']>;

export function collectionOfKey(key: string): FactCollection | null {
  const prefix = key.slice(0, key.indexOf(':'));
  return Object.hasOwn(collectionOfPrefix, prefix) ? collectionOfPrefix[prefix as keyof typeof collectionOfPrefix] : null;
}

/**
 * Checks the zod schema cannot express: every key names the collection of its fact, and every value fits its column
 * (see storable-facts). Issues are zod-shaped.
 */
export function factKeyIssues(batch: FactBatch): { code: 'custom'; path: (string | number)[]; message: string }[] {
  const issues: { code: 'custom'; path: (string | number)[]; message: string }[] = [];
  batch.upserts.forEach((fact, i) => {
    if (collectionOfKey(fact.key) !== collectionOfType[fact.type]) {
      issues.push({ code: 'custom', path: ['upserts', i, 'key'], message: `A ${fact.type} key must start with "${prefixOf(collectionOfType[fact.type])}:"` });
    }
  });
  batch.retractions.forEach((key, i) => {
    if (!collectionOfKey(key)) issues.push({ code: 'custom', path: ['retractions', i], message: `Unknown fact key prefix (expected ${Object.keys(collectionOfPrefix).join(', ')})` });
  });
  return [...issues, ...unstorableIssues(batch)];
}

/**
 * Writes one batch of facts in one transaction as the caller, so its permissions apply: set-based where they decide
 * nothing row by row, through ItemsService elsewhere (without per-row activity and revisions either way: the race
 * events are the record). Rows that already hold the values are left alone, so a redelivered batch changes nothing.
 * Stages whose results changed are re-ranked; a row's rank is written with its result.
 */
export async function applyFacts(batch: FactBatch, context: ApplyFactsContext): Promise<AppliedFacts> {
  const { services, database, schema, accountability, now = new Date() } = context;
  const wanted = wantedRows(batch);
  const counts: FactCounts = { created: 0, updated: 0, deleted: 0, unchanged: 0, ranked: 0, superseded: 0, orphaned: 0, conflicting: 0, official: 0 };
  let unwritable: Unwritable = { orphaned: [], conflicting: [] };
  const setBased: string[] = [];
  /** Collections whose rows a set-based write changed: Directus's data cache must forget them (see purgeDataCache). */
  const changedSetBased: string[] = [];
  // Race events are the bundle's own record of what was written: created as the system, as the hook's sweep does,
  // so no permission work per event and no role can leave them unpublished.
  const publish: PublishContext = { services, database, schema, accountability: null, logger: context.logger };
  // Read beside the transaction's first statements rather than in it: one round trip less on every event's way.
  const plainLookup = plainWriteCollections(database, accountability, collections);
  plainLookup.catch(() => undefined); // awaited below; a transaction that fails first must not leave it unhandled
  // What the race events need of the entries and stages, filled by the reads that lock them (takeOutUnwritable).
  const refs = noRefs();

  const staged = await database.transaction(async (trx) => {
    const items = (collection: FactCollection): Items => new services.ItemsService(collection, { knex: trx, schema, accountability });
    if (wanted.stage_results.size > 0) {
      await lockRanking(trx);
      // The pipeline knows only its own penalties: a result keeps those the officials gave by hand, and loses those
      // they waived.
      const results = batch.upserts.filter((fact): fact is StageResultFact => fact.type === 'stage_result');
      const official = await officialPenalties(trx, batch, results);
      for (const fact of results) {
        const ms = official.get(`${fact.entryId}:${fact.stageId}`) ?? 0;
        if (ms !== 0) wanted.stage_results.set(factId(fact.key), factRow(withOfficialPenalties(fact, ms), batch.source));
      }
    }
    // Crossings the officials corrected by hand are theirs: the pipeline's change of one, or another start or finish
    // beside one, is left out.
    for (const id of await officialCrossingIds(trx, wanted.entry_crossings)) if (wanted.entry_crossings.delete(id)) counts.official++;
    // Before the reads below, so a concurrent batch about the same facts is either all before this one or all after.
    const { versions, superseded } = await raiseFactVersionsInOrder(trx, collections.flatMap((c) => [...wanted[c].keys()]), batch.sequence, batch.snapshot);
    // A newer change of these facts was applied already (a retry of an older outbox row), or was written after the
    // replay that sent this read them: applying this one would bring an older value back, and announce it.
    for (const collection of collections) {
      for (const id of superseded) if (wanted[collection].delete(id)) counts.superseded++;
    }
    // Facts the database would refuse on every retry (their entry is gone, a timekeeper's row holds their place):
    // left out, so they cannot hold back the rest of the batch and every batch behind it.
    unwritable = await takeOutUnwritable(trx, wanted, refs);
    counts.orphaned = unwritable.orphaned.length;
    counts.conflicting = unwritable.conflicting.length;
    // Our own writes emit no item events: the race events below describe them, and the hook must not re-time them.
    // Nor per-row activity and revisions (skipTracking; permissions are still checked as the caller): the race events
    // are the audit trail of the pipeline's facts, and tracking cost each event's request an activity row, a
    // revision and their payload work per row. People's edits, through Directus's own API, keep theirs.
    const quiet = { emitEvents: false, skipTracking: true };
    // Where the caller's permissions say nothing about single rows (an admin, the processor's plain role), the rows
    // are written set-based: ItemsService checked and wrote them one by one, most of a facts request's time.
    const plain = await plainLookup;
    const writerOf = (collection: FactCollection, creates: Row[], updates: Row[]): FactWriter => {
      if (!plain.has(collection) || !rowsPassFieldRules(schema, collection, creates, updates)) return itemsWriter(items(collection), quiet);
      setBased.push(collection);
      return tableWriter(trx, collection);
    };
    const written = Object.fromEntries(collections.map((c) => [c, new Set<string>()])) as Record<FactCollection, Set<string>>;
    // Rows as the set-based writes gave them back (RETURNING), so their race events need not read them again.
    const returned = Object.fromEntries(collections.map((c) => [c, new Map<string, Row>()])) as Record<FactCollection, Map<string, Row>>;

    for (const collection of collections) {
      const rows = wanted[collection];
      if (rows.size === 0) continue;
      // After this batch's crossings are written: a result is timed from the crossings the officials corrected.
      if (collection === 'stage_results') await retimeOnOfficialCrossings(trx, [...rows.values()].filter((row): row is Row => row !== null));
      const fields = [...new Set([...rows.values()].flatMap((row) => (row ? Object.keys(row) : [])))];
      const stored = await readByIds(items(collection), [...rows.keys()], ['id', ...fields, ...(collection === 'stage_results' ? resultFields : [])]);
      const creates: Row[] = [];
      const updates: Row[] = [];
      const deletes: string[] = [];
      for (const [id, row] of rows) {
        const before = stored.get(id);
        if (row === null) {
          if (before) deletes.push(id);
          else counts.unchanged++;
        } else if (!before) {
          creates.push({ id, ...row });
        } else {
          const delta = changedFields(schema, collection, before, row);
          if (delta) updates.push({ id, ...delta });
          else counts.unchanged++;
        }
      }
      counts.created += creates.length;
      counts.updated += updates.length;
      counts.deleted += deletes.length;
      if (collection === 'stage_results') {
        for (const row of [...creates, ...updates]) row['computed_at'] = now.toISOString();
        counts.ranked += await rankInto(items(collection), stored, creates, updates, deletes);
        // Other results of the stage whose rank moved (under the rank lock, so no batch holds their versions).
        for (const [id, version] of await raiseFactVersions(trx, updates.map((row) => String(row['id'])).filter((id) => !versions.has(id)))) versions.set(id, version);
      }
      const writer = writerOf(collection, creates, updates);
      await writer.remove(deletes);
      for (const row of [...(await writer.create(creates)), ...(await writer.update(updates))]) returned[collection].set(String(row['id']), row);
      if (setBased.includes(collection) && creates.length + updates.length + deletes.length > 0) changedSetBased.push(collection);
      for (const row of creates) written[collection].add(String(row['id']));
      for (const row of updates) {
        const id = String(row['id']);
        // Only who computed it changed (a replay confirming a live fact): the same event, not a new one. Nor is an
        // anomaly announced again for its details alone (see quietDetails).
        const quiet = collection === 'anomalies' && quietDetails(rows.get(id)) ? anomalyDetails : noFields;
        if (Object.keys(row).every((field) => bookkeeping.has(field) || quiet.has(field))) continue;
        written[collection].add(id);
      }
    }

    const events = await eventsOf(trx, batch, wanted, written, returned, versions, refs, now);
    const pending = await stagePendingEvents(trx, events);
    return { pending, heard: await createStagedEvents(trx, publish, pending) };
  });
  logUnwritable(context.logger, batch, unwritable);
  // After the commit, so a Flow never hears of data that rolled back.
  await publishPendingSafely(publish, staged.pending, staged.heard);
  // Race events created in the transaction did not purge it themselves: before the commit, a read could cache the old rows.
  if (staged.heard) changedSetBased.push('race_events');
  if (changedSetBased.length > 0) {
    await purgeDataCache(context, changedSetBased).catch((error: unknown) =>
      context.logger?.warn({ err: error, collections: changedSetBased }, 'pitwall: data cache not purged after set-based fact writes; cached answers may be stale until CACHE_TTL'),
    );
  }
  return { counts, setBased };
}

/**
 * One race event per created or changed fact (penalties show through their stage result; rank-only changes of other
 * results count as changes). Values come from the stored rows (those the writes returned, the others read),
 * overlaid with the batch's own values; `refs` holds the entries and stages read already.
 */
async function eventsOf(
  trx: any, batch: FactBatch, wanted: Record<FactCollection, Map<string, Row | null>>, written: Record<FactCollection, Set<string>>,
  returned: Record<FactCollection, Map<string, Row>>, versions: Map<string, number>, known: EventRefs, now: Date,
): Promise<RaceEventItem[]> {
  const keyOf = new Map(batch.upserts.map((fact) => [factId(fact.key), fact.key]));
  const rowsOf = async (collection: FactCollection): Promise<Row[]> => {
    const ids = [...written[collection]];
    const stored = ids.flatMap((id): Row[] => (returned[collection].has(id) ? [returned[collection].get(id)!] : []));
    const unread = ids.filter((id) => !returned[collection].has(id));
    for (let i = 0; i < unread.length; i += READ_CHUNK) stored.push(...(await trx(collection).whereIn('id', unread.slice(i, i + READ_CHUNK)).select('*')));
    return stored.map((row) => ({
      ...row, ...(wanted[collection].get(String(row['id'])) ?? {}), id: String(row['id']), ...(collection === 'stage_results' ? { rank: row['rank'] } : {}),
    }));
  };
  const crossings = await rowsOf('entry_crossings');
  const results = await rowsOf('stage_results');
  const anomalies = await rowsOf('anomalies');
  const all = [...crossings, ...results, ...anomalies];
  const refs = await loadRefs(trx, all.map((r) => (r['entry'] ? String(r['entry']) : null)), all.map((r) => (r['stage'] ? String(r['stage']) : null)), known);
  // The event is about this version of the fact (see fact-versions): each change is one event, and a batch
  // delivered again changes nothing and so emits nothing.
  const subject = (row: Row, fallback: string) => versionedSubject(keyOf.get(String(row['id'])) ?? fallback, versions.get(String(row['id'])));
  return [
    ...crossings.map((row) => crossingEvent(row, subject(row, `crossing:${row['id']}`), batch.source, refs)),
    ...results.map((row) => stageResultEvent(row, subject(row, `result:${row['entry']}:${row['stage']}`), batch.source, refs, now)),
    ...anomalies.map((row) => anomalyEvent(row, subject(row, `anomaly:${row['id']}`), batch.source, refs)),
  ];
}

/** Rows through Directus's ItemsService as the caller: its permissions and validation decide each row. */
function itemsWriter(items: Items, options: { emitEvents: boolean; skipTracking: boolean }): FactWriter {
  return {
    async create(rows) {
      if (rows.length > 0) await items.createMany(rows, options);
      return [];
    },
    async update(rows) {
      if (rows.length > 0) await items.updateBatch(rows, options);
      return [];
    },
    async remove(ids) {
      if (ids.length > 0) await items.deleteMany(ids, options);
    },
  };
}

function prefixOf(collection: FactCollection): string {
  return Object.entries(collectionOfPrefix).find(([, c]) => c === collection)![0];
}

/**
 * The row each distinct id should end as (null: deleted). The last upsert of a key wins, and beats a retraction or a
 * removal of the same row; removals (replay) name stored rows by id.
 */
function wantedRows(batch: FactBatch): Record<FactCollection, Map<string, Row | null>> {
  const wanted = Object.fromEntries(collections.map((c) => [c, new Map<string, Row | null>()])) as Record<FactCollection, Map<string, Row | null>>;
  const upserted = new Set(batch.upserts.map((fact) => fact.key));
  for (const key of batch.retractions) {
    const collection = collectionOfKey(key);
    if (!collection) throw new Error(`Unknown fact key prefix: ${key}`);
    if (!upserted.has(key)) wanted[collection].set(factId(key), null);
  }
  for (const { collection, id } of batch.removals ?? []) wanted[collection].set(id, null);
  for (const fact of batch.upserts) wanted[collectionOfType[fact.type]].set(factId(fact.key), factRow(fact, batch.source));
  return wanted;
}

async function readByIds(items: Items, ids: string[], fields: string[]): Promise<Map<string, Row>> {
  const stored = new Map<string, Row>();
  for (let i = 0; i < ids.length; i += READ_CHUNK) {
    const chunk = ids.slice(i, i + READ_CHUNK);
    for (const row of await items.readMany(chunk, { fields: [...new Set(fields)], limit: chunk.length })) stored.set(String(row['id']), row);
  }
  return stored;
}

/** The fields of `next` whose stored value differs, compared as Directus types them; null when none does. */
function changedFields(schema: SchemaOverview, collection: FactCollection, stored: Row, next: Row): Row | null {
  const delta: Row = {};
  for (const [field, value] of Object.entries(next)) {
    if (!sameValue(schema.collections[collection]?.fields[field]?.type, stored[field], value)) delta[field] = value;
  }
  return Object.keys(delta).length > 0 ? delta : null;
}

function sameValue(type: string | undefined, stored: unknown, next: unknown): boolean {
  if (stored === null || stored === undefined || next === null || next === undefined) return (stored ?? null) === (next ?? null);
  switch (type) {
    case 'timestamp':
    case 'dateTime':
      return Date.parse(String(stored)) === Date.parse(String(next));
    // Directus makes float fields `real` columns in Postgres: compare at that precision.
    case 'float':
      return Math.fround(Number(stored)) === Math.fround(Number(next));
    // bigint columns come back from pg as strings.
    case 'integer':
    case 'bigInteger':
    case 'decimal':
      return Number(stored) === Number(next);
    case 'json':
      return canonical(typeof stored === 'string' ? JSON.parse(stored) : stored) === canonical(next);
    default:
      return String(stored) === String(next);
  }
}

/** JSON with object keys sorted, so a jsonb column that reordered keys still compares equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

const resultFields = standingFields;

/**
 * Ranks every stage the planned writes touch, as it will be after them (stageStandings: the domain's classifyStage),
 * and puts each rank and gap to the leader into the write of its row (or a rank/gap update of only the other rows
 * of the stage whose standing moved), so a new result is written once, not twice. Returns how many ranks change.
 */
async function rankInto(items: Items, stored: Map<string, Row>, creates: Row[], updates: Row[], deletes: string[]): Promise<number> {
  const writes = new Map([...creates, ...updates].map((row) => [String(row['id']), row]));
  // A result that moves (or is removed) changes the ranking of the stage it leaves as well as the one it joins.
  const stages = new Set<string>();
  for (const row of writes.values()) if (row['stage'] !== undefined) stages.add(String(row['stage']));
  for (const id of [...writes.keys(), ...deletes]) if (stored.has(id)) stages.add(String(stored.get(id)!['stage']));
  if (stages.size === 0) return 0;

  const current = await items.readByQuery({ filter: { stage: { _in: [...stages] } }, fields: resultFields, limit: -1 });
  const previous = new Map(current.map((row) => [String(row['id']), row]));
  const after = new Map<string, Row>(current.map((row) => [String(row['id']), row]));
  for (const id of deletes) after.delete(id);
  for (const [id, row] of writes) after.set(id, { ...after.get(id), ...row });

  const byStage = new Map<string, Row[]>();
  for (const row of after.values()) byStage.set(String(row['stage']), [...(byStage.get(String(row['stage'])) ?? []), row]);
  let ranked = 0;
  for (const rows of byStage.values()) {
    for (const [id, change] of standingChanges(previous, stageStandings(rows))) {
      if ('rank' in change) ranked++;
      const write = writes.get(id);
      if (write) Object.assign(write, change);
      else updates.push({ id, ...change });
    }
  }
  return ranked;
}
