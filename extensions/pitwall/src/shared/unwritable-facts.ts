import type { FactBatch } from '../../../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../../../src/domain/pipeline/fact-ids.ts';
import { factCollections, type FactCollection } from '../../../../src/domain/pipeline/fact-row.ts';
import { conflictingRows } from './conflicting-facts.ts';
import { orphanedRows, type PlannedRow, type SkippedRow } from './orphaned-facts.ts';
import type { EventRefs } from './race-events-build.ts';

/** The upserts of a batch that the database would refuse on every retry. */
export interface Unwritable {
  /** Their entry, stage or geofence was deleted. */
  orphaned: SkippedRow[];
  /** A row of another id (a timekeeper's) holds their entry and stage, or their entry, geofence and time. */
  conflicting: SkippedRow[];
}

type Wanted = Record<FactCollection, Map<string, Record<string, unknown> | null>>;

/**
 * Takes out of `wanted` (the rows a batch should end as, null for a delete) the upserts the database would refuse
 * whatever the retry, and returns them. Such a fact is about something gone or held by a person's row: left in, the
 * whole batch would fail again and again, and with it every later batch of every tracker waiting in the outbox.
 * Their race events go with them (only written rows are announced). Inside the batch's transaction, before writing;
 * what the race events need of the entries and stages read is added to `refs`.
 */
export async function takeOutUnwritable(trx: any, wanted: Wanted, refs?: EventRefs): Promise<Unwritable> {
  const planned = (): PlannedRow[] =>
    factCollections.flatMap((collection) => [...wanted[collection]].flatMap(([id, row]) => (row ? [{ collection, id, row }] : [])));
  const orphaned = await orphanedRows(trx, planned(), refs);
  for (const { collection, id } of orphaned) wanted[collection].delete(id);
  const deleting = new Set(factCollections.flatMap((collection) => [...wanted[collection]].filter(([, row]) => row === null).map(([id]) => id)));
  const conflicting = await conflictingRows(trx, planned(), deleting);
  for (const { collection, id } of conflicting) wanted[collection].delete(id);
  return { orphaned, conflicting };
}

/** One warning per kind, naming each fact by its key, so an operator can tell what was not stored and why. */
export function logUnwritable(
  logger: { warn: (obj: unknown, msg?: string) => void } | undefined, batch: FactBatch, { orphaned, conflicting }: Unwritable,
): void {
  if (orphaned.length === 0 && conflicting.length === 0) return;
  const log = logger ?? { warn: (obj: unknown, msg?: string) => console.warn(msg, obj) };
  const keyOf = new Map(batch.upserts.map((fact) => [factId(fact.key), fact.key]));
  const named = (rows: SkippedRow[]) => rows.map(({ collection, id, reason }) => ({ key: keyOf.get(id) ?? id, collection, reason }));
  const about = { batch: batch.batch, source: batch.source };
  if (orphaned.length > 0) log.warn({ ...about, orphaned: named(orphaned) }, 'pitwall: facts about a deleted entry, stage or geofence were not stored');
  if (conflicting.length > 0) log.warn({ ...about, conflicting: named(conflicting) }, 'pitwall: facts whose place a row of another id holds (a timekeeper\'s) were not stored; that row is kept');
}
