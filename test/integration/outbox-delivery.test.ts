import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactChanges } from '../../src/domain/pipeline/device-pipeline.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type AnomalyFact, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { OutboxCourier } from '../../src/processor/outbox-courier.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { HttpStubProxy } from '../support/http-stub-proxy.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const stage = demoId('stage:ss1');
const startGate = demoId('geofence:ss1:start');
// Entries no other test times, so their rows and fact versions are this file's alone.
const [e16, e17, e18] = [demoEntries[15]!, demoEntries[16]!, demoEntries[17]!];
const t0 = Date.UTC(2026, 1, 14, 9, 30, 0, 410);

const crossing = (entry: typeof e16, speedKmh: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, startGate, t0), entryId: entry.id, stageId: stage, gateId: startGate,
  deviceId: entry.imei, kind: 'start', crossedAt: t0, speedKmh,
});
const result = (entry: typeof e16, status: StageResultFact['status'], totalMs: number | null): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status,
  startedAt: t0, finishedAt: totalMs === null ? null : t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
});
const anomaly = (entry: typeof e16, ref: string): AnomalyFact => ({
  type: 'anomaly', key: factKey.anomaly(entry.imei, 'position_jump', ref), kind: 'position_jump', severity: 'warning',
  entryId: entry.id, stageId: stage, deviceId: entry.imei, startedAt: t0, endedAt: t0, details: { implied_kmh: 900 },
});
/** A fact the facts route refuses as invalid (its entry is not a uuid). */
const invalid = { ...anomaly(e18, 'invalid'), entryId: 'not-a-uuid' } as unknown as AnomalyFact;

/** The body Directus answers for a route that does not exist yet (the bundle not loaded during a deploy). */
const routeNotFound = JSON.stringify({ errors: [{ message: "Route /pitwall/facts doesn't exist.", extensions: { path: '/pitwall/facts', code: 'ROUTE_NOT_FOUND' } }] });

