import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import { holdStopFor, isDraining } from './delivery-drain';
import { collectingActions, createdAgain, handsOverToFlows, handToFlows, type ItemAction } from './flow-handover';
import type { RaceEventItem } from './race-events-build';

/**
 * Publish-after-commit for race events. Directus fires `race_events.items.create` (what Flows hear) as soon as
 * ItemsService returns, which inside a transaction is before the commit. So events are staged in
 * `pitwall_pending_events` within the business transaction, created there too with their actions held back
 * (createStagedEvents) or else after the commit, handed to the Flows after the commit, and stay pending until the
 * Flows have heard them (publishPendingEvents).
 */
export const PENDING_TABLE = 'pitwall_pending_events';
const PUBLISH_CHUNK = 200;
/** How long a publisher holds the events it has claimed; renewed while their Flow runs last. */
const HANDOFF_LEASE_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
/** A lease's end, on the database's clock (the statement's time, not the transaction's start). */
const LEASE_FROM_NOW = `clock_timestamp() + ?::bigint * interval '1 millisecond'`;

export interface PublishContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  accountability: Accountability | null;
  logger?: { warn: (obj: unknown, msg?: string) => void };
}

/**
 * Inside the business transaction: stages the events, claimed for the publisher that publishes them once the
 * transaction has committed (publishPendingEvents). The same id twice is kept once; an id pending already stays with
 * whoever holds it. Returns the events staged here.
 */
export async function stagePendingEvents(trx: any, events: RaceEventItem[]): Promise<RaceEventItem[]> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  const staged: RaceEventItem[] = [];
  for (let i = 0; i < unique.length; i += PUBLISH_CHUNK) {
    const chunk = unique.slice(i, i + PUBLISH_CHUNK);
    const rows = chunk.map((e) => ({ id: e.id, item: JSON.stringify(e), handed_until: trx.raw(LEASE_FROM_NOW, [HANDOFF_LEASE_MS]) }));
    const inserted = new Set(((await trx(PENDING_TABLE).insert(rows).onConflict('id').ignore().returning('id')) as { id: string }[]).map((row) => String(row.id)));
    staged.push(...chunk.filter((e) => inserted.has(e.id)));
  }
  return staged;
}

/**
 * Inside the business transaction, after stagePendingEvents: creates the staged events in `race_events` too, in a
 * savepoint, with their actions collected instead of emitted (a Flow must not hear of data that may roll back).
 * Every fact batch that makes events then commits once, where creating them after the commit took a transaction of
 * its own on each event's way. Returns the actions for publishPendingEvents to hand over after the commit, or null
 * when the events were not created here: Directus's emitter is not at hand (ItemsService would emit before the
 * commit), or the creation failed (an event there already, a request sent again): the savepoint took it back, and
 * publishPendingEvents creates them after the commit, one by one where it must, as without this.
 */
export async function createStagedEvents(trx: any, context: PublishContext, staged: RaceEventItem[]): Promise<ItemAction[] | null> {
  if (staged.length === 0 || !handsOverToFlows()) return null;
  const heard: ItemAction[] = [];
  try {
    await trx.transaction(async (savepoint: any) => {
      const events = new context.services.ItemsService('race_events', { schema: context.schema, accountability: context.accountability, knex: savepoint });
      // The data cache is purged after the commit (applyFacts), not before it, when a read could cache the old rows.
      await events.createMany(staged as never[], { ...collectingActions(heard), autoPurgeCache: false });
    });
    return heard;
  } catch {
    return null;
  }
}

interface Claimed {
  id: string;
  item: RaceEventItem | string;
  /** Claimed before by a publisher whose lease ran out: it may have created the event, and handed it to Flows or not. */
  retried: boolean;
}

/**
 * Claims pending events for this publisher, oldest first: those nobody holds (never claimed, or whose publisher's
 * lease ran out), leaving out `skip`. Committed at once: the claim, not a lock held across the creation, is what
 * keeps two publishers (two sweeps, two Directus instances) from publishing one event twice.
 */
async function claim(database: any, skip: string[], limit: number): Promise<Claimed[]> {
  const { rows } = await database.raw(
    `WITH picked AS (
       SELECT id, handed_until IS NOT NULL AS retried FROM ${PENDING_TABLE}
        WHERE (handed_until IS NULL OR handed_until < now())
          AND NOT (id = ANY(?::uuid[]))
        ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED)
     UPDATE ${PENDING_TABLE} p SET handed_until = ${LEASE_FROM_NOW}
       FROM picked WHERE p.id = picked.id
     RETURNING p.id, p.seq, p.item, picked.retried`,
    [skip, limit, HANDOFF_LEASE_MS],
  );
  return (rows as (Claimed & { seq: string })[]).sort((a, b) => Number(a.seq) - Number(b.seq)).map(({ id, item, retried }) => ({ id: String(id), item, retried }));
}

