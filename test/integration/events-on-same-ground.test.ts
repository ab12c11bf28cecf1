import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { v5 as uuidv5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId, demoImei, demoRaceItems } from '../../src/demo/demo-race.ts';
import type { Position } from '../../src/domain/position.ts';
import { runReplay, type ReplayContext, type ReplaySummary } from '../../src/jobs/replay/run-replay.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const NS = '5b0e3f5c-8a61-4f0e-9a55-6c0f4b1d2e7a';
const id = (name: string) => uuidv5(name, NS);
const HOUR = 3_600_000;

/**
 * Two events run at the same time on the same ground: a rally (A) and its sister event (B), each with SS1 laid on
 * the demo's road with identical lines. B's car #201 carries two trackers; its primary falls silent before the finish.
 */
const events = ['a', 'b'] as const;
const cars = [
  { event: 'a', number: 101, trackers: [{ imei: demoImei(201), role: 'primary' }] },
  { event: 'a', number: 102, trackers: [{ imei: demoImei(202), role: 'primary' }] },
  { event: 'a', number: 103, trackers: [{ imei: demoImei(203), role: 'primary' }] },
  { event: 'b', number: 201, trackers: [{ imei: demoImei(204), role: 'primary' }, { imei: demoImei(205), role: 'backup' }] },
  { event: 'b', number: 202, trackers: [{ imei: demoImei(206), role: 'primary' }] },
  { event: 'b', number: 203, trackers: [{ imei: demoImei(207), role: 'primary' }] },
] as const;
const entryId = (car: (typeof cars)[number]) => id(`entry:${car.event}:${car.number}`);
const stageOf = (event: string) => id(`stage:${event}`);
const eventOf = (event: string) => id(`event:${event}`);
const imeis: string[] = cars.flatMap((c) => c.trackers.map((t) => t.imei));
const [primary201, backup201] = [cars[3].trackers[0].imei, cars[3].trackers[1].imei];

function raceItems(now: number) {
  const demo = demoRaceItems(new Date(now));
  const ss1 = demoId('stage:ss1');
  const iso = (ms: number) => new Date(ms).toISOString();
  const items: Record<string, Record<string, unknown>[]> = { events: [], stages: [], geofences: [], waypoints: [], penalty_formulas: [], devices: [], entries: [], entry_devices: [] };
  for (const event of events) {
    items.events!.push({ id: eventOf(event), name: `Same ground ${event.toUpperCase()}`, slug: `same-ground-${event}-${randomUUID().slice(0, 8)}`, starts_at: iso(now - 2 * 24 * HOUR), ends_at: iso(now + 2 * 24 * HOUR), status: 'running' });
    items.stages!.push({ id: stageOf(event), event: eventOf(event), name: `SS1 (${event.toUpperCase()})`, sort_order: 1, opens_at: iso(now - 2 * HOUR), closes_at: iso(now + 4 * HOUR) });
    for (const g of demo['geofences']!.filter((g) => g['stage'] === ss1)) items.geofences!.push({ ...g, id: id(`geofence:${event}:${g['id']}`), event: eventOf(event), stage: stageOf(event) });
    for (const w of demo['waypoints']!.filter((w) => w['stage'] === ss1)) items.waypoints!.push({ ...w, id: id(`waypoint:${event}:${w['id']}`), stage: stageOf(event) });
    items.penalty_formulas!.push({ ...demo['penalty_formulas']![0]!, id: id(`formula:${event}`), event: eventOf(event) });
  }
  for (const car of cars) {
    items.entries!.push({ id: entryId(car), event: eventOf(car.event), race_number: car.number, name: `Crew ${car.number}` });
    for (const tracker of car.trackers) {
      items.devices!.push({ id: id(`device:${tracker.imei}`), imei: tracker.imei, name: `FMB920 ${tracker.imei.slice(-4)}`, model: demoId('model:FMB920') });
      items.entry_devices!.push({ id: id(`entry-device:${tracker.imei}`), entry: entryId(car), device: id(`device:${tracker.imei}`), role: tracker.role });
    }
  }
  return items;
}

/**
 * Records without a GPS fix, as a Teltonika tracker sends them while it has no sky: #103's with its last valid
 * coordinates around its finish, #102's at 0,0 after a power cut. Both still report (satellites 0, speed 0).
 */
