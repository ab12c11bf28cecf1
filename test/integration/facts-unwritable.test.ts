import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactChanges } from '../../src/domain/pipeline/device-pipeline.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type AnomalyFact, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { DeliveryError, factsFailure, factsValidationReason, PayloadTooLargeError } from '../../src/directus/directus-api.ts';
import { OutboxCourier } from '../../src/processor/outbox-courier.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const stage = demoId('stage:ss1');
const startGate = demoId('geofence:ss1:start');
// Entries no other test times, so their rows are this file's alone.
const [e14, e15] = [demoEntries[13]!, demoEntries[14]!];
const t0 = Date.UTC(2026, 1, 20, 10, 15, 0, 250);

const crossing = (entry: string, gate: string, deviceId: string, at = t0): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry, gate, at), entryId: entry, stageId: stage, gateId: gate, deviceId, kind: 'start', crossedAt: at, speedKmh: 91.5,
});
const result = (entry: string, totalMs: number): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry, stage), entryId: entry, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
});
const anomaly = (entry: string, deviceId: string, ref: string): AnomalyFact => ({
  type: 'anomaly', key: factKey.anomaly(deviceId, 'position_jump', ref), kind: 'position_jump', severity: 'warning',
  entryId: entry, stageId: stage, deviceId, startedAt: t0, endedAt: t0, details: { implied_kmh: 700 },
});

/**
 * Facts the database would refuse on every retry (issue 12, "No entry can stop timing" and "The outbox never
 * silently gives up"): about an entry or geofence deleted while they waited, in the place of a timekeeper's row, or
 * with a value no column holds. Through the real endpoint and the real courier.
 */