/**
 * After the commit: creates pending events in `race_events`, hands them to the Flows that listen (flow-handover),
 * and removes them from the pending table once those Flow runs have ended. Returns how many events were created.
 *
 * Each event is claimed first (a lease on the database's clock, renewed while its Flow runs last), so a publisher
 * that dies anywhere on the way leaves it claimed: once the lease has run out, the next publication creates it if
 * it is not there yet, or hands it to the Flows again if it is (they may not have heard it, or not to the end). Flows
 * therefore hear an event at least once; the signed webhook delivers it once (its chains and its delivery log).
 *
 * With `staged` (what stagePendingEvents returned, just committed: claimed already) the events are created straight
 * from memory, as this runs for every fact batch; with `heard` too (what createStagedEvents returned) they were
 * created in that transaction, and are only handed to the Flows. Without `staged`, every pending event nobody holds
 * is claimed and published, chunk by chunk.
 */
export async function publishPendingEvents(context: PublishContext, staged?: RaceEventItem[], heard?: ItemAction[] | null): Promise<number> {
  if (!staged) return publishNow(context);
  if (staged.length === 0) return 0;
  if (heard) {
    // Created in the business transaction (createStagedEvents): only handed over, under the claims staged with them.
    const ids = staged.map((item) => item.id);
    leases.hold(context.database, ids);
    settle(context, ids, heard);
    return staged.length;
  }
  const { count, failures } = await publishClaimed(context, staged.map((item) => ({ id: item.id, item, retried: false })));
  if (failures.length > 0) throw new EventsLeftPending(failures);
  return count;
}

/** Thrown after a publication that could not create some events: they stay pending, the others are published. */
class EventsLeftPending extends Error {
  constructor(readonly failures: { id: string; error: unknown }[]) {
    super(`${failures.length} race event(s) could not be created and stay pending; first: ${String((failures[0]?.error as Error)?.message ?? failures[0]?.error)}`);
  }
}

/**
 * Every pending event nobody holds, chunk by chunk, oldest first. An event that cannot be created is skipped for
 * the rest of this call, so the others still go out; the call then throws with what was left.
 */
async function publishNow(context: PublishContext): Promise<number> {
  let published = 0;
  const failures: { id: string; error: unknown }[] = [];
  for (;;) {
    const claimed = await claim(context.database, failures.map((f) => f.id), PUBLISH_CHUNK);
    if (claimed.length === 0) break;
    const done = await publishClaimed(context, claimed);
    published += done.count;
    failures.push(...done.failures);
    if (claimed.length < PUBLISH_CHUNK) break;
  }
  if (failures.length > 0) throw new EventsLeftPending(failures);
  return published;
}

/**
 * Publishes claimed events: creates those not in `race_events` yet, hands again to the Flows those a gone publisher
 * created, and drops the pending rows of events another publication created and handed over already (a request
 * sent again stages its events again). An event that cannot be created is given back, for the next publication.
 */
async function publishClaimed(context: PublishContext, claimed: Claimed[]): Promise<{ count: number; failures: { id: string; error: unknown }[] }> {
  const { services, database, schema, accountability } = context;
  // Renewed from the start: creating a chunk may outlast a lease (a slow database, filters on race_events).
  leases.hold(database, claimed.map((row) => row.id));
  const itemOf = (row: Claimed) => (typeof row.item === 'string' ? (JSON.parse(row.item) as RaceEventItem) : row.item);
  const existsNow = async (ids: string[]) =>
    new Set((await database('race_events').whereIn('id', ids).select('id')).map((r: { id: string }) => String(r.id)));
  const heard: ItemAction[] = [];
  /** Pending rows that go once the Flow runs they were handed to have ended. */
  const handed: string[] = [];
  /** Pending rows of events that another publication created and handed over. */
  const done: string[] = [];
  const failures: { id: string; error: unknown }[] = [];
  const actionContext = { database, schema, accountability };
  const createdElsewhere = (row: Claimed): void => {
    if (!row.retried) {
      done.push(row.id);
      return;
    }
    heard.push(createdAgain(itemOf(row), actionContext));
    handed.push(row.id);
  };

  // Only a retried claim may find its event created (by the publisher that is gone); otherwise creating is the check.
  const existing = claimed.some((row) => row.retried) ? await existsNow(claimed.map((row) => row.id)) : new Set<string>();
  for (const row of claimed) if (existing.has(row.id)) createdElsewhere(row);
  const fresh = claimed.filter((row) => !existing.has(row.id));
  const events = new services.ItemsService('race_events', { schema, accountability, knex: database });
  let count = 0;
  try {
    await createFresh();
    if (done.length > 0) await database(PENDING_TABLE).whereIn('id', done).delete();
    if (failures.length > 0) await database(PENDING_TABLE).whereIn('id', failures.map((f) => f.id)).update({ handed_until: null });
  } finally {
    // Whatever failed on the way, what was created is handed over now, not once its lease has run out; the claims
    // of the others are no longer renewed.
    settle(context, handed, heard);
    leases.release(claimed.map((row) => row.id).filter((id) => !handed.includes(id)));
  }
  return { count, failures };

  async function createFresh(): Promise<void> {
    try {
      // One transaction for all, committed before Flows hear them.
      if (fresh.length > 0) await events.createMany(fresh.map(itemOf) as never[], collectingActions(heard));
      count = fresh.length;
      handed.push(...fresh.map((row) => row.id));
    } catch {
      // One of them exists already (a request sent again), or one cannot be stored: one at a time.
      for (const row of fresh) {
        const create = async (item: RaceEventItem) => {
          await events.createOne(item as never, collectingActions(heard));
          count++;
          handed.push(row.id);
        };
        try {
          await create(itemOf(row));
        } catch (error) {
          if ((await existsNow([row.id])).has(row.id)) {
            createdElsewhere(row);
            continue;
          }
          const unlinked = await withoutDeletedLinks(database, itemOf(row));
          if (unlinked === null) {
            failures.push({ id: row.id, error });
            continue;
          }
          await create(unlinked).catch((again: unknown) => failures.push({ id: row.id, error: again }));
        }
      }
    }
  }
}

