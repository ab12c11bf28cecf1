import { randomUUID } from 'node:crypto';
import { createItem, deleteItem, readItems, updateItem } from '@directus/sdk';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId } from '../../src/demo/demo-race.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { admin } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const IMEI = '350936089999981';
const LATE_IMEI = '350936089999982';
/** Long enough that fixes sent right after a mapping change are stored before the processor reads the change. */
const REFRESH_MS = 3_000;

describe('fixes that come in between an IO mapping change and the processor reading it', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let processor: Processor | null = null;
  let device: string | null = null;
  let dallas: { id: string; multiplier: string } | undefined;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    const client = await admin(stack);
    device = ((await client.request(createItem('devices', { imei: IMEI, name: 'Mapping change', model: demoId('model:FMB920') } as never))) as { id: string }).id;
    [dallas] = (await client.request(readItems('io_mappings', { filter: { io_id: { _eq: 72 } }, fields: ['id', 'multiplier'] } as never))) as { id: string; multiplier: string }[];
    processor = await startRacingProcessor(stack, stream, { PROCESSOR_SETUP_REFRESH_MS: String(REFRESH_MS) });
  });

  afterAll(async () => {
    await processor?.close();
    const client = await admin(stack);
    if (dallas) await client.request(updateItem('io_mappings', dallas.id, { multiplier: dallas.multiplier } as never));
    if (device) await client.request(deleteItem('devices', device)).catch(() => undefined);
    await redis.del(stream);
    redis.disconnect();
    await db('positions').where('device_id', IMEI).delete();
    await db('decoded_attributes').where('device_id', IMEI).delete();
    await db('race_events').where('type', 'io_mapping.changed').delete();
    await db.destroy();
  });

  const decodedOf = (fixes: { ts: number }[]) =>
    db('decoded_attributes').where('device_id', IMEI).whereIn('ts', fixes.map((f) => new Date(f.ts))).orderBy('ts').select('ts', 'mapping_version', db.raw(`attributes->'dallas_temperature_1' AS dallas`));

  it('decodes them again with the new mapping, and leaves the fixes from before the change as they were', async () => {
    const fixes = simulateRace({ start: Date.UTC(2026, 0, 20, 9), entries: 1, stages: ['ss1'], seed: 4 }).map((f) => ({ ...f, deviceId: IMEI }));
    const before = fixes.slice(0, 20);
    const after = fixes.slice(20, 40);
    await publishFixes(redis, stream, before, { speed: 0 });
    await waitFor(async () => (await decodedOf(before)).length === before.length, { timeoutMs: 30_000, what: 'the first fixes decoded' });
    const [{ mapping_version: oldLabel }] = await decodedOf(before.slice(0, 1));
    // Older than the load before the change, and its margin: those fixes were decoded by the mapping of their time.
    await new Promise((resolve) => setTimeout(resolve, 2 * REFRESH_MS + 6_000));

    // Tenths of a degree become hundredths; fixes sent at once, stored before the processor reads the change.
    const client = await admin(stack);
    await client.request(updateItem('io_mappings', dallas!.id, { multiplier: 0.01 } as never));
    await publishFixes(redis, stream, after, { speed: 0 });

    await waitFor(
      async () => {
        const rows = await decodedOf(after);
        return rows.length === after.length && rows.every((row, i) => Number(row.dallas) === (after[i]!.attributes['72'] as number) / 100);
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the fixes after the change decoded with the new mapping' },
    );
    const afterRows = await decodedOf(after);
    expect(new Set(afterRows.map((r) => r.mapping_version)).size).toBe(1);
    expect(afterRows[0].mapping_version > oldLabel).toBe(true);
    const beforeRows = await decodedOf(before);
    expect(beforeRows.map((r) => r.mapping_version)).toEqual(before.map(() => oldLabel));
    expect(beforeRows.map((r) => Number(r.dallas))).toEqual(before.map((f) => (f.attributes['72'] as number) / 10));
  }, 90_000);

  it('goes on loading the race setup when one model\'s mapping cannot be registered, with that model\'s mapping read before', async () => {
    // Written around the bundle's checks (SQL): io_mappings.invalid_values is json and holds a NUL, the jsonb of the
    // mapping's revision cannot, and that insert failing stopped every reload of the setup.
    const [broken] = await db('io_mappings')
      .insert({ id: db.raw('gen_random_uuid()'), model: demoId('model:FMB920'), io_id: 9_991, attribute: 'broken', value_type: 'ascii', byte_size: 4, multiplier: 1, offset: 0, invalid_values: '["\\u0000"]' })
      .returning('id');
    try {
      const [{ mapping_version: label }] = await db('decoded_attributes').where('device_id', IMEI).orderBy('ts', 'desc').limit(1).select('mapping_version');
      await new Promise((resolve) => setTimeout(resolve, 2 * REFRESH_MS));
      // A tracker registered meanwhile: only a setup that still loads times and decodes it.
      const client = await admin(stack);
      const late = ((await client.request(createItem('devices', { imei: LATE_IMEI, name: 'Registered meanwhile', model: demoId('model:FMB920') } as never))) as { id: string }).id;
      try {
        const fixes = simulateRace({ start: Date.UTC(2026, 0, 21, 9), entries: 1, stages: ['ss1'], seed: 5 }).slice(0, 10).map((f) => ({ ...f, deviceId: LATE_IMEI }));
        await new Promise((resolve) => setTimeout(resolve, 2 * REFRESH_MS));
        await publishFixes(redis, stream, fixes, { speed: 0 });
        await waitFor(async () => (await db('decoded_attributes').where('device_id', LATE_IMEI).count<{ n: string }[]>('* as n'))[0]!.n === '10', {
          timeoutMs: 30_000,
          what: 'the fixes of a tracker registered after the broken row decoded',
        });
        expect(await db('decoded_attributes').where('device_id', LATE_IMEI).distinct().pluck('mapping_version')).toEqual([label]);
      } finally {
        await db('positions').where('device_id', LATE_IMEI).delete();
        await db('decoded_attributes').where('device_id', LATE_IMEI).delete();
        await client.request(deleteItem('devices', late)).catch(() => undefined);
      }
    } finally {
      await db('io_mappings').where({ id: broken.id }).delete();
    }
  }, 90_000);
});