describe('facts the database would refuse whatever the retry', () => {
  let db: Knex;
  let token: string;
  const touched = new Set<string>();
  const cleanups: (() => Promise<unknown>)[] = [];
  const couriers: OutboxCourier[] = [];

  const post = (upserts: FactBatch['upserts'], extra: Partial<FactBatch> = {}) => {
    for (const fact of upserts) touched.add(fact.key);
    return call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `unwritable-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions: [], ...extra } });
  };
  const stored = async (collection: string, key: string) => (await db(collection).where({ id: factId(key) }).select('*'))[0];
  /** A crew entered for the race and deleted again by an admin, as Directus deletes it (its rows cascade). */
  const temporaryEntry = async () => {
    const created = await call(stack, '/items/entries', { token, body: { event, race_number: 900 + Math.floor(Math.random() * 9000), name: 'Late entry' } });
    expect(created.status, created.text).toBe(200);
    const id: string = created.json.data.id;
    cleanups.push(() => db('entries').where({ id }).delete());
    return { id, imei: `99${randomBytes(6).readUIntBE(0, 6)}`.slice(0, 15), remove: () => call(stack, `/items/entries/${id}`, { token, method: 'DELETE' }) };
  };
  const crossingEvents = (key: string) => db('race_events').whereRaw(`payload->>'crossing' = ?`, [factId(key)]).select('id');

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 4 } });
    token = await adminToken(stack);
    await db('pitwall_outbox').delete();
  });

  afterEach(async () => {
    await Promise.all(couriers.splice(0).map((c) => c.close()));
    await db('pitwall_outbox').delete();
    const ids = [...touched].map(factId);
    touched.clear();
    for (const collection of ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies']) await db(collection).whereIn('id', ids).delete();
    await db('race_events').whereIn('entry', [e14.id, e15.id]).delete();
    await db('pitwall_fact_versions').whereIn('fact_id', ids).delete();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await db.destroy();
  });

  it('answers 200 for a batch whose crossing names a deleted entry: that fact is counted as orphaned, the others are written', async () => {
    const gone = await temporaryEntry();
    expect((await gone.remove()).status).toBe(204);
    const orphan = crossing(gone.id, startGate, gone.imei);
    // What Directus answers for such a row: an answer the courier rightly retries, and would retry forever.
    const refused = await call(stack, '/items/entry_crossings', { token, body: { entry: gone.id, stage, geofence: startGate, device_id: gone.imei, kind: 'start', crossed_at: new Date(t0).toISOString(), source: 'live' } });
    expect([refused.status, refused.json.errors[0].extensions.code]).toEqual([400, 'INVALID_FOREIGN_KEY']);
    expect(factsFailure(refused.status, refused.text)).toBeInstanceOf(DeliveryError);
    const others = [crossing(e14.id, startGate, e14.imei), anomaly(e14.id, e14.imei, 'a1')];

    const res = await post([orphan, ...others]);
    expect(res.status, res.text).toBe(200);
    expect(res.json.data).toMatchObject({ created: 2, orphaned: 1, conflicting: 0 });
    expect(await stored('entry_crossings', orphan.key)).toBeUndefined();
    expect(await stored('entry_crossings', others[0]!.key)).toMatchObject({ entry: e14.id, speed_kmh: 91.5 });
    expect(await stored('anomalies', others[1]!.key)).toMatchObject({ entry: e14.id, kind: 'position_jump' });
    // Announced: what was written, and nothing about the fact left out.
    await waitFor(async () => (await crossingEvents(others[0]!.key)).length === 1, { what: 'the crossing event' });
    expect(await crossingEvents(orphan.key)).toEqual([]);

    // A geofence or a stage that is gone makes a fact as orphaned; retracting what does not exist stays unchanged.
    const throughGoneGate = crossing(e14.id, randomUUID(), e14.imei, t0 + 1);
    const inGoneStage: StageResultFact = { ...result(e15.id, 300_000), stageId: randomUUID(), key: factKey.stageResult(e15.id, 'gone') };
    const again = await post([throughGoneGate, inGoneStage], { retractions: [factKey.crossing(e15.id, startGate, t0)] });
    expect(again.status, again.text).toBe(200);
    expect(again.json.data).toMatchObject({ created: 0, orphaned: 2, unchanged: 1 });
  });

  it('a processor whose outbox holds a batch about a deleted entry delivers it and every batch behind it', async () => {
    const gone = await temporaryEntry();
    const rows: FactChanges[] = [
      { upserts: [crossing(gone.id, startGate, gone.imei), result(gone.id, 310_000), anomaly(e14.id, e14.imei, 'b1')], retractions: [] },
      { upserts: [crossing(e15.id, startGate, e15.imei)], retractions: [] },
      { upserts: [result(e15.id, 305_000)], retractions: [] },
    ];
    for (const changes of rows) {
      for (const fact of changes.upserts) touched.add(fact.key);
      await db('pitwall_outbox').insert({ source: 'live', payload: JSON.stringify(changes) });
    }
    // Deleted by an admin while the batches wait (Directus down, or a busy courier).
    expect((await gone.remove()).status).toBe(204);

    const courier = new OutboxCourier(db, { directusUrl: stack.directusUrl, token: stack.processorToken, idleMs: 100, maxBackoffMs: 1000 }, pino({ level: 'silent' }));
    couriers.push(courier);
    void courier.run();
    await waitFor(async () => (await db('pitwall_outbox').count<{ count: string }[]>('* as count'))[0]!.count === '0', { timeoutMs: 20_000, what: 'the outbox to drain' });
    expect(courier.failed).toBe(0);
    expect(await stored('entry_crossings', rows[0]!.upserts[0]!.key)).toBeUndefined();
    expect(await stored('stage_results', rows[0]!.upserts[1]!.key)).toBeUndefined();
    expect(await stored('anomalies', rows[0]!.upserts[2]!.key)).toMatchObject({ entry: e14.id });
    expect(await stored('entry_crossings', rows[1]!.upserts[0]!.key)).toMatchObject({ entry: e15.id });
    expect(await stored('stage_results', rows[2]!.upserts[0]!.key)).toMatchObject({ entry: e15.id, total_ms: 305_000 });
  });

  it("sends a request over Directus's MAX_PAYLOAD_SIZE again in halves: Directus answers it 400, not 413", async () => {
    // Twelve anomalies with 100 KB of details each: 1.2 MB in one request, over Directus's default limit of 1 MB.
    const big = Array.from({ length: 12 }, (_, i) => ({ ...anomaly(e14.id, e14.imei, `big-${i}`), details: { note: 'x'.repeat(100_000) } }));
    for (const fact of big) touched.add(fact.key);
    const direct = await post(big);
    expect([direct.status, direct.json.errors[0].extensions.reason]).toEqual([400, 'request entity too large']);
    expect(factsFailure(direct.status, direct.text)).toBeInstanceOf(PayloadTooLargeError);

    await db('pitwall_outbox').insert({ source: 'live', payload: JSON.stringify({ upserts: big, retractions: [] }) });
    const courier = new OutboxCourier(db, { directusUrl: stack.directusUrl, token: stack.processorToken, idleMs: 100, maxBackoffMs: 1000 }, pino({ level: 'silent' }));
    couriers.push(courier);
    void courier.run();
    await waitFor(async () => (await db('pitwall_outbox').count<{ count: string }[]>('* as count'))[0]!.count === '0', { timeoutMs: 20_000, what: 'the outbox to drain' });
    expect(courier.failed).toBe(0);
    for (const fact of big) expect(await stored('anomalies', fact.key)).toMatchObject({ entry: e14.id });
  });

  it('keeps a result a timekeeper entered by hand, counting the machine\'s result for the same entry and stage as conflicting', async () => {
    const manual = await call(stack, '/items/stage_results', { token, body: { entry: e15.id, stage, status: 'dnf', penalty_ms: 0 } });
    expect(manual.status, manual.text).toBe(200);
    cleanups.push(() => db('stage_results').where({ id: manual.json.data.id }).delete());
    const machine = result(e15.id, 299_000);
    const twice = await call(stack, '/items/stage_results', { token, body: { id: factId(machine.key), entry: e15.id, stage, status: 'finished' } });
    expect([twice.status, twice.json.errors[0].extensions.code]).toEqual([400, 'RECORD_NOT_UNIQUE']);

    const res = await post([machine, crossing(e15.id, startGate, e15.imei)]);
    expect(res.status, res.text).toBe(200);
    expect(res.json.data).toMatchObject({ created: 1, conflicting: 1, orphaned: 0 });
    expect(await stored('stage_results', machine.key)).toBeUndefined();
    expect(await db('stage_results').where({ id: manual.json.data.id }).first('status', 'total_ms')).toEqual({ status: 'dnf', total_ms: null });
  });

  it('refuses a value no column holds with the route\'s validation answer, which the courier parks, writing nothing', async () => {
    const tooLong = { ...result(e14.id, 300_000), elapsedMs: 3_000_000_000, totalMs: 3_000_000_000 };
    const nul = { ...anomaly(e14.id, e14.imei, 'nul'), details: { note: 'a\u0000b' } };
    const res = await post([crossing(e14.id, startGate, e14.imei), tooLong, nul]);
    expect(res.status, res.text).toBe(400);
    expect(res.json.errors[0].extensions.issues.map((i: { path: (string | number)[] }) => i.path.join('.'))).toEqual([
      'upserts.1.elapsedMs', 'upserts.1.totalMs', 'upserts.2.details.note',
    ]);
    expect(factsValidationReason(res.status, res.text)).toMatch(/upserts\.1\.elapsedMs/);
    expect(await stored('entry_crossings', crossing(e14.id, startGate, e14.imei).key)).toBeUndefined();
  });
});