describe('the outbox courier', () => {
  let db: Knex;
  let token: string;
  const couriers: OutboxCourier[] = [];
  const proxies: HttpStubProxy[] = [];
  const touched = new Set<string>();

  const enqueue = async (changes: FactChanges): Promise<number> => {
    for (const fact of changes.upserts) touched.add(fact.key);
    for (const key of changes.retractions) touched.add(key);
    const [row] = await db('pitwall_outbox').insert({ source: 'live', payload: JSON.stringify(changes) }).returning('id');
    return Number(row.id);
  };
  const startCourier = (directusUrl: string) => {
    const courier = new OutboxCourier(db, { directusUrl, token: stack.processorToken, idleMs: 100, maxBackoffMs: 1000 }, pino({ level: 'silent' }));
    couriers.push(courier);
    void courier.run();
    return courier;
  };
  const outbox = () => db('pitwall_outbox').select('id', 'attempts', 'last_error', 'failed_at').orderBy('id');
  const rows = async (collection: string, key: string, fields: string) =>
    (await call(stack, `/items/${collection}?filter[id][_eq]=${factId(key)}&fields=${fields}`, { token })).json.data as Record<string, unknown>[];
  const raceEvents = async (type: string, entry: typeof e16) =>
    (await call(stack, `/items/race_events?filter[type][_eq]=${type}&filter[entry][_eq]=${entry.id}&fields=payload&sort=occurred_at&limit=-1`, { token })).json.data.map(
      (e: { payload: Record<string, unknown> }) => e.payload,
    ) as Record<string, unknown>[];
  const post = (body: FactBatch) => {
    for (const fact of body.upserts) touched.add(fact.key);
    for (const key of body.retractions) touched.add(key);
    return call(stack, '/pitwall/facts', { token: stack.processorToken, body });
  };
  const batch = (changes: Partial<FactBatch>): FactBatch => ({ batch: `ordering-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [], retractions: [], ...changes });

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 4 } });
    token = await adminToken(stack);
    await db('pitwall_outbox').delete();
  });

  afterEach(async () => {
    await Promise.all(couriers.splice(0).map((c) => c.close()));
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
    await db('pitwall_outbox').delete();
    const ids = [...touched].map(factId);
    touched.clear();
    for (const collection of ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies']) await db(collection).whereIn('id', ids).delete();
    await db('race_events').whereIn('entry', [e16.id, e17.id, e18.id]).delete();
    // Their ordering numbers too: another file's outbox may number the same facts lower.
    await db('pitwall_fact_versions').whereIn('fact_id', ids).delete();
  });

  afterAll(async () => {
    await db.destroy();
  });

  it('does not lose a fact to the 404s of a Directus being deployed: retried, not parked, delivered once the bundle answers', async () => {
    const proxy = new HttpStubProxy(stack.directusUrl);
    proxies.push(proxy);
    let deploying = true;
    proxy.decide = (req) => (deploying && req.path.startsWith('/pitwall/') ? { status: 404, body: routeNotFound } : null);
    await proxy.start();
    const fact = crossing(e16, 88.5);
    const id = await enqueue({ upserts: [fact], retractions: [] });
    startCourier(proxy.url);

    // Retried while Directus answers 404: the attempts and the last answer are recorded, the row stays in line.
    const [waiting] = await waitFor(async () => {
      const now = await outbox();
      return now[0] && now[0].attempts >= 2 ? now : undefined;
    }, { timeoutMs: 15_000, what: 'two failed attempts' });
    expect(waiting).toMatchObject({ id: String(id), failed_at: null });
    expect(waiting!.last_error).toContain('HTTP 404');
    expect(await rows('entry_crossings', fact.key, 'id')).toEqual([]);

    deploying = false;
    await waitFor(async () => (await outbox()).length === 0, { timeoutMs: 15_000, what: 'the row to be delivered' });
    expect(await rows('entry_crossings', fact.key, 'speed_kmh')).toEqual([{ speed_kmh: 88.5 }]);
    expect(proxy.seen.filter((r) => r.path === '/pitwall/facts').map((r) => r.status)).toEqual([...proxy.seen.filter((r) => r.stubbed).map(() => 404), 200]);
    expect(await db('pitwall_outbox').whereNotNull('failed_at').count<{ count: string }[]>('* as count')).toEqual([{ count: '0' }]);
  });

  it('paced while a backlog drains, sends the batches nudged meanwhile in one request; once the pace is 0, a nudge sends at once', async () => {
    const proxy = new HttpStubProxy(stack.directusUrl);
    proxies.push(proxy);
    await proxy.start();
    let pace = 5000;
    // No idle polling to speak of: only nudges and the pace decide when it sends.
    const courier = new OutboxCourier(db, { directusUrl: proxy.url, token: stack.processorToken, idleMs: 60_000, pace: () => pace }, pino({ level: 'silent' }));
    couriers.push(courier);
    void courier.run();
    const requests = () => proxy.seen.filter((r) => r.path === '/pitwall/facts');

    await enqueue({ upserts: [crossing(e16, 81)], retractions: [] });
    courier.nudge();
    await waitFor(async () => requests().length === 1 && (await outbox()).length === 0, { what: 'the first batch sent at its nudge' });
    // Three more batches during the pace, each with its nudge: none goes before the pace is over.
    for (const entry of [e16, e17, e18]) {
      await enqueue({ upserts: [crossing(entry, 84)], retractions: [] });
      courier.nudge();
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(requests()).toHaveLength(1);
    expect(await outbox()).toHaveLength(3);

    // Caught up: the pace is back at 0, and the next nudge ends the wait (4 s of it were left).
    pace = 0;
    const caughtUp = performance.now();
    courier.nudge();
    await waitFor(async () => (await outbox()).length === 0, { timeoutMs: 3000, what: 'the batches sent at the nudge' });
    expect(performance.now() - caughtUp).toBeLessThan(3000);
    expect(requests()).toHaveLength(2);
    expect(requests().map((r) => (JSON.parse(r.body) as FactBatch).upserts.length)).toEqual([1, 3]);
    for (const entry of [e16, e17, e18]) expect(await rows('entry_crossings', crossing(entry, 84).key, 'speed_kmh')).toEqual([{ speed_kmh: 84 }]);
  });

  it('resends a group Directus refused row by row without bringing back a value a newer row already replaced', async () => {
    // The crossing exists; row A changes it, row B (newer) retracts it and carries a fact the route refuses.
    const stored = crossing(e17, 80);
    expect((await post(batch({ upserts: [stored] }))).status).toBe(200);
    const a = await enqueue({ upserts: [crossing(e17, 100)], retractions: [] });
    const b = await enqueue({ upserts: [anomaly(e17, 'z'), invalid], retractions: [stored.key] });
    expect(b).toBe(a + 1);
    startCourier(stack.directusUrl);

    // Merged, A and B go as two requests: the retraction (applied), then the upserts (refused). Sent again row by
    // row, A alone would re-create the crossing with its older value; its lower number makes the endpoint skip it.
    await waitFor(async () => {
      const now = await outbox();
      return now.length === 1 && now[0].failed_at !== null ? now : undefined;
    }, { timeoutMs: 20_000, what: 'A delivered and B parked' });
    const [parked] = await outbox();
    expect(parked).toMatchObject({ id: String(b) });
    expect(parked!.last_error).toMatch(/^invalid fact batch: upserts\.1\.entryId/);
    expect(await rows('entry_crossings', stored.key, 'id')).toEqual([]);
    // One announcement: its creation at 80 km/h; nothing announced the older value coming back.
    expect((await raceEvents('timing.crossing.recorded', e17)).map((p) => [p['crossing'], p['speed_kmh']])).toEqual([[factId(stored.key), 80]]);
  });

  it('the endpoint keeps the newer value when an older numbered change of a fact arrives after it, and announces only the newer', async () => {
    const finished = result(e16, 'finished', 300_000);
    const first = await post(batch({ sequence: 20, upserts: [finished] }));
    expect(first.status, first.text).toBe(200);
    expect(first.json.data).toMatchObject({ created: 1, superseded: 0 });

    const older = await post(batch({ sequence: 10, upserts: [result(e16, 'running', null)] }));
    expect(older.json.data).toEqual({ created: 0, updated: 0, deleted: 0, unchanged: 0, ranked: 0, superseded: 1, orphaned: 0, conflicting: 0, official: 0 });
    const olderRetraction = await post(batch({ sequence: 19, retractions: [finished.key] }));
    expect(olderRetraction.json.data).toMatchObject({ deleted: 0, superseded: 1 });
    expect(await rows('stage_results', finished.key, 'status,total_ms')).toEqual([{ status: 'finished', total_ms: expect.anything() }]);
    expect((await raceEvents('stage.result.computed', e16)).map((p) => p['status'])).toEqual(['finished']);

    // The same number again (a chunk of the same row) and a newer one apply.
    expect((await post(batch({ sequence: 20, upserts: [result(e16, 'finished', 301_000)] }))).json.data).toMatchObject({ updated: 1, superseded: 0 });
    expect((await post(batch({ sequence: 21, upserts: [result(e16, 'dnf', null)] }))).json.data).toMatchObject({ updated: 1, superseded: 0 });
    expect((await raceEvents('stage.result.computed', e16)).map((p) => p['status']).sort()).toEqual(['dnf', 'finished', 'finished']);
    // A batch without a number (replay) is applied as it comes and leaves the number as it was.
    expect((await post(batch({ source: 'replay', upserts: [result(e16, 'finished', 300_000)] }))).json.data).toMatchObject({ updated: 1, superseded: 0 });
    expect((await post(batch({ sequence: 15, upserts: [result(e16, 'running', null)] }))).json.data).toMatchObject({ superseded: 1 });
  });
});
