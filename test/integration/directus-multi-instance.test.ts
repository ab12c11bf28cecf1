import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factKey, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startDirectusPair, type DirectusInstance, type DirectusPair } from '../support/directus-pair.ts';
import { REDIS_URL, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

/**
 * Two Directus instances in Directus's multi-instance mode (one database, one Redis), as an organiser runs them
 * behind one address: the load balancer may hand any request to either. Each race event must reach the integrator
 * once, whichever instance stored it, published it or resumed its chain, and a chain cut by one instance's crash is
 * finished by the other.
 */

const stage = demoId('stage:ss1');
const startGate = demoId('geofence:ss1:start');
const finishGate = demoId('geofence:ss1:finish');
const [e1, e2] = [demoEntries[0]!, demoEntries[1]!];
const t0 = Date.UTC(2026, 0, 11, 10, 0, 0, 250);

const crossing = (entry: typeof e1, gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, gate, at), entryId: entry.id, stageId: stage, gateId: gate, deviceId: entry.imei, kind, crossedAt: at, speedKmh: 88,
});
const finished = (entry: typeof e1, elapsed: number): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + elapsed, elapsedMs: elapsed, penaltyMs: 0, totalMs: elapsed,
});

/** What an admin builds in Settings → Flows, through one instance: Event Hook on race_events → Signed webhook. */
async function createSignedWebhookFlow(stack: TestStack, token: string, options: Record<string, unknown>): Promise<string> {
  const flow = await call(stack, '/flows', {
    token,
    body: { name: 'Test: signed webhooks on two instances', icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
  });
  expect(flow.status, flow.text).toBe(200);
  const id = flow.json.data.id as string;
  const op = await call(stack, '/operations', {
    token,
    body: { flow: id, name: 'Signed webhook', key: 'signed_webhook', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, options: { mode: 'subscriptions', event: '{{$trigger.payload}}', ...options } },
  });
  expect(op.status, op.text).toBe(200);
  expect((await call(stack, `/flows/${id}`, { token, method: 'PATCH', body: { operation: op.json.data.id } })).status).toBe(200);
  return id;
}

/** A race event stored through one instance, as any writer through Directus stores it. Returns its id. */
async function storeRaceEvent(stack: TestStack, token: string): Promise<string> {
  const id = randomUUID();
  const res = await call(stack, '/items/race_events', {
    token,
    body: { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } },
  });
  expect(res.status, res.text).toBe(200);
  return id;
}

