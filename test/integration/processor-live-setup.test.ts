import { randomUUID } from 'node:crypto';
import { createItem, deleteItem, readItems, updateItem } from '@directus/sdk';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId } from '../../src/demo/demo-race.ts';
import { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { admin, adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const IMEI = '350936089999994';

describe('the processor picks up race setup changes without a restart', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  const created: [string, string][] = [];
  let redis: Redis;
  let db: Knex;
  let processor: Processor;
  let dallasMapping: { id: string; multiplier: string } | undefined;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    processor = await startRacingProcessor(stack, stream, { PROCESSOR_SETUP_REFRESH_MS: '500' });
  });

  afterAll(async () => {
    await processor?.close();
    const client = await admin(stack);
    if (dallasMapping) await client.request(updateItem('io_mappings', dallasMapping.id, { multiplier: dallasMapping.multiplier } as never));
    for (const [collection, id] of created.reverse()) await client.request(deleteItem(collection as never, id)).catch(() => undefined);
    await redis.del(stream);
    redis.disconnect();
    await db('positions').where('device_id', IMEI).delete();
    await db('decoded_attributes').where('device_id', IMEI).delete();
    for (const collection of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies', 'race_events', 'pitwall_pending_events']) await db(collection).delete();
    await db.destroy();
  });

  it('times a tracker registered while it runs, and decodes with a mapping corrected while it runs', async () => {
    const client = await admin(stack);
    const token = await adminToken(stack);
    // A new tracker on a new entry, registered while the processor is running.
    const device = (await client.request(createItem('devices', { imei: IMEI, name: 'Late registration', model: demoId('model:FMB920') } as never))) as { id: string };
    created.push(['devices', device.id]);
    const entry = (await client.request(createItem('entries', { event: demoId('event'), race_number: 199, name: 'Late / Entry' } as never))) as { id: string };
    created.push(['entries', entry.id]);
    const link = (await client.request(createItem('entry_devices', { entry: entry.id, device: device.id } as never))) as { id: string };
    created.push(['entry_devices', link.id]);
    // A corrected multiplier for the Dallas temperature (tenths -> hundredths of a degree).
    [dallasMapping] = (await client.request(readItems('io_mappings', { filter: { io_id: { _eq: 72 } }, fields: ['id', 'multiplier'] } as never))) as { id: string; multiplier: string }[];
    await client.request(updateItem('io_mappings', dallasMapping!.id, { multiplier: 0.01 } as never));
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a few refreshes

    const [stage] = (await call(stack, `/items/stages?filter[id][_eq]=${demoId('stage:ss2')}&fields=opens_at`, { token })).json.data;
    const fixes = simulateRace({ start: Date.parse(stage.opens_at) + 5 * 3_600_000, entries: 1, stages: ['ss2'], seed: 9 }).map((f) => ({ ...f, deviceId: IMEI }));
    await publishFixes(redis, stream, fixes, { speed: 0 });

    await waitFor(async () => {
      const crossings = (await call(stack, `/items/entry_crossings?filter[entry][_eq]=${entry.id}&fields=kind`, { token })).json.data;
      return crossings.length === 2;
    }, { timeoutMs: 30_000, what: 'start and finish of the new entry' });
    const sample = fixes.find((f) => ![850, 3000].includes(f.attributes['72'] as number))!;
    const decoded = await db('decoded_attributes').where({ device_id: IMEI, ts: new Date(sample.ts) }).first();
    expect(decoded.attributes.dallas_temperature_1).toBe((sample.attributes['72'] as number) / 100);
  });
});
