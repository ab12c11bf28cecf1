import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { catalogue, raceEventEnvelope, type RaceEventType } from '../../src/domain/events/catalogue.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type AnomalyFact, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const stage = demoId('stage:ss2');
const event = demoId('event');
const startGate = demoId('geofence:ss2:start');
const finishGate = demoId('geofence:ss2:finish');
const e4 = demoEntries[3]!;
const e5 = demoEntries[4]!;
const t0 = Date.UTC(2026, 0, 11, 10, 0, 0, 250);

const crossing = (entry: typeof e4, gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, gate, at), entryId: entry.id, stageId: stage, gateId: gate, deviceId: entry.imei, kind, crossedAt: at, speedKmh: 91.5,
});
const finished = (entry: typeof e4, elapsed: number, penaltyMs = 0): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + elapsed, elapsedMs: elapsed, penaltyMs, totalMs: elapsed + penaltyMs,
});
const penalty: PenaltyFact = {
  type: 'penalty', key: factKey.penalty(e4.id, stage, 'missed_waypoint', 'wp1'), entryId: e4.id, stageId: stage, kind: 'missed_waypoint', amountMs: 30_000, details: { waypoint: 'WP1' },
};
const anomaly: AnomalyFact = {
  type: 'anomaly', key: factKey.anomaly(e4.imei, 'speeding', String(t0)), kind: 'speeding', severity: 'critical', entryId: e4.id, stageId: stage,
  deviceId: e4.imei, startedAt: t0 + 10_000, endedAt: t0 + 20_000, details: { over_kmh: 23 },
};
const batch = (upserts: FactBatch['upserts'], source: FactBatch['source'] = 'live'): FactBatch => ({ batch: `race-events-${randomBytes(4).toString('hex')}`, source, upserts, retractions: [] });

