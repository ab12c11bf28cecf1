import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProcessorConfig, PROCESSOR_GROUP } from '../../src/processor/config.ts';
import { Processor } from '../../src/processor/processor.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { groupInfo } from '../../src/stream/consumer-group.ts';
import { publishFixes, toStreamFields } from '../../src/simulator/publish.ts';
import { deliveryOrder, simulateRace } from '../../src/simulator/race-schedule.ts';
import { createScratchDatabase, dropScratchDatabase, freePort, pgUrl, REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const databaseName = `pitwall_test_ingest_${process.pid}`;
let db: Knex;
let redis: Redis;
const running: Processor[] = [];
const streams: string[] = [];

async function startProcessor(stream: string, env: Record<string, string> = {}): Promise<Processor> {
  const config = loadProcessorConfig({
    DATABASE_URL: pgUrl(databaseName),
    REDIS_URL,
    REDIS_TELEMETRY_STREAM: stream,
    METRICS_PORT: String(await freePort()),
    PROCESSOR_BLOCK_MS: '200',
    ...env,
  });
  const processor = new Processor(config, pino({ level: 'silent' }));
  running.push(processor);
  await processor.start();
  return processor;
}

function newStream(): string {
  const stream = `test:telemetry:${randomUUID()}`;
  streams.push(stream, `${stream}:dead-letter`);
  return stream;
}

const positionCount = async (devices?: string[]) => {
  const query = db('positions').count<{ count: string }[]>('* as count');
  if (devices) query.whereIn('device_id', devices);
  return Number((await query)[0]!.count);
};

beforeAll(async () => {
  await createScratchDatabase(databaseName);
  db = knexFactory({ client: 'pg', connection: pgUrl(databaseName), pool: { min: 0, max: 2 } });
  await migrateTelemetry(db);
  redis = new Redis(REDIS_URL);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.close()));
  if (streams.length) await redis.del(...streams.splice(0));
  await db('positions').delete();
});

afterAll(async () => {
  await db.destroy();
  redis.disconnect();
  await dropScratchDatabase(databaseName);
});