const lostSky = [
  { number: 103, from: 0.955, to: 0.985, at: 'last-valid' },
  { number: 102, from: 0.5, to: 0.53, at: 'zero' },
] as const;
const lostSkyOf = (number: number) => lostSky.find((l) => l.number === number);

/**
 * The demo simulator's tracks of SS1, one per car; #201's backup rides the same car 2 m off and 400 ms later; #102
 * and #103 lose the sky for a while (lostSky).
 */
function raceFixes(start: number): Position[] {
  const runs = simulateRace({ start, entries: cars.length, stages: ['ss1'], seed: 5 });
  const demoImeis = [...new Set(runs.map((f) => f.deviceId))].sort();
  const fixes: Position[] = [];
  cars.forEach((car, i) => {
    const own = runs.filter((f) => f.deviceId === demoImeis[i]);
    const last = own.at(-1)!.ts;
    const first = own[0]!.ts;
    const lost = lostSkyOf(car.number);
    for (const tracker of car.trackers) {
      const backup = tracker.role === 'backup';
      let lastValid = own[0]!;
      for (const fix of own) {
        // The primary of #201 goes silent for good after 80% of its run (the finish is at 97%).
        if (tracker.imei === primary201 && fix.ts > first + 0.8 * (last - first)) continue;
        const progress = (fix.ts - first) / (last - first);
        if (lost && progress >= lost.from && progress < lost.to) {
          const [latitude, longitude] = lost.at === 'zero' ? [0, 0] : [lastValid.latitude, lastValid.longitude];
          fixes.push({ ...fix, deviceId: tracker.imei, latitude, longitude, satellites: 0, speed: 0, angle: 0 });
          continue;
        }
        lastValid = fix;
        fixes.push({ ...fix, deviceId: tracker.imei, ts: fix.ts + (backup ? 400 : 0), latitude: fix.latitude + (backup ? 0.00002 : 0) });
      }
    }
  });
  return fixes.sort((a, b) => a.ts - b.ts);
}

