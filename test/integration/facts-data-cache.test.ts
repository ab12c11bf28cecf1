import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRestartableStack, type RestartableStack } from '../support/restartable-stack.ts';

const stage = demoId('stage:ss2');
const startGate = demoId('geofence:ss2:start');
const entry = demoEntries[3]!;
const t0 = Date.UTC(2026, 0, 11, 9, 30, 0, 125);
const crossing: CrossingFact = {
  type: 'crossing', key: factKey.crossing(entry.id, startGate, t0), entryId: entry.id, stageId: stage, gateId: startGate,
  deviceId: entry.imei, kind: 'start', crossedAt: t0, speedKmh: 42,
};
const batch = (upserts: FactBatch['upserts'], retractions: string[] = []): FactBatch => ({ batch: `cache-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions });

/**
 * With Directus's data cache on (CACHE_ENABLED, CACHE_AUTO_PURGE), a timekeeper's `/items` views must show the
 * pipeline's rows as they are now, also when they were written set-based, beside ItemsService, and made no race event
 * (a retraction): ItemsService purges the cache after its own writes, so the set-based writes must too.
 */
describe('POST /pitwall/facts with the data cache on', () => {
  let running: RestartableStack;
  let token: string;

  beforeAll(async () => {
    running = await startRestartableStack('facts_cache', 11, { CACHE_ENABLED: 'true', CACHE_STORE: 'memory', CACHE_AUTO_PURGE: 'true', CACHE_TTL: '10m' });
    token = await adminToken(running.stack);
  }, 180_000);

  afterAll(async () => {
    await running?.destroy();
  });

  it('shows a retracted crossing gone at once, not when the cached answer runs out', async () => {
    const { stack } = running;
    const path = `/items/entry_crossings?filter[id][_eq]=${factId(crossing.key)}&fields=id,speed_kmh`;
    const rows = async () => (await call(stack, path, { token })).json.data as { id: string; speed_kmh: number }[];
    expect(await rows()).toEqual([]);

    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: batch([crossing]) });
    expect(stored.status, stored.text).toBe(200);
    expect(stored.json.data.created).toBe(1);
    // Cached now, with the crossing in it.
    expect(await rows()).toHaveLength(1);
    expect(await rows()).toHaveLength(1);

    const retracted = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: batch([], [crossing.key]) });
    expect(retracted.status, retracted.text).toBe(200);
    expect(retracted.json.data.deleted).toBe(1);
    expect(await rows()).toEqual([]);
  });
});
