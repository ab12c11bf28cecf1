import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import { holdStopFor } from './delivery-drain';
import { createHandingOver } from './flow-handover';
import type { RaceEventItem } from './race-events-build';

/**
 * Publish-after-commit for race events. Directus fires `race_events.items.create` (what Flows hear) as soon as
 * ItemsService returns, which inside a transaction is before the commit. So events are first staged in
 * `pitwall_pending_events` within the business transaction, then created through ItemsService after the commit.
 */
export const PENDING_TABLE = 'pitwall_pending_events';
const PUBLISH_CHUNK = 200;

export interface PublishContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  accountability: Accountability | null;
  logger?: { warn: (obj: unknown, msg?: string) => void };
}

/** Inside the business transaction: the same id twice is kept once. Returns the events, once each (an id already pending included). */
export async function stagePendingEvents(trx: any, events: RaceEventItem[]): Promise<RaceEventItem[]> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  for (let i = 0; i < unique.length; i += PUBLISH_CHUNK) {
    const rows = unique.slice(i, i + PUBLISH_CHUNK).map((e) => ({ id: e.id, item: JSON.stringify(e) }));
    await trx(PENDING_TABLE).insert(rows).onConflict('id').ignore();
  }
  return unique;
}

/**
 * After the commit: creates pending events in `race_events` unless they are already there, then removes them from
 * the pending table. Returns how many events were created.
 *
 * With `staged` (what stagePendingEvents returned, just committed) the events are created straight from memory in
 * one transaction: no locks, two statements besides the inserts, as this runs for every fact batch. The unique id
 * still makes the creation happen once: if another publisher (the hook's sweep) got there first, the transaction
 * fails whole and the careful path below settles it. Without `staged`, every pending event is published: rows are
 * locked (SKIP LOCKED) while they are published, so two sweeps never create the same event.
 */
export async function publishPendingEvents(context: PublishContext, staged?: RaceEventItem[]): Promise<number> {
  if (!staged) return serially(() => publishNow(context));
  if (staged.length === 0) return 0;
  const { services, database, schema, accountability } = context;
  const ids = staged.map((e) => e.id);
  try {
    // One transaction for all, committed before Directus emits the item actions that Flows hear.
    await createHandingOver((options) => new services.ItemsService('race_events', { schema, accountability, knex: database }).createMany(staged as never[], options), context.logger);
  } catch {
    return serially(() => publishNow(context, ids));
  }
  // Created and heard: a pending row left behind here only costs the next sweep a look (it finds the event exists).
  await database(PENDING_TABLE).whereIn('id', ids).delete().catch((error: unknown) => context.logger?.warn({ err: error }, 'pitwall: published race events stay in the pending table until the next sweep'));
  return staged.length;
}

/**
 * One locking publisher at a time in this process: each holds a locking connection and needs a second for
 * createOne, so many at once (a bulk import of io_mappings, say) could take the whole pool and wait on each other.
 */
function serially(publish: () => Promise<number>): Promise<number> {
  const run = queue.then(publish);
  queue = run.catch(() => undefined);
  return run;
}

let queue: Promise<unknown> = Promise.resolve();

/** Thrown after a publication that could not create some events: they stay pending, the others are published. */
class EventsLeftPending extends Error {
  constructor(readonly failures: { id: string; error: unknown }[]) {
    super(`${failures.length} race event(s) could not be created and stay pending; first: ${String((failures[0]?.error as Error)?.message ?? failures[0]?.error)}`);
  }
}

/**
 * The locking path: pending events chunk by chunk, oldest first. An event that cannot be created is skipped for the
 * rest of this call, so the others still go out; the call then throws with what was left.
 */