describe('race events from POST /pitwall/facts', () => {
  let token: string;
  let server: Server;
  let flowId: string | undefined;
  const probes: string[] = [];
  /** Every delivery the Flow makes, with whether the business row it names was already committed when it arrived. */
  const received: { body: any; committed: Promise<boolean | null> }[] = [];
  const first = batch([crossing(e4, startGate, 'start', t0), crossing(e4, finishGate, 'finish', t0 + 200_000), finished(e4, 200_000, 30_000), penalty, anomaly]);
  const post = (body: unknown) => call(stack, '/pitwall/facts', { token: stack.processorToken, body });
  const eventsOf = async (entries: string[]) =>
    (await call(stack, `/items/race_events?filter[entry][_in]=${entries.join(',')}&limit=-1&sort=occurred_at`, { token })).json.data as any[];
  const deliveries = (ids: string[]) => received.filter((r) => ids.includes(r.body?.id));

  beforeAll(async () => {
    token = await adminToken(stack);
    // Other files time the same demo entries; start from none of their race events.
    await call(stack, '/items/race_events', { token, method: 'DELETE', body: { query: { filter: { entry: { _in: [e4.id, e5.id] } }, limit: -1 } } });
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const parsed = JSON.parse(body || 'null');
        const crossingId = parsed?.type === 'timing.crossing.recorded' ? parsed.payload.crossing : null;
        const committed = crossingId
          ? call(stack, `/items/entry_crossings?filter[id][_eq]=${crossingId}&fields=id`, { token }).then((r) => r.json.data.length === 1)
          : Promise.resolve(null);
        received.push({ body: parsed, committed });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const flow = await call(stack, '/flows', {
      token,
      body: { name: `Test: race events ${randomUUID().slice(0, 8)}`, icon: 'bolt', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
    });
    expect(flow.status, flow.text).toBe(200);
    flowId = flow.json.data.id;
    const op = await call(stack, '/operations', {
      token,
      body: { flow: flowId, name: 'Send', key: 'send', type: 'request', position_x: 20, position_y: 1, options: { method: 'POST', url: `http://127.0.0.1:${port}/hook`, body: '{{$trigger.payload}}' } },
    });
    expect(op.status, op.text).toBe(200);
    await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: op.json.data.id } });
    await waitFor(async () => {
      const id = randomUUID();
      probes.push(id);
      await call(stack, '/items/race_events', { token, body: { id, type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { model: randomUUID(), io_ids: [] } } });
      return received.length > 0;
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'the test Flow to be active' });
    await new Promise((r) => setTimeout(r, 500));
    received.length = 0;
  });

  afterAll(async () => {
    if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
    server?.close();
    const ids = [...probes, ...(await eventsOf([e4.id, e5.id])).map((e) => e.id)];
    if (ids.length > 0) await call(stack, '/items/race_events', { token, method: 'DELETE', body: ids });
    const rows: Record<string, string[]> = {
      entry_crossings: [crossing(e4, startGate, 'start', t0).key, crossing(e4, finishGate, 'finish', t0 + 200_000).key, crossing(e5, startGate, 'start', t0).key],
      stage_results: [factKey.stageResult(e4.id, stage), factKey.stageResult(e5.id, stage)],
      entry_penalties: [penalty.key],
      anomalies: [anomaly.key, ...['again', 'concurrent'].map((at) => factKey.anomaly(e5.imei, 'speeding', at))],
    };
    // Taken back as the pipeline takes its facts back: people may not delete a computed penalty (they waive it).
    const res = await post({ ...batch([]), retractions: Object.values(rows).flat() });
    expect(res.status, res.text).toBe(200);
  });

  it('writes one race event per created fact, with catalogue payloads, and none for penalties', async () => {
    const posted = Date.now();
    const res = await post(first);
    expect(res.status, res.text).toBe(200);
    const events = await eventsOf([e4.id]);
    expect(events.map((e) => e.type).sort()).toEqual(['anomaly.detected', 'stage.result.computed', 'timing.crossing.recorded', 'timing.crossing.recorded']);
    for (const e of events) {
      expect(() => raceEventEnvelope.parse({ ...e, occurred_at: new Date(e.occurred_at).toISOString() })).not.toThrow();
      expect(() => catalogue[e.type as RaceEventType].payload.parse(e.payload)).not.toThrow();
      expect(e).toMatchObject({ version: 1, source: 'live', event, entry: e4.id });
      // Written now, whenever what it tells happened: what an integrator reads missed events by.
      expect(Date.parse(e.created_at)).toBeGreaterThanOrEqual(posted - 2_000);
      expect(Date.parse(e.created_at)).toBeLessThanOrEqual(Date.now() + 2_000);
    }
    const result = events.find((e) => e.type === 'stage.result.computed');
    expect(result.payload).toEqual({
      entry: e4.id, race_number: e4.raceNumber, stage, status: 'finished', started_at: new Date(t0).toISOString(), finished_at: new Date(t0 + 200_000).toISOString(),
      elapsed_ms: 200_000, penalty_ms: 30_000, total_ms: 230_000, rank: 1,
    });
    expect(Date.parse(result.occurred_at)).toBe(t0 + 200_000);
    expect(result.device_id).toBeNull();
    const start = events.find((e) => e.type === 'timing.crossing.recorded' && e.payload.kind === 'start');
    expect(start.payload).toMatchObject({ crossing: factId(first.upserts[0]!.key), geofence: startGate, crossed_at: '2026-01-11T10:00:00.250Z', device_id: e4.imei, speed_kmh: 91.5 });
    expect(start.device_id).toBe(e4.imei);
    const anomalyEvent = events.find((e) => e.type === 'anomaly.detected');
    expect(anomalyEvent.payload).toMatchObject({ anomaly: factId(anomaly.key), kind: 'speeding', severity: 'critical', details: { over_kmh: 23 } });
    expect(Date.parse(anomalyEvent.occurred_at)).toBe(t0 + 10_000);
  });

  it('takes an admin’s test event of a catalogue type, refuses one of another type, and lets nobody change one', async () => {
    const item = { type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: e5.imei, payload: { kind: 'signal_loss' } };
    const bogus = await call(stack, '/items/race_events', { token, body: { ...item, type: 'bogus.type' } });
    expect(bogus.status, bogus.text).toBe(400);
    expect(bogus.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['type'], message: expect.stringMatching(/^expected one of the catalogue's types/) });
    expect((await call(stack, '/items/race_events', { token, body: { ...item, payload: [1] } })).json.errors[0].extensions.issues[0].path).toEqual(['payload']);
    // A NUL would be stored (json) but never delivered: the webhook chains keep the event as jsonb.
    const nul = await call(stack, '/items/race_events', { token, body: { ...item, payload: { note: 'nul\u0000here' } } });
    expect(nul.status, nul.text).toBe(400);
    expect(nul.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['payload'], message: expect.stringMatching(/^must not contain NUL characters/) });
    const written = await call(stack, '/items/race_events', { token, body: item });
    expect(written.status, written.text).toBe(200);
    const changed = await call(stack, `/items/race_events/${written.json.data.id}`, { token, method: 'PATCH', body: { payload: { hacked: true } } });
    expect(changed.status, changed.text).toBe(403);
    expect((await call(stack, `/items/race_events/${written.json.data.id}?fields=payload`, { token })).json.data.payload).toEqual({ kind: 'signal_loss' });
    expect((await call(stack, `/items/race_events/${written.json.data.id}`, { token, method: 'DELETE' })).status).toBe(204);
  });

  it('stores and delivers nothing new when the same batch (or a replay of it) comes again', async () => {
    const before = (await eventsOf([e4.id])).map((e) => e.id).sort();
    expect((await post(first)).status).toBe(200);
    expect((await post({ ...first, batch: 'again', source: 'replay' })).status).toBe(200);
    expect((await eventsOf([e4.id])).map((e) => e.id).sort()).toEqual(before);
  });

  it('a Flow receives each event exactly once, after its data was committed', async () => {
    const ids = (await eventsOf([e4.id])).map((e) => e.id);
    await waitFor(async () => deliveries(ids).length >= ids.length, { timeoutMs: 10_000, intervalMs: 200, what: 'deliveries' });
    await new Promise((r) => setTimeout(r, 1500));
    const got = deliveries(ids).map((r) => r.body.id).sort();
    expect(got).toEqual([...ids].sort());
    const committed = await Promise.all(deliveries(ids).map((r) => r.committed));
    expect(committed.filter((c) => c !== null)).toEqual([true, true]);
  });

  it('a changed result (new rank) is a new event; a batch that rolls back emits nothing', async () => {
    const res = await post(batch([crossing(e5, startGate, 'start', t0), finished(e5, 150_000)]));
    expect(res.status, res.text).toBe(200);
    const results = (await eventsOf([e4.id, e5.id])).filter((e) => e.type === 'stage.result.computed');
    expect(results.map((e) => [e.entry, e.payload.rank]).sort()).toEqual([[e4.id, 1], [e4.id, 2], [e5.id, 1]].sort());

    const count = (await eventsOf([e4.id, e5.id])).length;
    const deliveredBefore = received.length;
    // The anomalies are written after the crossings; the database refuses this one, so the whole batch rolls back.
    const bad: AnomalyFact = { ...anomaly, key: factKey.anomaly(e5.imei, 'late_data', 'x'), kind: 'late_data', entryId: e5.id, deviceId: e5.imei };
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    let failing: Awaited<ReturnType<typeof post>>;
    try {
      await db.raw(`ALTER TABLE anomalies ADD CONSTRAINT test_refuse_late_data CHECK (kind <> 'late_data')`);
      failing = await post(batch([{ ...crossing(e5, finishGate, 'finish', t0 + 150_000) }, bad]));
    } finally {
      await db.raw('ALTER TABLE anomalies DROP CONSTRAINT IF EXISTS test_refuse_late_data');
      await db.destroy();
    }
    expect(failing.status).not.toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await eventsOf([e4.id, e5.id])).length).toBe(count);
    expect(received.slice(deliveredBefore).filter((r) => r.body?.type === 'timing.crossing.recorded')).toEqual([]);
    const rows = await call(stack, `/items/entry_crossings?filter[id][_eq]=${factId(factKey.crossing(e5.id, finishGate, t0 + 150_000))}&fields=id`, { token });
    expect(rows.json.data).toEqual([]);
  });

  it('a result that goes back and forth is a new event each time (A -> B -> A -> B)', async () => {
    const resultEvents = async () => (await eventsOf([e4.id])).filter((e) => e.type === 'stage.result.computed');
    const earlier = new Set((await resultEvents()).map((e) => e.id));
    const before = earlier.size;
    // A (as the first batch stored it) -> B (a penalty corrected) -> A -> B again: three changes, three new events,
    // though the last one is the same change from the same state as the first.
    expect((await post(batch([finished(e4, 200_000, 45_000)]))).status).toBe(200);
    expect((await post(batch([finished(e4, 200_000, 30_000)]))).status).toBe(200);
    expect((await post(batch([finished(e4, 200_000, 45_000)]))).status).toBe(200);
    const events = await resultEvents();
    expect(events).toHaveLength(before + 3);
    // The new ones, by id: they share the finish time they occurred at, so their order by it is arbitrary.
    expect(events.filter((e) => !earlier.has(e.id)).map((e) => e.payload.penalty_ms).sort()).toEqual([30_000, 45_000, 45_000]);
    // Delivered again, the last batch changes nothing and emits nothing.
    expect((await post(batch([finished(e4, 200_000, 45_000)]))).status).toBe(200);
    expect(await resultEvents()).toHaveLength(before + 3);
    expect((await post(batch([finished(e4, 200_000, 30_000)]))).status).toBe(200);
    expect(await resultEvents()).toHaveLength(before + 4);
  });

  it('a fact retracted and found again is announced again', async () => {
    const again: AnomalyFact = { ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', 'again'), entryId: e5.id, deviceId: e5.imei, startedAt: t0 + 30_000, endedAt: t0 + 35_000 };
    const announced = async () => (await eventsOf([e5.id])).filter((e) => e.payload.anomaly === factId(again.key));
    expect((await post(batch([again]))).status).toBe(200);
    expect(await announced()).toHaveLength(1);
    expect((await post({ ...batch([]), retractions: [again.key] })).status).toBe(200);
    expect((await post(batch([again]))).status).toBe(200);
    const events = await announced();
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
  });

  it('one change delivered three times at the same moment is written once and announced once', async () => {
    const spotted: AnomalyFact = { ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', 'concurrent'), entryId: e5.id, deviceId: e5.imei, startedAt: t0 + 40_000, endedAt: t0 + 41_000 };
    const announced = async () => (await eventsOf([e5.id])).filter((e) => e.payload.anomaly === factId(spotted.key));
    const together = async (fact: AnomalyFact) => {
      const answers = await Promise.all([post(batch([fact])), post(batch([fact])), post(batch([fact]))]);
      for (const res of answers) expect(res.status, res.text).toBe(200);
      return answers.map((res) => res.json.data.created + res.json.data.updated).sort();
    };
    // A new fact: one of them creates it; the others wait for it and then find nothing to do.
    expect(await together(spotted)).toEqual([0, 0, 1]);
    expect(await announced()).toHaveLength(1);
    // A change of it: one update, one event.
    expect(await together({ ...spotted, endedAt: t0 + 47_000 })).toEqual([0, 0, 1]);
    const events = await announced();
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
  });

  it('an event that cannot be created at first stays pending and is published, once, with the next batch', async () => {
    // Postgres refuses to store the race event of one anomaly until the test lifts the ban: the batch's events
    // fail together, are retried one by one, and the refused one is left in pitwall_pending_events.
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    const spot = (n: number): AnomalyFact => ({ ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', `refused-${n}`), entryId: e5.id, deviceId: e5.imei, startedAt: t0 + n * 60_000, endedAt: t0 + n * 60_000 + 5000 });
    const [ok, refused, later] = [spot(1), spot(2), spot(3)];
    const eventOf = async (fact: AnomalyFact) => (await eventsOf([e5.id])).filter((e) => e.payload.anomaly === factId(fact.key));
    try {
      await db.raw('CREATE TABLE test_refused_anomalies (anomaly uuid PRIMARY KEY)');
      await db.raw(`CREATE FUNCTION test_refuse_race_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF EXISTS (SELECT 1 FROM test_refused_anomalies WHERE anomaly::text = NEW.payload->>'anomaly') THEN RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW; END $$`);
      await db.raw('CREATE TRIGGER test_refuse_race_event BEFORE INSERT ON race_events FOR EACH ROW EXECUTE FUNCTION test_refuse_race_event()');
      await db('test_refused_anomalies').insert({ anomaly: factId(refused.key) });

      expect((await post(batch([ok, refused]))).status).toBe(200);
      expect(await eventOf(ok)).toHaveLength(1);
      expect(await eventOf(refused)).toHaveLength(0);
      expect(await db('pitwall_pending_events').whereRaw(`item::jsonb->'payload'->>'anomaly' = ?`, [factId(refused.key)]).count('* as n')).toEqual([{ n: '1' }]);

      await db('test_refused_anomalies').delete();
      expect((await post(batch([later]))).status).toBe(200);
      // Well before the hook's minute sweep; waiting at all only covers that sweep holding the row at this moment.
      const ids = await waitFor(async () => {
        const all = [...(await eventOf(ok)), ...(await eventOf(refused)), ...(await eventOf(later))].map((e) => e.id);
        return all.length === 3 ? all : undefined;
      }, { timeoutMs: 10_000, intervalMs: 200, what: 'the refused event to be published with the next batch' });
      // Their pending rows go once the Flow runs they were handed to have ended.
      await waitFor(async () => Number((await db('pitwall_pending_events').whereIn('id', ids).count('* as n'))[0]!.n) === 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the pending rows to go' });
      await waitFor(async () => deliveries(ids).length >= 3, { timeoutMs: 10_000, intervalMs: 200, what: 'the Flow to hear all three' });
      await new Promise((r) => setTimeout(r, 1000));
      expect(deliveries(ids).map((r) => r.body.id).sort()).toEqual([...ids].sort());
    } finally {
      await db.raw('DROP TRIGGER IF EXISTS test_refuse_race_event ON race_events');
      await db.raw('DROP FUNCTION IF EXISTS test_refuse_race_event()');
      await db.raw('DROP TABLE IF EXISTS test_refused_anomalies');
      await call(stack, '/items/anomalies', { token, method: 'DELETE', body: [ok, refused, later].map((f) => factId(f.key)) });
      await db.destroy();
    }
  });

  it('a batch whose commit fails leaves no race event: none stored, none pending, none heard', async () => {
    // The events are created in the facts' own transaction, their actions held back until it commits: a commit that
    // fails (here a deferred check, run at COMMIT, after the events were created) must take them back unheard.
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    const doomed: AnomalyFact = { ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', 'commit-refused'), entryId: e5.id, deviceId: e5.imei, startedAt: t0 + 120_000, endedAt: t0 + 125_000 };
    const fine: AnomalyFact = { ...doomed, key: factKey.anomaly(e5.imei, 'speeding', 'commit-accepted'), startedAt: t0 + 130_000, endedAt: t0 + 135_000 };
    const eventsOfFact = (fact: AnomalyFact) => db('race_events').whereRaw(`payload->>'anomaly' = ?`, [factId(fact.key)]).select('id');
    try {
      await db.raw(`CREATE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.id = '${factId(doomed.key)}' THEN RAISE EXCEPTION 'refused at commit by the test'; END IF;
        RETURN NEW; END $$`);
      await db.raw(`CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON anomalies DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()`);
      const refused = await post(batch([doomed]));
      expect(refused.status, refused.text).toBe(500);
      expect((await post(batch([fine]))).status).toBe(200);
      const [kept] = await waitFor(async () => {
        const rows = await eventsOfFact(fine);
        return rows.length === 1 ? rows : undefined;
      }, { timeoutMs: 10_000, intervalMs: 100, what: 'the event of the batch that committed' });
      await waitFor(async () => deliveries([kept.id]).length === 1, { timeoutMs: 10_000, intervalMs: 100, what: 'the Flow to hear it' });
      expect(await eventsOfFact(doomed)).toEqual([]);
      expect(await db('anomalies').where('id', factId(doomed.key)).select('id')).toEqual([]);
      expect(await db('pitwall_pending_events').whereRaw(`item::jsonb->'payload'->>'anomaly' = ?`, [factId(doomed.key)]).count('* as n')).toEqual([{ n: '0' }]);
      expect(received.filter((r) => r.body?.payload?.anomaly === factId(doomed.key))).toEqual([]);
    } finally {
      await db.raw('DROP TRIGGER IF EXISTS test_refuse_commit ON anomalies');
      await db.raw('DROP FUNCTION IF EXISTS test_refuse_commit()');
      await call(stack, '/items/anomalies', { token, method: 'DELETE', body: [factId(fine.key)] });
      await db.destroy();
    }
  });

  it('an event left pending while its entry was deleted is still published, without the link', async () => {
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    const entry = randomUUID();
    const gone: AnomalyFact = { ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', 'entry-deleted'), entryId: entry, deviceId: e5.imei, startedAt: t0 + 90_000, endedAt: t0 + 95_000 };
    const published = () => db('race_events').whereRaw(`payload->>'anomaly' = ?`, [factId(gone.key)]).select('id', 'entry', 'event', 'payload');
    try {
      const created = await call(stack, '/items/entries', { token, body: { id: entry, event: demoId('event'), race_number: 990, name: 'Withdrawn crew' } });
      expect(created.status, created.text).toBe(200);
      await db.raw(`CREATE FUNCTION test_refuse_race_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.payload->>'anomaly' = '${factId(gone.key)}' AND EXISTS (SELECT 1 FROM entries WHERE id = '${entry}') THEN RAISE EXCEPTION 'refused by the test'; END IF;
        RETURN NEW; END $$`);
      await db.raw('CREATE TRIGGER test_refuse_race_event BEFORE INSERT ON race_events FOR EACH ROW EXECUTE FUNCTION test_refuse_race_event()');
      expect((await post(batch([gone]))).status).toBe(200);
      expect(await published()).toEqual([]);
      // The organiser withdraws the crew (its anomaly goes with it) before the event could be published.
      expect((await call(stack, `/items/entries/${entry}`, { token, method: 'DELETE' })).status).toBe(204);
      expect((await post(batch([{ ...anomaly, key: factKey.anomaly(e5.imei, 'speeding', 'after-delete'), entryId: e5.id, deviceId: e5.imei }]))).status).toBe(200);
      const [event] = await waitFor(async () => {
        const rows = await published();
        return rows.length === 1 ? rows : undefined;
      }, { timeoutMs: 10_000, intervalMs: 200, what: 'the event of the deleted entry to be published' });
      expect(event).toMatchObject({ entry: null, event: demoId('event') });
      expect(event.payload.entry).toBe(entry);
      await waitFor(async () => Number((await db('pitwall_pending_events').where('id', event.id).count('* as n'))[0]!.n) === 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the pending row to go' });
    } finally {
      await db.raw('DROP TRIGGER IF EXISTS test_refuse_race_event ON race_events');
      await db.raw('DROP FUNCTION IF EXISTS test_refuse_race_event()');
      await call(stack, `/items/entries/${entry}`, { token, method: 'DELETE' });
      await call(stack, '/items/anomalies', { token, method: 'DELETE', body: [factId(factKey.anomaly(e5.imei, 'speeding', 'after-delete'))] });
      await db.destroy();
    }
  });
});