/**
 * Hands the actions to the Flows and removes the pending rows once their runs have ended; their claims (held by
 * publishClaimed) are renewed until then. Without Directus's emitter at hand, Directus emitted the actions itself:
 * the rows go at once (an action to emit again is dropped then).
 */
function settle(context: PublishContext, ids: string[], heard: ItemAction[]): void {
  if (ids.length === 0) return;
  const forget = () => context.database(PENDING_TABLE).whereIn('id', ids).delete();
  const left = (err: unknown) => context.logger?.warn({ err }, 'pitwall: published race events stay pending; they are handed to the Flows again once their lease runs out');
  // Not awaited: a Flow run may take a minute (a webhook's retries); the stop waits for it (delivery-drain).
  holdStopFor(
    handToFlows(heard, context.logger)
      .then(forget)
      .catch(left)
      .finally(() => leases.release(ids)),
  );
}

/**
 * The claims of the events this process is handing to Flows, renewed until their runs have ended; counted, as an
 * event whose renewal failed long enough can be handed again while its first runs still go on.
 */
const leases = {
  held: new Map<string, number>(),
  timer: null as NodeJS.Timeout | null,
  hold(database: any, ids: string[]): void {
    for (const id of ids) this.held.set(id, (this.held.get(id) ?? 0) + 1);
    this.timer ??= setInterval(() => {
      if (isDraining()) return;
      database.raw(`UPDATE ${PENDING_TABLE} SET handed_until = ${LEASE_FROM_NOW} WHERE id = ANY(?::uuid[])`, [HANDOFF_LEASE_MS, [...this.held.keys()]])
        .catch(() => undefined);
    }, RENEW_EVERY_MS).unref();
  },
  release(ids: string[]): void {
    for (const id of ids) {
      const left = (this.held.get(id) ?? 1) - 1;
      if (left > 0) this.held.set(id, left);
      else this.held.delete(id);
    }
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  },
};

/**
 * At a graceful stop, once the drain is over: the events whose Flow runs have not ended are given back, so that the
 * next instance hands them again at once rather than when their lease runs out.
 */
export async function handBackUnsettled(database: any): Promise<void> {
  if (leases.held.size === 0) return;
  await database(PENDING_TABLE).whereIn('id', [...leases.held.keys()]).update({ handed_until: database.raw('now()') });
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
export function publishPendingSafely(context: PublishContext, staged?: RaceEventItem[], heard?: ItemAction[] | null): Promise<number> {
  return holdStopFor(publishOrLeavePending(context, staged, heard));
}

async function publishOrLeavePending(context: PublishContext, staged?: RaceEventItem[], heard?: ItemAction[] | null): Promise<number> {
  // What an earlier publication left is swept after this one's own events, beside the request: a backlog there
  // must not hold these (their claims count from their staging) nor the caller.
  if (staged && leftBehind) {
    leftBehind = false;
    holdStopFor(publishOrLeavePending(context));
  }
  try {
    return await publishPendingEvents(context, staged, heard);
  } catch (error) {
    leftBehind = true;
    (context.logger ?? { warn: (o: unknown, m?: string) => console.warn(m, o) }).warn({ err: error }, 'pitwall: race events left pending');
    return 0;
  }
}
