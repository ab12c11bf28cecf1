import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
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

/** Inside the business transaction: the same id twice is kept once. */
export async function stagePendingEvents(trx: any, events: RaceEventItem[]): Promise<void> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  for (let i = 0; i < unique.length; i += PUBLISH_CHUNK) {
    const rows = unique.slice(i, i + PUBLISH_CHUNK).map((e) => ({ id: e.id, item: JSON.stringify(e) }));
    await trx(PENDING_TABLE).insert(rows).onConflict('id').ignore();
  }
}

/**
 * After the commit: creates each pending event (only `ids`, or every pending one) in `race_events` unless it is
 * already there, then removes it from the pending table. Rows are locked (SKIP LOCKED) while they are published,
 * so two publishers never create the same event. Returns how many events were created.
 */
export function publishPendingEvents(context: PublishContext, ids?: string[]): Promise<number> {
  // One publisher at a time in this process: each holds a locking connection and needs a second for createOne,
  // so many at once (a bulk import of io_mappings, say) could take the whole pool and wait on each other.
  const run = queue.then(() => publishNow(context, ids));
  queue = run.catch(() => undefined);
  return run;
}

let queue: Promise<unknown> = Promise.resolve();

async function publishNow(context: PublishContext, ids?: string[]): Promise<number> {
  const { services, database, schema, accountability } = context;
  if (ids && ids.length === 0) return 0;
  let published = 0;
  for (;;) {
    const { done, count } = await database.transaction(async (lock: any) => {
      let query = lock(PENDING_TABLE).select('id', 'item').orderBy('seq').limit(PUBLISH_CHUNK).forUpdate().skipLocked();
      if (ids) query = query.whereIn('id', ids);
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
        try {
          // One transaction for the chunk, committed before Directus emits the item actions that Flows hear.
          if (fresh.length > 0) await events.createMany(fresh.map(itemOf) as never[]);
          count = fresh.length;
          finished.push(...fresh.map((row) => String(row.id)));
        } catch {
          // One of them was created by someone else meanwhile (unique id), or one cannot be stored: one at a time.
          for (const row of fresh) {
            try {
              await events.createOne(itemOf(row) as never);
              count++;
            } catch (error) {
              // Someone else created it meanwhile: that is the one delivery.
              const exists = await database('race_events').where('id', row.id).first('id');
              if (!exists) throw error;
            }
            finished.push(String(row.id));
          }
        }
      } finally {
        if (finished.length > 0) await lock(PENDING_TABLE).whereIn('id', finished).delete();
      }
      return { done: rows.length < PUBLISH_CHUNK, count };
    });
    published += count;
    if (done) return published;
  }
}

/** Publishing never fails the caller: what is left stays pending and is published by the next request or the hook. */
export async function publishPendingSafely(context: PublishContext, ids?: string[]): Promise<number> {
  try {
    return await publishPendingEvents(context, ids);
  } catch (error) {
    (context.logger ?? { warn: (o: unknown, m?: string) => console.warn(m, o) }).warn({ err: error }, 'pitwall: race events left pending');
    return 0;
  }
}