describe('processor ingestion', () => {
  it('stores each fix once despite duplicates and out-of-order delivery, then acknowledges it', async () => {
    const stream = newStream();
    const fixes = simulateRace({ start: Date.parse('2026-03-01T08:00:00.000Z'), entries: 4, stages: ['ss1'] });
    const delivered = deliveryOrder(fixes, { duplicates: 0.05, outOfOrder: 0.05, lateBurstSeconds: 120 });
    expect(delivered.length).toBeGreaterThan(fixes.length);
    await publishFixes(redis, stream, delivered, { speed: 0 });
    await startProcessor(stream);

    await waitFor(async () => (await positionCount()) === fixes.length, { what: `${fixes.length} positions` });
    await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP))?.lag === 0, { what: 'the group past every entry' });
    expect(await groupInfo(redis, stream, PROCESSOR_GROUP)).toMatchObject({ lag: 0, pending: 0 });
    expect(await redis.xlen(`${stream}:dead-letter`)).toBe(0);

    // The stored row is the fix as received: raw IO kept exactly, 64-bit values as __bigint, sentinels included.
    const sample = fixes[Math.floor(fixes.length / 2)]!;
    const row = await db('positions').where({ device_id: sample.deviceId, ts: new Date(sample.ts) }).first();
    expect(row).toMatchObject({
      latitude: sample.latitude,
      longitude: sample.longitude,
      satellites: sample.satellites,
      priority: sample.priority,
      codec: '8E',
      faulty: false,
      attributes: sample.attributes,
    });
    expect(row.ts.getTime()).toBe(sample.ts);
  });

  it('dead-letters every malformed entry with its reason and keeps the good ones around them', async () => {
    const stream = newStream();
    const [good1, good2] = simulateRace({ start: Date.parse('2026-03-01T08:00:00.000Z'), entries: 1, stages: ['ss1'] });
    const goodFields = toStreamFields(good1!);
    const payload = JSON.parse(goodFields[7]!);
    const entry = (overrides: Record<string, string>, payloadOverrides: Record<string, unknown> | null = null) => {
      const fields: Record<string, string> = { ts: goodFields[1]!, device_id: goodFields[3]!, codec: goodFields[5]!, payload: goodFields[7]! };
      if (payloadOverrides) fields.payload = JSON.stringify({ ...payload, ...payloadOverrides });
      return Object.entries({ ...fields, ...overrides }).flat();
    };
    const bad: [string[], RegExp][] = [
      [entry({ payload: '{not json' }), /^payload: not JSON/],
      [['ts', goodFields[1]!, 'device_id', goodFields[3]!, 'codec', '8'], /^payload: /],
      [entry({ codec: '12' }), /^codec: /],
      [entry({}, { latitude: 123.4 }), /^payload\.latitude: /],
      [entry({}, { timestamp: '2026-13-45T99:00:00Z' }), /^payload\.timestamp: /],
      [entry({}, { priority: 7 }), /^payload\.priority: /],
      [entry({}, { attributes: { '16': { __bigint: '12.5' } } }), /^payload\.attributes\.16/],
      [entry({}, { attributes: { speed: 12 } }), /^payload\.attributes\.speed/],
      [entry({ device_id: '999999999999999' }), /^device_id: field "999999999999999" differs from payload\.device_id/],
      [['garbage', 'x'], /^ts: /],
    ];
    await redis.xadd(stream, '*', ...toStreamFields(good1!));
    for (const [fields] of bad) await redis.xadd(stream, '*', ...fields);
    await redis.xadd(stream, '*', ...toStreamFields(good2!));
    const processor = await startProcessor(stream);

    await waitFor(async () => (await redis.xlen(`${stream}:dead-letter`)) === bad.length, { what: 'dead letters' });
    const letters = await redis.xrange(`${stream}:dead-letter`, '-', '+');
    letters.forEach(([, flat], i) => {
      const fields = Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, k) => [flat[2 * k], flat[2 * k + 1]]));
      expect(fields.reason, `entry ${i}`).toMatch(bad[i]![1]);
      expect(fields.source_id).toMatch(/^\d+-\d+$/);
    });
    await waitFor(async () => (await positionCount()) === 2, { what: 'the two good positions' });
    await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP))?.lag === 0, { what: 'the group past every entry' });
    expect((await processor.health()).ok).toBe(true);
  });

  it('moves on past nothing until positions are durable, and stores them once the database is back', async () => {
    const stream = newStream();
    const fixes = simulateRace({ start: Date.parse('2026-03-01T08:00:00.000Z'), entries: 2, stages: ['ss2'] }).slice(0, 300);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    const lateDatabase = `pitwall_test_late_${process.pid}`;
    await dropScratchDatabase(lateDatabase);
    await startProcessor(stream, { DATABASE_URL: pgUrl(lateDatabase) });

    // Entries are read but, with nowhere to store them, no shard's progress is committed: the group stays where it
    // was, with every entry still to do.
    await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP)) !== null, { what: 'the consumer group' });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await groupInfo(redis, stream, PROCESSOR_GROUP)).toMatchObject({ lag: fixes.length, pending: 0 });

    await createScratchDatabase(lateDatabase);
    const late = knexFactory({ client: 'pg', connection: pgUrl(lateDatabase), pool: { min: 0, max: 1 } });
    try {
      await migrateTelemetry(late);
      await waitFor(async () => Number((await late('positions').count<{ count: string }[]>('* as count'))[0]!.count) === fixes.length, { what: 'positions after recovery' });
      await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP))?.lag === 0, { timeoutMs: 30_000, what: 'the group past every entry after recovery' });
    } finally {
      await late.destroy();
      await Promise.all(running.splice(0).map((p) => p.close()));
      await dropScratchDatabase(lateDatabase);
    }
  });

  it('takes over the entries an unsharded processor of an earlier version left unacknowledged', async () => {
    const stream = newStream();
    const fixes = simulateRace({ start: Date.parse('2026-03-01T08:00:00.000Z'), entries: 1, stages: ['ss2'] }).slice(0, 50);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    await redis.xgroup('CREATE', stream, PROCESSOR_GROUP, '0');
    // A consumer that read the entries and died before storing them.
    await redis.xreadgroup('GROUP', PROCESSOR_GROUP, 'dead-consumer', 'COUNT', 1000, 'STREAMS', stream, '>');
    await startProcessor(stream, { PROCESSOR_CONSUMER: 'survivor' });

    await waitFor(async () => (await positionCount()) === fixes.length, { what: 'the left entries stored' });
    // Once every shard is past them, they are acknowledged in the old group too.
    await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP))?.pending === 0, { timeoutMs: 30_000, what: 'left entries acknowledged' });
  });
});
