import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { deliveryOrder, simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const ENTRIES = 13;
const stageId = demoId('stage:ss1');
const raceNumber = new Map(demoEntries.map((e) => [e.id, e.raceNumber]));

describe('the processor timing a stage from simulator tracks', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let processor: Processor;
  let token: string;
  let fixes: ReturnType<typeof simulateRace>;
  const items = async (path: string) => (await call(stack, path, { token })).json.data;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    const [stage] = await items(`/items/stages?filter[id][_eq]=${stageId}&fields=opens_at`);
    fixes = simulateRace({ start: Date.parse(stage.opens_at) + 3_600_000, entries: ENTRIES, stages: ['ss1'], seed: 3 });
    await publishFixes(redis, stream, deliveryOrder(fixes, { duplicates: 0.02, outOfOrder: 0.02 }), { speed: 0 });
    processor = await startRacingProcessor(stack, stream);
    await waitFor(
      async () => {
        const results = await items(`/items/stage_results?filter[stage][_eq]=${stageId}&filter[status][_eq]=finished&filter[rank][_nnull]=true&fields=id&limit=-1`);
        return results.length === ENTRIES;
      },
      { timeoutMs: 90_000, intervalMs: 1000, what: `${ENTRIES} ranked finishers` },
    );
  }, 150_000);

  afterAll(async () => {
    await processor?.close();
    await redis.del(stream, `${stream}:dead-letter`);
    redis.disconnect();
    const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    for (const collection of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies', 'race_events', 'pitwall_pending_events']) await db(collection).delete();
    await db.destroy();
  });

  it('stores every fix once, with decoded attributes', async () => {
    const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);
    const [{ count }] = (await db('positions').whereIn('device_id', devices).count('* as count')) as { count: string }[] as [{ count: string }];
    expect(Number(count)).toBe(fixes.length);
    const sample = fixes[500]!;
    const decoded = await db('decoded_attributes').where({ device_id: sample.deviceId, ts: new Date(sample.ts) }).first();
    expect(decoded.mapping_version).toMatch(/^r\d{12}-[0-9a-f]{16}$/);
    expect(decoded.attributes.ignition).toBe(true);
    expect(decoded.attributes.total_odometer).toBe(Number((sample.attributes['16'] as { __bigint: string }).__bigint));
    const rawTemperature = sample.attributes['72'] as number;
    expect(decoded.attributes.dallas_temperature_1).toBe([850, 3000].includes(rawTemperature) ? null : (rawTemperature > 2 ** 31 ? rawTemperature - 2 ** 32 : rawTemperature) / 10);
  });

  it('records start, split and finish once per entry, interpolated between fixes', async () => {
    const crossings = await items(`/items/entry_crossings?filter[stage][_eq]=${stageId}&fields=entry,kind,crossed_at,source,device_id&limit=-1`);
    expect(crossings).toHaveLength(ENTRIES * 3);
    for (const entry of demoEntries.slice(0, ENTRIES)) {
      const own = crossings.filter((c: { entry: string }) => c.entry === entry.id);
      expect(own.map((c: { kind: string }) => c.kind).sort()).toEqual(['finish', 'split', 'start']);
      for (const crossing of own) {
        expect(crossing).toMatchObject({ source: 'live', device_id: entry.imei });
        const at = Date.parse(crossing.crossed_at);
        const fixTimes = fixes.filter((f) => f.deviceId === entry.imei).map((f) => f.ts);
        expect(fixTimes).not.toContain(at); // interpolated, not a fix's own time
        const before = fixTimes.filter((t) => t < at).at(-1)!;
        expect(at - before).toBeLessThan(1000);
      }
    }
  });

  it('ranks the finishers by total time, penalties included', async () => {
    const results = await items(`/items/stage_results?filter[stage][_eq]=${stageId}&fields=entry,status,elapsed_ms,penalty_ms,total_ms,rank&limit=-1`);
    const byRank = [...results].sort((a, b) => a.rank - b.rank);
    expect(byRank.map((r) => r.rank)).toEqual(Array.from({ length: ENTRIES }, (_, i) => i + 1));
    for (let i = 1; i < byRank.length; i++) expect(Number(byRank[i].total_ms)).toBeGreaterThanOrEqual(Number(byRank[i - 1].total_ms));
    for (const r of results) expect(Number(r.total_ms)).toBe(Number(r.elapsed_ms) + Number(r.penalty_ms));
  });

  it('penalises #113 for missing WP2 and #104 and #111 for speeding through the village, and says why', async () => {
    const penalties = (await items(`/items/entry_penalties?filter[stage][_eq]=${stageId}&fields=entry,kind,amount_ms&limit=-1`)).map(
      (p: { amount_ms: string }) => ({ ...p, amount_ms: Number(p.amount_ms) }),
    );
    const of = (number: number) => penalties.filter((p: { entry: string }) => raceNumber.get(p.entry) === number);
    expect(of(113)).toContainEqual({ entry: demoId('entry:113'), kind: 'missed_waypoint', amount_ms: 300_000 });
    for (const speeder of [104, 111]) expect(of(speeder).map((p: { kind: string }) => p.kind)).toContain('speeding');
    const others = penalties.filter((p: { entry: string }) => ![104, 111, 113].includes(raceNumber.get(p.entry)!));
    expect(others).toEqual([]);
    const anomalies = await items(`/items/anomalies?fields=kind,entry,severity&limit=-1`);
    expect(anomalies).toContainEqual({ kind: 'missed_waypoint', entry: demoId('entry:113'), severity: 'warning' });
    expect(anomalies.filter((a: { kind: string }) => a.kind === 'speeding').map((a: { entry: string }) => raceNumber.get(a.entry)).sort()).toEqual([104, 111]);
    expect(anomalies.filter((a: { kind: string }) => a.kind === 'position_jump')).toEqual([]);
  });
});
