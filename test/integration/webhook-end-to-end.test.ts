import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { verifyWebhook } from '../../src/domain/webhooks/verify-webhook.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { startRestartableStack, type RestartableStack } from '../support/restartable-stack.ts';
import { REDIS_URL, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The whole path an integrator depends on, with nothing stubbed: simulator tracks on a fresh Redis stream → the
 * real processor → POST /pitwall/facts → race_events items → a Flow built through the REST API as an admin builds
 * it in the app (Event Hook, action, items.create on race_events → Pitwall signed webhook over every
 * webhook_subscriptions row) → an HTTP receiver in this test, which checks each signature as an integrator would
 * and de-duplicates on pitwall-event-id.
 */

const stage = demoId('stage:ss1');

interface Receipt {
  at: number;
  raw: string;
  headers: IncomingHttpHeaders;
  /** The answer; 0 when the sender was gone before it could be given. */
  status: number;
  eventId: string;
  attempt: number;
}

/**
 * An integrator's endpoint: records every request; `failNext(n)` answers the next n requests with 503,
 * `answerNextAfter(ms, status, eventId?)` keeps the next request (of that event, when given) waiting that long. `arrivals` lists event ids as requests
 * come in, before they are answered.
 */
class Receiver {
  readonly receipts: Receipt[] = [];
  readonly arrivals: string[] = [];
  url = '';
  private failing = 0;
  private held: { ms: number; status: number; eventId: string | null } | null = null;
  private readonly server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      this.arrivals.push(String(req.headers['pitwall-event-id']));
      const eventId = String(req.headers['pitwall-event-id']);
      const held = this.held && (this.held.eventId === null || this.held.eventId === eventId) ? this.held : null;
      if (held) this.held = null;
      const status = held ? held.status : this.failing > 0 ? 503 : 200;
      if (!held && this.failing > 0) this.failing--;
      const answer = () => {
        this.receipts.push({
          at: Date.now(),
          raw,
          headers: req.headers,
          status: req.socket.destroyed ? 0 : status,
          eventId: String(req.headers['pitwall-event-id']),
          attempt: Number(req.headers['pitwall-delivery-attempt']),
        });
        if (!req.socket.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try later');
      };
      if (held) setTimeout(answer, held.ms);
      else answer();
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/pitwall`;
    return this;
  }

  failNext(n: number): void {
    this.failing = n;
  }

  answerNextAfter(ms: number, status: number, eventId: string | null = null): void {
    this.held = { ms, status, eventId };
  }

  /** How many 2xx answers each event id got: what an integrator de-duplicating on pitwall-event-id sees. */
  deliveredCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.receipts) if (r.status === 200) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
    return counts;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * What an admin does in Settings → Flows: the trigger, the Signed webhook step, then the trigger's first step. With
 * `waits`, a Sleep step comes before (and after) it, as any step that reads or checks something takes its time.
 */
async function createSignedWebhookFlow(stack: TestStack, token: string, name: string, options: Record<string, unknown>, waits: { before?: number; after?: number } = {}): Promise<string> {
  const flow = await call(stack, '/flows', {
    token,
    body: { name, icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
  });
  expect(flow.status, flow.text).toBe(200);
  const id = flow.json.data.id as string;
  const operation = async (body: Record<string, unknown>): Promise<string> => {
    const op = await call(stack, '/operations', { token, body: { flow: id, ...body } });
    expect(op.status, op.text).toBe(200);
    return op.json.data.id as string;
  };
  const after = waits.after ? await operation({ name: 'Wait after', key: 'wait_after', type: 'sleep', position_x: 56, position_y: 1, options: { milliseconds: waits.after } }) : null;
  let first = await operation({
    name: 'Signed webhook', key: 'signed_webhook', type: 'pitwall-signed-webhook', position_x: 38, position_y: 1,
    options: { mode: 'subscriptions', event: '{{$trigger.payload}}', ...options }, resolve: after,
  });
  if (waits.before) first = await operation({ name: 'Wait', key: 'wait', type: 'sleep', position_x: 20, position_y: 1, options: { milliseconds: waits.before }, resolve: first });
  expect((await call(stack, `/flows/${id}`, { token, method: 'PATCH', body: { operation: first } })).status).toBe(200);
  return id;
}

async function createSubscription(stack: TestStack, token: string, url: string): Promise<{ id: string | number; secret: string }> {
  const secret = randomBytes(24).toString('hex');
  const res = await call(stack, '/items/webhook_subscriptions', {
    token,
    body: { name: `Test end-to-end ${randomUUID().slice(0, 8)}`, url, secret, active: true, event_types: null },
  });
  expect(res.status, res.text).toBe(200);
  return { id: res.json.data.id, secret };
}

/** Stores a race event as any writer through Directus does: the Flows on race_events hear it. Returns its id. */
async function storeRaceEvent(stack: TestStack, token: string): Promise<string> {
  const id = randomUUID();
  const res = await call(stack, '/items/race_events', {
    token,
    body: { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } },
  });
  expect(res.status, res.text).toBe(200);
  return id;
}

/**
 * A private Directus with one subscription to `receiver` and one signed-webhook Flow (with `waits`) that has
 * delivered a probe: what the hand-off tests stop and kill.
 */
async function startFlowStack(label: string, receiver: Receiver, flowName: string, waits: { before?: number; after?: number }) {
  const restartable = await startRestartableStack(label);
  const db = knexFactory({ client: 'pg', connection: restartable.stack.databaseUrl, pool: { min: 0, max: 2 } });
  const token = await adminToken(restartable.stack);
  await receiver.start();
  await createSubscription(restartable.stack, token, receiver.url);
  await createSignedWebhookFlow(restartable.stack, token, flowName, { max_attempts: 3, timeout_ms: 3000, base_delay_ms: 200, max_delay_ms: 1000 }, waits);
  await untilFlowDelivers(restartable.stack, token, receiver, []);
  return { restartable, db, token };
}

/** Each recorded attempt to deliver the event, as (attempt, outcome). */
const attemptOutcomes = async (db: Knex, eventId: string) =>
  (await db('webhook_deliveries').where({ race_event: eventId }).select('attempt', 'outcome')) as { attempt: number; outcome: string }[];

/** An admin adds an IO mapping through the API; returns the id of the io_mapping.changed event Pitwall publishes. */
async function newIoMappingEvent(stack: TestStack, token: string, db: Knex): Promise<string> {
  const before = new Set((await db('race_events').where({ type: 'io_mapping.changed' }).select('id')).map((r: { id: string }) => r.id));
  const body = { model: demoId('model:FMB920'), io_id: 9000 + Math.floor(Math.random() * 900), attribute: `handover_${randomBytes(3).toString('hex')}`, value_type: 'unsigned', byte_size: 1 };
  const res = await call(stack, '/items/io_mappings', { token, body });
  expect(res.status, res.text).toBe(200);
  return waitFor(async () => {
    const rows = (await db('race_events').where({ type: 'io_mapping.changed' }).select('id')) as { id: string }[];
    return rows.map((r) => r.id).find((id) => !before.has(id));
  }, { timeoutMs: 10_000, intervalMs: 10, what: 'the io_mapping.changed event' });
}

/** Flows load asynchronously after a save: store probe events until one comes through, then let the rest arrive. */
async function untilFlowDelivers(stack: TestStack, token: string, receiver: Receiver, probes: string[]): Promise<void> {
  await waitFor(async () => {
    probes.push(await storeRaceEvent(stack, token));
    await sleep(250);
    return receiver.receipts.some((r) => probes.includes(r.eventId));
  }, { timeoutMs: 30_000, intervalMs: 100, what: 'the Flow to deliver a probe event' });
  await sleep(500);
}

/** Fixes of the first `entries` demo entries through stage 1, an hour after it opens. */
async function stageFixes(db: Knex, entries: number, seed: number) {
  const row = await db('stages').where({ id: stage }).first('opens_at');
  return simulateRace({ start: new Date(row.opens_at).getTime() + 3_600_000, entries, stages: ['ss1'], seed });
}

async function count(db: Knex, table: string, where: (q: Knex.QueryBuilder) => Knex.QueryBuilder = (q) => q): Promise<number> {
  const [row] = await where(db(table)).count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

/** Everything the receiver got is signed with the subscription's secret, over the body it got, for that event id. */
function expectValidSignatures(receipts: Receipt[], secret: string): void {
  for (const r of receipts) {
    expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string | undefined, secret, Math.floor(r.at / 1000)), r.eventId).toMatchObject({ ok: true });
    expect(JSON.parse(r.raw).id).toBe(r.eventId);
  }
}

/**
 * Throws (for waitFor to report) until the race has run to the end and every fact and event has left the
 * processor's outbox and the pending table.
 */
async function expectSettled(db: Knex, entryIds: string[]): Promise<void> {
  const finished = await count(db, 'stage_results', (q) => q.where({ stage, status: 'finished' }).whereIn('entry', entryIds));
  const outbox = await count(db, 'pitwall_outbox', (q) => q.whereNull('failed_at'));
  const pending = await count(db, 'pitwall_pending_events');
  if (finished < entryIds.length || outbox > 0 || pending > 0) throw new Error(`${finished} finished, ${outbox} fact batches in the outbox, ${pending} events pending`);
}

/** Throws until each of the events got a 2xx answer. */
function expectDelivered(events: { id: string; type: string }[], receiver: Receiver): void {
  const delivered = receiver.deliveredCounts();
  const missing = events.filter((e) => !delivered.has(e.id));
  if (events.length === 0 || missing.length > 0) throw new Error(`${missing.length} of ${events.length} events not delivered: ${JSON.stringify(missing.slice(0, 5))}`);
}

describe('race events to an integrator, end to end through the real processor and a Flow', () => {
  const stack = inject('stack');
  const ENTRIES = 2;
  const entries = demoEntries.slice(0, ENTRIES);
  const entryIds = entries.map((e) => e.id);
  const devices = entries.map((e) => e.imei);
  const stream = `test:telemetry:${randomUUID()}`;
  const receiver = new Receiver();
  const probes: string[] = [];
  const FAILING = 5;
  let redis: Redis;
  let db: Knex;
  let token = '';
  let processor: Processor | undefined;
  let flowId: string | undefined;
  let subscription: { id: string | number; secret: string } | undefined;
  /** The race events that existed before the run (other files' included); null until known. */
  let before: Set<string> | null = null;
  let run: { id: string; type: string }[] = [];

  const runEvents = async () =>
    ((await db('race_events').select('id', 'type')) as { id: string; type: string }[]).filter((e) => !before!.has(e.id) && !probes.includes(e.id));

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    await receiver.start();
    subscription = await createSubscription(stack, token, receiver.url);
    flowId = await createSignedWebhookFlow(stack, token, `Test: end-to-end signed webhooks ${randomUUID().slice(0, 8)}`, {
      max_attempts: 6, timeout_ms: 3000, base_delay_ms: 200, max_delay_ms: 1000, deadline_ms: 20_000,
    });
    await untilFlowDelivers(stack, token, receiver, probes);
    before = new Set((await db('race_events').select('id')).map((r: { id: string }) => r.id));

    // The integrator is down at first: its first answers are 503.
    receiver.failNext(FAILING);
    await publishFixes(redis, stream, await stageFixes(db, ENTRIES, 11), { speed: 0 });
    processor = await startRacingProcessor(stack, stream);
    run = await waitFor(async () => {
      await expectSettled(db, entryIds);
      const events = await runEvents();
      expectDelivered(events, receiver);
      return events;
    }, { timeoutMs: 60_000, intervalMs: 300, what: 'every race event of the run to be delivered' });
    // Anything late (a duplicate, a stray retry) would arrive now.
    await sleep(1500);
  }, 120_000);

  afterAll(async () => {
    await processor?.close();
    if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
    await receiver.close();
    await redis?.del(stream, `${stream}:dead-letter`);
    redis?.disconnect();
    if (db) {
      // Only what this file caused: without the snapshot, only its probes are known to be its own.
      const events = [...(before ? await runEvents() : []).map((e) => e.id), ...probes];
      if (subscription) await db('webhook_deliveries').where({ subscription: subscription.id }).delete();
      if (events.length) {
        await db('webhook_deliveries').whereIn('race_event', events).delete();
        await db('race_events').whereIn('id', events).delete();
        await db('pitwall_pending_events').whereIn('id', events).delete();
      }
      if (subscription) await db('webhook_subscriptions').where({ id: subscription.id }).delete();
      for (const table of ['entry_crossings', 'entry_penalties', 'stage_results']) await db(table).whereIn('entry', entryIds).delete();
      await db('anomalies').whereIn('entry', entryIds).orWhereIn('device_id', devices).delete();
      await db('positions').whereIn('device_id', devices).delete();
      await db('decoded_attributes').whereIn('device_id', devices).delete();
      await db.destroy();
    }
  });

  it('turns the tracks into race events: one per crossing, result and anomaly', async () => {
    const crossings = await count(db, 'entry_crossings', (q) => q.whereIn('entry', entryIds));
    expect(crossings).toBe(ENTRIES * 3);
    expect(run.filter((e) => e.type === 'timing.crossing.recorded')).toHaveLength(crossings);
    expect(run.filter((e) => e.type === 'stage.result.computed').length).toBeGreaterThanOrEqual(ENTRIES);
  });

  it('delivers every race event of the run exactly once, and nothing else', () => {
    const delivered = receiver.deliveredCounts();
    const ofRun = new Set(run.map((e) => e.id));
    expect([...delivered.keys()].filter((id) => !ofRun.has(id) && !probes.includes(id))).toEqual([]);
    expect(run.map((e) => [e.id, delivered.get(e.id)])).toEqual(run.map((e) => [e.id, 1]));
  });

  it('signs every request, retries included, with the subscription\'s secret', () => {
    const ofRun = new Set(run.map((e) => e.id));
    const receipts = receiver.receipts.filter((r) => ofRun.has(r.eventId));
    expect(receipts.length).toBe(run.length + FAILING);
    expectValidSignatures(receipts, subscription!.secret);
    for (const r of receipts) expect(JSON.parse(r.raw)).toMatchObject({ id: r.eventId, version: 1, source: 'live' });
  });

  it('retries what the integrator refused at first until it is delivered, and records every attempt', async () => {
    const ofRun = new Set(run.map((e) => e.id));
    const refused = receiver.receipts.filter((r) => ofRun.has(r.eventId) && r.status === 503);
    expect(refused).toHaveLength(FAILING);
    for (const r of refused) {
      const later = receiver.receipts.filter((x) => x.eventId === r.eventId && x.attempt > r.attempt);
      expect(later.map((x) => x.status)).toContain(200);
    }
    const rows = (await db('webhook_deliveries').where({ subscription: subscription!.id }).whereIn('race_event', [...ofRun]).orderBy('attempt')) as {
      race_event: string; attempt: number; status_code: number; outcome: string;
    }[];
    expect(rows).toHaveLength(run.length + FAILING);
    for (const event of run) {
      const own = rows.filter((r) => r.race_event === event.id);
      expect(own.map((r) => r.attempt)).toEqual(own.map((_, i) => i + 1));
      expect(own.map((r) => [r.status_code, r.outcome])).toEqual([...own.slice(0, -1).map(() => [503, 'retrying']), [200, 'delivered']]);
    }
  });
});

describe('with Directus restarted while race events are flowing', () => {
  const ENTRIES = 3;
  const entryIds = demoEntries.slice(0, ENTRIES).map((e) => e.id);
  const stream = `test:telemetry:${randomUUID()}`;
  const receiver = new Receiver();
  const probes: string[] = [];
  let restartable: RestartableStack | undefined;
  let redis: Redis;
  let db: Knex;
  let processor: Processor | undefined;
  let subscription: { id: string | number; secret: string } | undefined;
  let events: { id: string; type: string }[] = [];
  let stoppedAt = 0;
  let restartedAt = 0;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    restartable = await startRestartableStack('e2e_restart');
    const { stack } = restartable;
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    const token = await adminToken(stack);
    await receiver.start();
    subscription = await createSubscription(stack, token, receiver.url);
    await createSignedWebhookFlow(stack, token, 'Test: signed webhooks across a restart', { max_attempts: 4, timeout_ms: 3000, base_delay_ms: 200, max_delay_ms: 1000 });
    await untilFlowDelivers(stack, token, receiver, probes);
    // Setup's own events (io_mapping.changed of the demo models) came before the Flow.
    const before = new Set((await db('race_events').select('id')).map((r: { id: string }) => r.id));

    // About 12 s of stream: the race runs 50 times faster than real time.
    const publishing = publishFixes(redis, stream, await stageFixes(db, ENTRIES, 12), { speed: 50 });
    processor = await startRacingProcessor(stack, stream);
    // Stop Directus as soon as race events are coming through, while the courier is at work.
    await waitFor(async () => receiver.receipts.some((r) => !probes.includes(r.eventId)), { timeoutMs: 30_000, intervalMs: 20, what: 'the first race event' });
    stoppedAt = Date.now();
    await restartable.stopDirectus();
    await sleep(1000);
    await restartable.startDirectus();
    restartedAt = Date.now();
    await publishing;

    events = await waitFor(async () => {
      await expectSettled(db, entryIds);
      const rows = ((await db('race_events').select('id', 'type')) as { id: string; type: string }[]).filter((e) => !before.has(e.id));
      expectDelivered(rows, receiver);
      return rows;
    }, { timeoutMs: 60_000, intervalMs: 300, what: 'every race event to be delivered after the restart' });
    await sleep(1500);
  }, 170_000);

  afterAll(async () => {
    await processor?.close();
    await receiver.close();
    await redis?.del(stream, `${stream}:dead-letter`);
    redis?.disconnect();
    await db?.destroy();
    // Its own database and working directory go with it; the shared Directus was never touched.
    await restartable?.destroy();
  });

  it('was restarted mid-stream: some events went out before the stop, others after the restart', () => {
    const delivered = receiver.receipts.filter((r) => r.status === 200 && !probes.includes(r.eventId));
    expect(delivered.filter((r) => r.at <= stoppedAt).length).toBeGreaterThan(0);
    expect(delivered.filter((r) => r.at >= restartedAt).length).toBeGreaterThan(0);
  });

  it('stores each fact\'s event once: one crossing event per crossing row', async () => {
    const crossings = await count(db, 'entry_crossings');
    expect(crossings).toBe(ENTRIES * 3);
    expect(events.filter((e) => e.type === 'timing.crossing.recorded')).toHaveLength(crossings);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('loses and duplicates nothing: every race_events row reached the integrator exactly once, signed', async () => {
    const delivered = receiver.deliveredCounts();
    expect(events.map((e) => [e.id, delivered.get(e.id)])).toEqual(events.map((e) => [e.id, 1]));
    const known = new Set([...events.map((e) => e.id), ...probes]);
    expect(events.filter((e) => probes.includes(e.id))).toEqual([]);
    expect([...delivered.keys()].filter((id) => !known.has(id))).toEqual([]);
    expectValidSignatures(receiver.receipts, subscription!.secret);
    const rows = await count(db, 'webhook_deliveries', (q) => q.where({ subscription: subscription!.id, outcome: 'delivered' }).whereIn('race_event', events.map((e) => e.id)));
    expect(rows).toBe(events.length);
  });
});

describe('with Directus stopped or killed while a retry chain is under way', () => {
  const receiver = new Receiver();
  const probes: string[] = [];
  let restartable: RestartableStack | undefined;
  let stack: TestStack;
  let db: Knex;
  let token = '';
  let subscription: { id: string | number; secret: string } | undefined;

  const attemptsOf = async (eventId: string) =>
    ((await db('webhook_deliveries').where({ race_event: eventId }).orderBy('attempt').select('attempt', 'status_code', 'outcome')) as {
      attempt: number; status_code: number | null; outcome: string;
    }[]).map((r) => [r.attempt, r.status_code, r.outcome]);
  const chainOf = (eventId: string) => db('pitwall_webhook_chains').where({ race_event: eventId }).first('attempts', 'lease_until');
  const restart = async () => {
    await restartable!.startDirectus();
    token = await adminToken(stack);
  };

  beforeAll(async () => {
    restartable = await startRestartableStack('e2e_chains');
    stack = restartable.stack;
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    await receiver.start();
    subscription = await createSubscription(stack, token, receiver.url);
    await createSignedWebhookFlow(stack, token, 'Test: retry chains across a stop and a crash', {
      max_attempts: 5, timeout_ms: 4000, base_delay_ms: 100, max_delay_ms: 200, deadline_ms: 5000,
    });
    await untilFlowDelivers(stack, token, receiver, probes);
  }, 120_000);

  afterAll(async () => {
    await receiver.close();
    await db?.destroy();
    await restartable?.destroy();
  });

  it('a stop lets the attempt under way be answered and recorded, and the restarted Directus sends the next one', async () => {
    receiver.answerNextAfter(1500, 503);
    const id = await storeRaceEvent(stack, token);
    await waitFor(async () => receiver.arrivals.includes(id), { timeoutMs: 15_000, intervalMs: 20, what: 'the first attempt to arrive' });
    await restartable!.stopDirectus();

    // Stopped: the answer came in before the pool closed, and the chain was handed back for the next Directus.
    expect(await attemptsOf(id)).toEqual([[1, 503, 'retrying']]);
    const left = await chainOf(id);
    expect(left?.attempts).toBe(1);
    expect(new Date(left!.lease_until).getTime()).toBeLessThanOrEqual(Date.now());

    await restart();
    await waitFor(async () => receiver.deliveredCounts().get(id) === 1, { timeoutMs: 30_000, intervalMs: 100, what: 'the resumed chain to deliver' });
    expect(receiver.receipts.filter((r) => r.eventId === id).map((r) => [r.attempt, r.status])).toEqual([[1, 503], [2, 200]]);
    await waitFor(async () => (await chainOf(id)) === undefined, { timeoutMs: 5_000, intervalMs: 100, what: 'the chain to end' });
    expect(await attemptsOf(id)).toEqual([[1, 503, 'retrying'], [2, 200, 'delivered']]);
  }, 90_000);

  it('ends the chain of a race event deleted while it was under way, rather than resending it forever', async () => {
    receiver.answerNextAfter(1000, 503);
    const id = await storeRaceEvent(stack, token);
    await waitFor(async () => receiver.arrivals.includes(id), { timeoutMs: 15_000, intervalMs: 20, what: 'the first attempt to arrive' });
    expect((await call(stack, `/items/race_events/${id}`, { token, method: 'DELETE' })).status).toBe(204);
    // Its attempts can no longer be recorded (webhook_deliveries refer to race_events): the chain goes.
    await waitFor(async () => (await chainOf(id)) === undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the chain to end' });
    // The retry already promised still goes out, once; nothing follows it.
    await waitFor(async () => receiver.deliveredCounts().get(id) === 1, { timeoutMs: 10_000, intervalMs: 50, what: 'the promised retry' });
    await sleep(500);
    expect(receiver.receipts.filter((r) => r.eventId === id).map((r) => [r.attempt, r.status])).toEqual([[1, 503], [2, 200]]);
    expect(await chainOf(id)).toBeUndefined();
    expect(await attemptsOf(id)).toEqual([]);
  }, 60_000);

  it('a crash mid-attempt loses nothing: the chain is resumed once its lease has run out', async () => {
    receiver.answerNextAfter(3000, 200);
    const id = await storeRaceEvent(stack, token);
    await waitFor(async () => receiver.arrivals.includes(id), { timeoutMs: 15_000, intervalMs: 20, what: 'the first attempt to arrive' });
    await restartable!.killDirectus();

    // Nothing was recorded for the attempt the crash cut; the chain still holds its lease.
    expect(await attemptsOf(id)).toEqual([]);
    const left = await chainOf(id);
    expect(left?.attempts).toBe(0);
    const leaseEnds = new Date(left!.lease_until).getTime();
    expect(leaseEnds).toBeGreaterThan(Date.now());

    // A Directus started within the lease leaves the chain alone (its owner might still be alive)...
    await restart();
    await sleep(1000);
    expect(receiver.arrivals.filter((e) => e === id)).toHaveLength(1);
    // ...and one started after it resumes the chain from the attempt that was never recorded.
    await restartable!.stopDirectus();
    await sleep(Math.max(0, leaseEnds - Date.now() + 500));
    await restart();
    await waitFor(async () => receiver.deliveredCounts().get(id) === 1, { timeoutMs: 30_000, intervalMs: 100, what: 'the resumed chain to deliver' });
    expect(receiver.receipts.filter((r) => r.eventId === id).map((r) => [r.attempt, r.status])).toEqual([[1, 0], [1, 200]]);
    await waitFor(async () => (await chainOf(id)) === undefined, { timeoutMs: 5_000, intervalMs: 100, what: 'the chain to end' });
    expect(await attemptsOf(id)).toEqual([[1, 200, 'delivered']]);
  }, 120_000);

  it('a chain an older version left with the URL and secret in clear is rewritten to the subscription id, and still delivered', async () => {
    await restartable!.stopDirectus();
    // Stored straight in the tables, as the older version left them: no Flow hears this event.
    const id = randomUUID();
    const event = { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } };
    await db('race_events').insert({ ...event, payload: JSON.stringify(event.payload) });
    await db('pitwall_webhook_chains').insert({
      race_event: id,
      target_key: `subscription:${subscription!.id}`,
      target: JSON.stringify({ subscription: subscription!.id, url: receiver.url, secret: subscription!.secret }),
      event: JSON.stringify(event),
      policy: JSON.stringify({ maxAttempts: 3, timeoutMs: 3000, baseDelayMs: 1500, maxDelayMs: 1500, deadlineMs: 10_000 }),
      lease_until: new Date(0),
    });
    // Its first attempt is held, then answered 503: while it is under way its row already holds no secret (the
    // retry after it comes at a random moment within the backoff, so the row is looked at during the attempt).
    receiver.answerNextAfter(2000, 503, id);
    await restart();
    await waitFor(async () => receiver.arrivals.includes(id), { timeoutMs: 30_000, intervalMs: 20, what: 'the resumed chain\'s first attempt' });
    const row = await db('pitwall_webhook_chains').where({ race_event: id }).first('target');
    expect(row?.target).toEqual({ subscription: subscription!.id });
    await waitFor(async () => receiver.deliveredCounts().get(id) === 1, { timeoutMs: 30_000, intervalMs: 100, what: 'the chain to deliver' });
    expectValidSignatures(receiver.receipts.filter((r) => r.eventId === id), subscription!.secret);
    // The receiver has the answer before Directus records it: the chain's end says the record is made.
    await waitFor(async () => (await chainOf(id)) === undefined, { timeoutMs: 5_000, intervalMs: 100, what: 'the chain to end' });
    expect(await attemptsOf(id)).toEqual([[1, 503, 'retrying'], [2, 200, 'delivered']]);
  }, 120_000);
});

describe('with Directus stopped while a Flow run is still on its way to the signed webhook', () => {
  // The run has the event but has not opened its delivery chains yet: a stop that closed the database under it
  // would lose the event for good (nothing is pending any more, and no chain exists to resume).
  // Longer than Directus takes from SIGTERM to closing its database (it first lets requests end, about a second).
  const WAIT_MS = 2500;
  const receiver = new Receiver();
  let restartable: RestartableStack | undefined;
  let db: Knex;
  let eventId = '';
  let sentBeforeStop = true;

  beforeAll(async () => {
    let token: string;
    ({ restartable, db, token } = await startFlowStack('e2e_handover', receiver, 'Test: signed webhooks after a wait', { before: WAIT_MS }));
    await sleep(WAIT_MS);

    // An admin adds an IO mapping: Pitwall publishes io_mapping.changed, and the Flow starts its wait.
    eventId = await newIoMappingEvent(restartable.stack, token, db);
    sentBeforeStop = receiver.receipts.some((r) => r.eventId === eventId);
    await restartable.stopDirectus();
    await restartable.startDirectus();
    await waitFor(async () => receiver.deliveredCounts().get(eventId) === 1, { timeoutMs: 40_000, intervalMs: 200, what: 'the event to be delivered after the restart' });
    await sleep(1500);
  }, 120_000);

  afterAll(async () => {
    await receiver.close();
    await db?.destroy();
    await restartable?.destroy();
  });

  it('delivers the event once: the stop waited for the run to open its chain', async () => {
    expect(sentBeforeStop).toBe(false);
    expect(receiver.deliveredCounts().get(eventId)).toBe(1);
    expect(await attemptOutcomes(db, eventId)).toEqual([{ attempt: 1, outcome: 'delivered' }]);
    expect(await count(db, 'pitwall_webhook_chains', (q) => q.where({ race_event: eventId }))).toBe(0);
  });
});

describe('with Directus killed while the Flow runs of a race event are under way', () => {
  // A crash leaves the events whose Flow runs had not ended claimed in pitwall_pending_events; once the claim's
  // lease has run out (30 s), the restarted Directus hands them to the Flows again. The Flow waits before and after
  // its Signed webhook step: killed before the step, the event must still be delivered; killed after it, not twice.
  const WAIT_MS = 2500;
  const receiver = new Receiver();
  let restartable: RestartableStack | undefined;
  let db: Knex;
  let token = '';
  const pending = async (id: string) => count(db, 'pitwall_pending_events', (q) => q.where({ id }));
  const attempts = (id: string) => attemptOutcomes(db, id);

  beforeAll(async () => {
    ({ restartable, db, token } = await startFlowStack('e2e_crash_handover', receiver, 'Test: signed webhooks between waits', { before: WAIT_MS, after: WAIT_MS }));
    await sleep(2 * WAIT_MS);
  }, 60_000);

  afterAll(async () => {
    await receiver.close();
    await db?.destroy();
    await restartable?.destroy();
  });

  it('killed before the Signed webhook step: the event is handed to the Flow again after the restart, and delivered once', async () => {
    const eventId = await newIoMappingEvent(restartable!.stack, token, db);
    // Claimed by its publisher until the Flow run ends.
    expect(await pending(eventId)).toBe(1);
    await restartable!.killDirectus();
    expect(receiver.receipts.filter((r) => r.eventId === eventId)).toEqual([]);
    await restartable!.startDirectus();
    token = await adminToken(restartable!.stack);
    await waitFor(async () => receiver.deliveredCounts().get(eventId) === 1 && (await pending(eventId)) === 0, { timeoutMs: 90_000, intervalMs: 250, what: 'the event delivered and settled after the restart' });
    expect(receiver.deliveredCounts().get(eventId)).toBe(1);
    expect(await attempts(eventId)).toEqual([{ attempt: 1, outcome: 'delivered' }]);
  }, 120_000);

  it('killed after the Signed webhook step: the event is handed to the Flow again, and not delivered a second time', async () => {
    const eventId = await newIoMappingEvent(restartable!.stack, token, db);
    await waitFor(async () => receiver.deliveredCounts().get(eventId) === 1, { timeoutMs: 15_000, intervalMs: 20, what: 'the first delivery' });
    // After the step, not during it: the receiver has the answer a moment before Directus records it (a kill in
    // that moment sends the attempt again once its chain's lease runs out, as a kill during the attempt does).
    await waitFor(async () => (await attempts(eventId)).length === 1, { timeoutMs: 5_000, intervalMs: 20, what: 'the delivery recorded' });
    // The run is in its last wait: not ended, so the event is still claimed.
    expect(await pending(eventId)).toBe(1);
    await restartable!.killDirectus();
    await restartable!.startDirectus();
    // Handed again once the lease has run out; the Flow run ends this time, and the event's claim goes with it.
    await waitFor(async () => (await pending(eventId)) === 0, { timeoutMs: 90_000, intervalMs: 250, what: 'the event handed to the Flow again and settled' });
    await sleep(1000);
    expect(receiver.deliveredCounts().get(eventId)).toBe(1);
    expect(receiver.receipts.filter((r) => r.eventId === eventId)).toHaveLength(1);
    expect(await attempts(eventId)).toEqual([{ attempt: 1, outcome: 'delivered' }]);
  }, 120_000);
});