describe('two Directus instances on one database and Redis', () => {
  const receiver = new WebhookReceiver();
  const probes: string[] = [];
  let pair: DirectusPair | undefined;
  let a: DirectusInstance;
  let b: DirectusInstance;
  let db: Knex;
  let token = '';
  let subscription: string | number;
  /** Race events that were there before the Flow was (setup's own). */
  let before = new Set<string>();

  const delivered = (ids: string[]) => {
    const counts = receiver.deliveredCounts();
    return ids.map((id) => [id, counts.get(id) ?? 0]);
  };
  const recordedDelivered = async (ids: string[]) =>
    ((await db('webhook_deliveries').where({ subscription: String(subscription), outcome: 'delivered' }).whereIn('race_event', ids).select('race_event')) as {
      race_event: string;
    }[]).map((r) => r.race_event);
  // The receiver counts a request before it answers, and Directus records the attempt after the answer: delivered
  // means both, or a check that follows could run between the two.
  const untilDelivered = (ids: string[], what: string, timeoutMs = 30_000) =>
    waitFor(async () => delivered(ids).every(([, n]) => n === 1) && (await recordedDelivered(ids)).length >= ids.length, { timeoutMs, intervalMs: 100, what });
  const attemptsOf = async (eventId: string) =>
    ((await db('webhook_deliveries').where({ race_event: eventId }).orderBy('attempt').select('attempt', 'status_code', 'outcome')) as {
      attempt: number; status_code: number | null; outcome: string;
    }[]).map((r) => [r.attempt, r.status_code, r.outcome]);

  beforeAll(async () => {
    pair = await startDirectusPair('multi_instance');
    ({ a, b } = pair);
    db = knexFactory({ client: 'pg', connection: a.stack.databaseUrl, pool: { min: 0, max: 2 } });
    before = new Set((await db('race_events').select('id')).map((r: { id: string }) => r.id));
    token = await adminToken(a.stack);
    await receiver.start();
    const created = await call(a.stack, '/items/webhook_subscriptions', {
      token, body: { name: 'Test: two instances', url: receiver.url, secret: randomBytes(24).toString('hex'), active: true, event_types: null },
    });
    expect(created.status, created.text).toBe(200);
    subscription = created.json.data.id;
    // Short windows, so a chain whose owner died is resumed within seconds (lease = window + 15 s).
    await createSignedWebhookFlow(a.stack, token, { max_attempts: 5, timeout_ms: 4000, base_delay_ms: 100, max_delay_ms: 200, deadline_ms: 5000 });
    // Saved through A, the Flow reaches B through the shared bus: wait until each instance's Flow delivers.
    for (const instance of [a, b]) {
      await waitFor(async () => {
        probes.push(await storeRaceEvent(instance.stack, token));
        await sleep(250);
        return receiver.receipts.some((r) => probes.includes(r.eventId));
      }, { timeoutMs: 30_000, intervalMs: 100, what: `the Flow to deliver through ${instance.stack.directusUrl}` });
      receiver.receipts.length = 0;
    }
    await sleep(500);
  }, 180_000);

  afterAll(async () => {
    await receiver.close();
    await db?.destroy();
    await pair?.destroy();
  });

  it('delivers each race event once, whichever instance stored it', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await storeRaceEvent((i % 2 === 0 ? a : b).stack, token));
    await untilDelivered(ids, 'events stored through both instances');
    await sleep(1000);
    expect(delivered(ids)).toEqual(ids.map((id) => [id, 1]));
    for (const id of ids) expect(await attemptsOf(id)).toEqual([[1, 200, 'delivered']]);
  });

  it('stores and delivers a fact batch\'s events once when the batch reaches both instances at once', async () => {
    // An outbox retry the load balancer sends to the other instance while the first is still at it.
    const batch: FactBatch = {
      batch: `two-instances-${randomUUID().slice(0, 8)}`, source: 'live', retractions: [],
      upserts: [
        crossing(e1, startGate, 'start', t0), crossing(e1, finishGate, 'finish', t0 + 200_000), finished(e1, 200_000),
        crossing(e2, startGate, 'start', t0), crossing(e2, finishGate, 'finish', t0 + 210_000), finished(e2, 210_000),
      ],
    };
    const answers = await Promise.all([a, b].map((instance) => call(instance.stack, '/pitwall/facts', { token: instance.stack.processorToken, body: batch })));
    for (const res of answers) expect(res.status, res.text).toBe(200);
    expect(answers.reduce((n, res) => n + res.json.data.created, 0)).toBe(6);

    const events = (await db('race_events').whereIn('entry', [e1.id, e2.id]).select('id', 'type')) as { id: string; type: string }[];
    expect(events.map((e) => e.type).sort()).toEqual([...Array(2).fill('stage.result.computed'), ...Array(4).fill('timing.crossing.recorded')]);
    await untilDelivered(events.map((e) => e.id), 'the batch\'s events');
    await sleep(1000);
    expect(delivered(events.map((e) => e.id))).toEqual(events.map((e) => [e.id, 1]));
  });

  it('publishes race events a crash left pending once, from whichever instance sweeps', async () => {
    // As a Directus that died between a commit and its publication leaves them: more than one publishing chunk.
    const leftovers = Array.from({ length: 250 }, () => ({
      id: randomUUID(), type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system',
      event: null, entry: null, device_id: null, payload: { model: randomUUID(), io_ids: [] },
    }));
    await db('pitwall_pending_events').insert(leftovers.map((item) => ({ id: item.id, item: JSON.stringify(item) })));
    const ids = leftovers.map((e) => e.id);
    // The sweep runs every 15 s, on one instance per tick.
    await untilDelivered(ids, 'the leftover events', 45_000);
    await sleep(1000);
    expect(delivered(ids)).toEqual(ids.map((id) => [id, 1]));
    expect(Number((await db('race_events').whereIn('id', ids).count<{ count: string }[]>('* as count'))[0]!.count)).toBe(ids.length);
    expect(await db('pitwall_pending_events').whereIn('id', ids).select('id')).toEqual([]);

    // Directus keeps the bundle's sweep on its synchronized clock in the shared Redis: one instance per tick.
    const redis = new Redis(REDIS_URL);
    try {
      const clocks = await redis.keys(`${pair!.redisPrefix}:sync:clock:*`);
      expect(clocks.filter((key) => key.endsWith(':*/15 * * * * *'))).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('a chain cut by killing instance A is finished by instance B, each attempt sent and recorded once', async () => {
    const id = randomUUID();
    // The first attempt is refused; the second is still unanswered when A dies.
    receiver.script(id, [503, 'hold']);
    const res = await call(a.stack, '/items/race_events', {
      token, body: { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } },
    });
    expect(res.status, res.text).toBe(200);
    await waitFor(async () => receiver.arrivals.some((r) => r.eventId === id && r.attempt === 2), { timeoutMs: 15_000, intervalMs: 10, what: 'the second attempt' });
    await a.kill();

    // A recorded its first attempt; its chain row waits with A's lease, which B must not take early.
    expect(await attemptsOf(id)).toEqual([[1, 503, 'retrying']]);
    const chain = await db('pitwall_webhook_chains').where({ race_event: id }).first('attempts', 'lease_until', db.raw('lease_until > now() as leased'));
    expect(chain).toMatchObject({ attempts: 1, leased: true });
    const leaseEnds = new Date(chain.lease_until).getTime();

    await waitFor(async () => receiver.deliveredCounts().get(id) === 1, { timeoutMs: 60_000, intervalMs: 100, what: 'instance B to finish the chain' });
    await waitFor(async () => (await db('pitwall_webhook_chains').where({ race_event: id }).first('race_event')) === undefined, { timeoutMs: 5_000, intervalMs: 100, what: 'the chain to end' });
    // B resumed from the attempt A never recorded, after A's lease ran out, and nothing followed.
    await sleep(1000);
    expect(receiver.requestsFor(id)).toEqual([[1, 503], [2, 0], [2, 200]]);
    expect(receiver.receipts.find((r) => r.eventId === id && r.status === 200)!.at).toBeGreaterThanOrEqual(leaseEnds);
    expect(await attemptsOf(id)).toEqual([[1, 503, 'retrying'], [2, 200, 'delivered']]);

    // B goes on serving alone.
    const after = await storeRaceEvent(b.stack, token);
    await untilDelivered([after], 'an event stored through B alone');
  }, 90_000);

  it('delivered every race event of the run exactly once, and nothing else', async () => {
    const events = ((await db('race_events').select('id')) as { id: string }[]).map((r) => r.id).filter((id) => !before.has(id) && !probes.includes(id));
    const counts = receiver.deliveredCounts();
    expect(events.filter((id) => counts.get(id) !== 1)).toEqual([]);
    const known = new Set([...events, ...probes]);
    expect([...counts.keys()].filter((id) => !known.has(id))).toEqual([]);
    const rows = await recordedDelivered(events);
    expect(events.filter((id) => !rows.includes(id))).toEqual([]);
    expect(rows).toHaveLength(events.length);
  });
});