async function publishNow(context: PublishContext, ids?: string[]): Promise<number> {
  const { services, database, schema, accountability } = context;
  if (ids && ids.length === 0) return 0;
  let published = 0;
  const failures: { id: string; error: unknown }[] = [];
  for (;;) {
    const { done, count } = await database.transaction(async (lock: any) => {
      let query = lock(PENDING_TABLE).select('id', 'item').orderBy('seq').limit(PUBLISH_CHUNK).forUpdate().skipLocked();
      if (ids) query = query.whereIn('id', ids);
      if (failures.length > 0) query = query.whereNotIn('id', failures.map((f) => f.id));
      const rows: { id: string; item: RaceEventItem | string }[] = await query;
      if (rows.length === 0) return { done: true, count: 0 };
      const existing = new Set(
        (await database('race_events').whereIn('id', rows.map((r) => r.id)).select('id')).map((r: { id: string }) => String(r.id)),
      );
      const events = new services.ItemsService('race_events', { schema, accountability, knex: database });
      const finished: string[] = rows.filter((row) => existing.has(String(row.id))).map((row) => String(row.id));
      const fresh = rows.filter((row) => !existing.has(String(row.id)));
      const itemOf = (row: (typeof rows)[number]) => (typeof row.item === 'string' ? (JSON.parse(row.item) as RaceEventItem) : row.item);
      let count = 0;
      try {
        // One transaction for the chunk, committed before Directus emits the item actions that Flows hear.
        if (fresh.length > 0) await createHandingOver((options) => events.createMany(fresh.map(itemOf) as never[], options), context.logger);
        count = fresh.length;
        finished.push(...fresh.map((row) => String(row.id)));
      } catch {
        // One of them was created by someone else meanwhile (unique id), or one cannot be stored: one at a time.
        for (const row of fresh) {
          try {
            await createHandingOver((options) => events.createOne(itemOf(row) as never, options), context.logger);
            count++;
            finished.push(String(row.id));
          } catch (error) {
            // Someone else created it meanwhile: that is the one delivery.
            if (await database('race_events').where('id', row.id).first('id')) {
              finished.push(String(row.id));
              continue;
            }
            const unlinked = await withoutDeletedLinks(database, itemOf(row));
            if (unlinked === null) {
              failures.push({ id: String(row.id), error });
              continue;
            }
            try {
              await createHandingOver((options) => events.createOne(unlinked as never, options), context.logger);
              count++;
              finished.push(String(row.id));
            } catch (again) {
              failures.push({ id: String(row.id), error: again });
            }
          }
        }
      }
      if (finished.length > 0) await lock(PENDING_TABLE).whereIn('id', finished).delete();
      return { done: rows.length < PUBLISH_CHUNK, count };
    });
    published += count;
    if (!done) continue;
    if (failures.length > 0) throw new EventsLeftPending(failures);
    return published;
  }
}

/**
 * The event without its links to an entry or event deleted since its facts committed (they still happened, and the
 * payload keeps the ids), or null when both links still hold: then something else stopped it.
 */
async function withoutDeletedLinks(database: any, item: RaceEventItem): Promise<RaceEventItem | null> {
  const gone = async (table: string, id: string | null) => id !== null && !(await database(table).where('id', id).first('id'));
  const [entryGone, eventGone] = [await gone('entries', item.entry), await gone('events', item.event)];
  if (!entryGone && !eventGone) return null;
  return { ...item, entry: entryGone ? null : item.entry, event: eventGone ? null : item.event };
}

/** Set when a publication in this process failed: the next one publishes every pending event first. */
let leftBehind = false;

/**
 * Publishing never fails the caller: what is left stays pending and is published by the next publication in this
 * process, or by the hook's sweep (at start and every 15 s, which also finds what a crashed instance left). A
 * graceful stop waits for a publication under way, and so for the Flow runs it hands its events to (delivery-drain).
 */
export function publishPendingSafely(context: PublishContext, staged?: RaceEventItem[]): Promise<number> {
  return holdStopFor(publishOrLeavePending(context, staged));
}

async function publishOrLeavePending(context: PublishContext, staged?: RaceEventItem[]): Promise<number> {
  if (staged && leftBehind) {
    leftBehind = false;
    const swept = await publishOrLeavePending(context);
    // The staged events were committed before that sweep, so it published them (or another publisher holds them).
    if (!leftBehind) return swept;
  }
  try {
    return await publishPendingEvents(context, staged);
  } catch (error) {
    leftBehind = true;
    (context.logger ?? { warn: (o: unknown, m?: string) => console.warn(m, o) }).warn({ err: error }, 'pitwall: race events left pending');
    return 0;
  }
}