describe('two events on the same ground, and a car with two trackers', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let token: string;
  let processor: Processor | null = null;
  let start: number;

  const rows = (table: string, where: Record<string, unknown>) => db(table).where(where).select('*');
  const replay = (event: string, mode: 'preview' | 'apply'): Promise<ReplaySummary> => {
    const context: ReplayContext = {
      db,
      log: pino({ level: 'silent' }),
      signal: new AbortController().signal,
      checkpoint: null,
      progress: async () => {},
      deliver: async (batch) => {
        const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `replay-${randomUUID()}`, source: 'replay', ...batch } });
        if (res.status !== 200) throw new Error(`POST /pitwall/facts answered ${res.status}: ${res.text}`);
      },
    };
    return runReplay({ event: eventOf(event), stage: stageOf(event), from: new Date(start - HOUR).toISOString(), to: new Date(start + 2 * HOUR).toISOString(), mode }, context);
  };

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 4 } });
    token = await adminToken(stack);
    const now = Date.now();
    for (const [collection, list] of Object.entries(raceItems(now))) {
      const res = await call(stack, `/items/${collection}`, { token, body: list });
      if (res.status !== 200) throw new Error(`creating ${collection}: ${res.status} ${res.text}`);
    }
    // An hour ago: in the past, so no clock skew guard applies, and the stages are still open.
    start = now - HOUR;
    await publishFixes(redis, stream, raceFixes(start), { speed: 0 });
    processor = await startRacingProcessor(stack, stream, { PROCESSOR_SETUP_REFRESH_MS: '500' });
    await waitFor(
      async () => {
        const finished = await db('stage_results').whereIn('stage', events.map(stageOf)).where({ status: 'finished' }).whereNotNull('rank').count<{ count: string }[]>('* as count');
        const [outbox] = await db('pitwall_outbox').count<{ count: string }[]>('* as count');
        return Number(finished[0]!.count) === cars.length && Number(outbox!.count) === 0;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: 'every car finished and ranked on its own stage' },
    );
    // The silence of #201's primary after its last fix is concluded live a minute after the processor last heard from
    // it (its fixes all came at once, an hour late); a replay knows it from the fixes' times alone.
    await waitFor(async () => (await db('anomalies').where({ device_id: primary201, kind: 'signal_loss' })).length > 0, {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: "the live signal loss of #201's primary",
    });
  }, 300_000);

  afterAll(async () => {
    await processor?.close();
    await redis.del(stream, `${stream}:dead-letter`);
    redis.disconnect();
    await db('positions').whereIn('device_id', imeis).delete();
    await db('decoded_attributes').whereIn('device_id', imeis).delete();
    for (const table of ['entry_crossings', 'entry_penalties', 'stage_results']) await db(table).whereIn('stage', events.map(stageOf)).delete();
    await db('anomalies').whereIn('device_id', imeis).delete();
    await db('events').whereIn('id', events.map(eventOf)).delete();
    await db('devices').whereIn('imei', imeis).delete();
    await db.destroy();
  });

  it('times each car only on the stage of its own event, ranked among its own event only', async () => {
    for (const event of events) {
      const own = cars.filter((c) => c.event === event).map(entryId).sort();
      const results = await rows('stage_results', { stage: stageOf(event) });
      expect(results.map((r) => r.entry).sort()).toEqual(own);
      expect(results.map((r) => r.rank).sort()).toEqual([1, 2, 3]);
      const crossings = await rows('entry_crossings', { stage: stageOf(event) });
      expect([...new Set(crossings.map((c) => c.entry))].sort()).toEqual(own);
      expect(crossings).toHaveLength(own.length * 3);
      const penalties = await rows('entry_penalties', { stage: stageOf(event) });
      expect(penalties.every((p) => own.includes(p.entry))).toBe(true);
    }
    const anomalies = await db('anomalies').whereIn('device_id', imeis).whereNotNull('stage').select('entry', 'stage');
    for (const a of anomalies) expect(cars.find((c) => entryId(c) === a.entry)!.event).toBe(a.stage === stageOf('a') ? 'a' : 'b');
  });

  it('times across records without a GPS fix as across silence: stored, not raced, no jump reported', async () => {
    for (const lost of lostSky) {
      const car = cars.find((c) => c.number === lost.number)!;
      const imei = car.trackers[0].imei;
      const stored = await db('positions').where({ device_id: imei, satellites: 0 }).select('latitude', 'longitude');
      expect(stored.length).toBeGreaterThan(5);
      if (lost.at === 'zero') expect(stored.every((p) => p.latitude === 0 && p.longitude === 0)).toBe(true);
      expect((await rows('entry_crossings', { entry: entryId(car) })).map((c) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
      const anomalies = await db('anomalies').where({ device_id: imei }).pluck('kind');
      expect(anomalies).not.toContain('position_jump');
    }
  });

  it('times the car with two trackers once: start and split from its primary, the finish from its backup', async () => {
    const entry = entryId(cars[3]);
    const crossings = (await rows('entry_crossings', { entry })).sort((a, b) => a.crossed_at - b.crossed_at);
    expect(crossings.map((c) => [c.kind, c.device_id])).toEqual([['start', primary201], ['split', primary201], ['finish', backup201]]);
    const [result, ...more] = await rows('stage_results', { entry });
    expect(more).toEqual([]);
    expect(result).toMatchObject({ stage: stageOf('b'), status: 'finished' });
    expect(Number(result.elapsed_ms)).toBe(crossings[2].crossed_at.getTime() - crossings[0].crossed_at.getTime());
    expect(Number(result.total_ms)).toBe(Number(result.elapsed_ms) + Number(result.penalty_ms));
    // Each stage_result.computed event of the entry names this one result; no second result ever existed.
    const events = await db('race_events').where({ entry, type: 'stage.result.computed' }).select('payload');
    expect(new Set(events.map((e) => e.payload.stage))).toEqual(new Set([stageOf('b')]));
  });

  it('times a racing tracker on the sister event\'s stage once it is given an entry there, from the fixes it already sent', async () => {
    // #101's tracker has run A's stage; the organisers then enter the same car in B as #211.
    const car = cars[0];
    const sister = { entry: id('entry:b:211'), link: id('entry-device:b:211') };
    const ownBefore = await rows('stage_results', { entry: entryId(car) });
    expect((await call(stack, '/items/entries', { token, body: { id: sister.entry, event: eventOf('b'), race_number: 211, name: 'Crew 101 in B' } })).status).toBe(200);
    try {
      expect((await call(stack, '/items/entry_devices', { token, body: { id: sister.link, entry: sister.entry, device: id(`device:${car.trackers[0].imei}`) } })).status).toBe(200);
      // Before, the tracker switched to its new assignments and timed #211 from its next fix on: none came, no result.
      const result = await waitFor(async () => (await rows('stage_results', { entry: sister.entry, status: 'finished' }))[0], { timeoutMs: 30_000, what: '#211 timed on B\'s stage' });
      expect(result.stage).toBe(stageOf('b'));
      const own = ownBefore[0]!;
      expect([result.started_at, result.finished_at]).toEqual([own.started_at, own.finished_at]);
      expect((await rows('entry_crossings', { entry: sister.entry })).map((c) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
      // The car's timing in A is as it was.
      expect(await rows('stage_results', { entry: entryId(car) })).toEqual(ownBefore);
    } finally {
      await call(stack, `/items/entries/${sister.entry}`, { token, method: 'DELETE' });
      for (const table of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies']) await db(table).where({ entry: sister.entry }).delete();
    }
  });

  it('times a car whose entry was created after all its fixes arrived, without waiting for another fix', async () => {
    const late = { imei: demoImei(208), entry: id('entry:a:104'), device: id('device:late') };
    const runs = simulateRace({ start, entries: cars.length + 1, stages: ['ss1'], seed: 5 });
    const source = [...new Set(runs.map((f) => f.deviceId))].sort()[cars.length]!;
    const fixes = runs.filter((f) => f.deviceId === source).map((f) => ({ ...f, deviceId: late.imei }));
    await publishFixes(redis, stream, fixes, { speed: 0 });
    await waitFor(async () => Number((await db('positions').where({ device_id: late.imei }).count<{ count: string }[]>('* as count'))[0]!.count) === fixes.length, {
      timeoutMs: 30_000,
      what: 'the unassigned tracker stored',
    });
    imeis.push(late.imei);
    for (const [collection, body] of [
      ['devices', { id: late.device, imei: late.imei, name: 'FMB920 late', model: demoId('model:FMB920') }],
      ['entries', { id: late.entry, event: eventOf('a'), race_number: 104, name: 'Late entry' }],
      ['entry_devices', { entry: late.entry, device: late.device }],
    ] as const) expect((await call(stack, `/items/${collection}`, { token, body })).status).toBe(200);
    const result = await waitFor(async () => (await rows('stage_results', { entry: late.entry, status: 'finished' }))[0], { timeoutMs: 30_000, what: 'the late entry timed' });
    expect(result.stage).toBe(stageOf('a'));
    expect(await rows('entry_crossings', { entry: late.entry })).toHaveLength(3);
    // Back to three cars on A for the tests below.
    for (const table of ['entry_crossings', 'entry_penalties', 'stage_results']) await db(table).where({ entry: late.entry }).delete();
    await call(stack, `/items/entries/${late.entry}`, { token, method: 'DELETE' });
    await processor!.close();
    processor = null;
  });

  it('replays each event to exactly what live timing stored (preview), a penalty given by hand included', async () => {
    // The officials give #102 ten seconds by hand: its stored result counts them, and so does the replay's.
    const entry = entryId(cars[1]);
    const manual = await call(stack, '/items/entry_penalties', { token, body: { entry, stage: stageOf('a'), kind: 'manual', amount_ms: 10_000, details: {} } });
    expect(manual.status, manual.text).toBe(200);
    try {
      await waitFor(async () => Number((await rows('stage_results', { entry }))[0]?.penalty_ms) >= 10_000, { timeoutMs: 10_000, what: 'the hand penalty in the result' });
      // Live, the silence of #201's primary is concluded a minute after it was last heard from (its fixes all came at
      // once, an hour late); the replay knows it from the fixes' times alone.
      for (const event of events) {
        const summary = await replay(event, 'preview');
        expect(summary.diff.counts).toMatchObject({ added: 0, removed: 0, changed: 0 });
        expect(summary.facts.results).toBe(3);
      }
    } finally {
      await call(stack, `/items/entry_penalties/${manual.json.data.id}`, { token, method: 'DELETE' });
    }
    await waitFor(async () => Number((await rows('stage_results', { entry }))[0]?.penalty_ms) < 10_000, { timeoutMs: 10_000, what: 'the lifted penalty gone from the result' });
  });

  it('repairs a stage polluted by the sister event with a replay in apply mode', async () => {
    // What the processor stored before each event was timed on its own course: B's car timed on A's gates too.
    const intruder = entryId(cars[4]);
    const [own] = await rows('entry_crossings', { entry: intruder, kind: 'start' });
    const startGate = id(`geofence:a:${demoId('geofence:ss1:start')}`);
    const at = own.crossed_at.getTime();
    const polluted = {
      batch: `polluted-${randomUUID()}`,
      source: 'live',
      upserts: [
        { type: 'crossing', key: `crossing:${intruder}:${startGate}:${at}`, entryId: intruder, stageId: stageOf('a'), gateId: startGate, deviceId: cars[4].trackers[0].imei, kind: 'start', crossedAt: at, speedKmh: 80 },
        { type: 'stage_result', key: `result:${intruder}:${stageOf('a')}`, entryId: intruder, stageId: stageOf('a'), status: 'finished', startedAt: at, finishedAt: at + 60_000, elapsedMs: 60_000, penaltyMs: 0, totalMs: 60_000 },
      ],
      retractions: [],
    };
    expect((await call(stack, '/pitwall/facts', { token: stack.processorToken, body: polluted })).status).toBe(200);
    expect((await rows('stage_results', { stage: stageOf('a'), entry: intruder }))[0]).toMatchObject({ rank: 1 });

    const preview = await replay('a', 'preview');
    expect(preview.diff.counts).toMatchObject({ added: 0, removed: 2, changed: 3 });
    await replay('a', 'apply');
    const results = await rows('stage_results', { stage: stageOf('a') });
    expect(results.map((r) => r.entry).sort()).toEqual(cars.filter((c) => c.event === 'a').map(entryId).sort());
    expect(results.map((r) => r.rank).sort()).toEqual([1, 2, 3]);
    expect(await rows('entry_crossings', { stage: stageOf('a'), entry: intruder })).toEqual([]);
    // The sister event's own timing is untouched.
    expect(await rows('stage_results', { stage: stageOf('b'), entry: intruder })).toHaveLength(1);
    expect((await replay('a', 'preview')).diff.counts).toMatchObject({ added: 0, removed: 0, changed: 0 });
  });

  it('restarted after the primary of #201 went silent, still times its start and split from that primary', async () => {
    const entry = entryId(cars[3]);
    const crossings = async () => (await rows('entry_crossings', { entry })).map((c) => [c.kind, c.device_id, c.crossed_at.getTime()]).sort((a, b) => a[2] - b[2]);
    const timed = await crossings();
    expect(timed.map(([kind, device]) => [kind, device])).toEqual([['start', primary201], ['split', primary201], ['finish', backup201]]);

    // #201 timed again from a stream of its own, by a processor restarted after its primary's last fix: the first
    // batch after the restart holds only backup fixes, and the primary must be rebuilt from what is stored of it.
    const trackers = [primary201, backup201];
    await db('positions').whereIn('device_id', trackers).delete();
    await db('decoded_attributes').whereIn('device_id', trackers).delete();
    for (const table of ['entry_crossings', 'entry_penalties', 'stage_results']) await db(table).where({ entry }).delete();
    const fixes = raceFixes(start).filter((f) => trackers.includes(f.deviceId));
    const silentAt = Math.max(...fixes.filter((f) => f.deviceId === primary201).map((f) => f.ts));
    const own = `test:telemetry:${randomUUID()}`;
    const timedUpTo = async (kinds: number) => (await rows('entry_crossings', { entry })).length === kinds && Number((await db('pitwall_outbox').count<{ count: string }[]>('* as count'))[0]!.count) === 0;
    try {
      await publishFixes(redis, own, fixes.filter((f) => f.ts <= silentAt), { speed: 0 });
      processor = await startRacingProcessor(stack, own);
      await waitFor(() => timedUpTo(2), { timeoutMs: 60_000, what: 'start and split of #201 before the restart' });
      await processor.close();
      await publishFixes(redis, own, fixes.filter((f) => f.ts > silentAt), { speed: 0 });
      processor = await startRacingProcessor(stack, own);
      await waitFor(() => timedUpTo(3), { timeoutMs: 60_000, what: 'the finish of #201 after the restart' });
      expect(await crossings()).toEqual(timed);
    } finally {
      await processor?.close();
      processor = null;
      await redis.del(own, `${own}:dead-letter`);
    }
  });
});
