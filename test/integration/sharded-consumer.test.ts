import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardLeases } from '../../src/stream/shard-leases.ts';
import { LeasesStale, ShardedConsumer, type ShardHost } from '../../src/stream/sharded-consumer.ts';
import type { StreamEntry } from '../../src/stream/stream-entry.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/** Stops this thread's event loop as SIGSTOP stops a process: no timer, no renewal runs meanwhile. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('the sharded consumer against a real Redis', () => {
  const redis = new Redis(REDIS_URL);
  const leaseRedis = new Redis(REDIS_URL);
  const streams: string[] = [];

  afterAll(async () => {
    for (const stream of streams) await redis.del(stream);
    await redis.quit();
    await leaseRedis.quit();
  });

  it('rolls back a batch whose store outlived its leases (a pause), then stores every entry once', async () => {
    const stream = `test:sharded:${randomUUID()}`;
    streams.push(stream);
    const written: string[] = [];
    for (let i = 0; i < 30; i++) written.push((await redis.xadd(stream, '*', 'device_id', `tracker-${i % 3}`, 'n', String(i)))!);
    const committed: string[] = [];
    const refused: unknown[] = [];
    let frozen = false;
    const host: ShardHost<string[]> = {
      prepare: async (entries: StreamEntry[]) => entries.map((entry) => entry.id),
      store: async (ids, fence) => {
        if (!frozen) {
          frozen = true;
          freeze(1500);
        }
        try {
          fence?.();
        } catch (error) {
          refused.push(error);
          throw error;
        }
        committed.push(...ids);
      },
      discard: () => undefined,
      shardKey: (deviceId) => deviceId,
      shardsLost: async () => undefined,
    };
    const consumer = new ShardedConsumer(
      redis,
      new ShardLeases(leaseRedis, stream, 'solo', 900),
      { stream, group: 'processor', shardCount: 4, batchSize: 10, blockMs: 100, rebalanceMs: 300 },
      host,
      pino({ level: 'silent' }),
    );
    const running = consumer.run();
    try {
      await waitFor(async () => committed.length >= written.length, { timeoutMs: 20_000, what: 'every entry committed' });
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await consumer.close();
      await running.catch(() => undefined);
    }
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(LeasesStale);
    expect([...committed].sort()).toEqual([...written].sort());
  });

  it('drops the read it sent ahead when a failed store rewinds it, and stores every entry once, in stream order', async () => {
    const stream = `test:sharded:${randomUUID()}`;
    streams.push(stream);
    const written: string[] = [];
    for (let i = 0; i < 200; i++) written.push((await redis.xadd(stream, '*', 'device_id', `tracker-${i % 5}`, 'n', String(i)))!);
    const committed: string[] = [];
    let stores = 0;
    const host: ShardHost<string[]> = {
      prepare: async (entries: StreamEntry[]) => entries.map((entry) => entry.id),
      store: async (ids) => {
        // The third batch fails once: by then the reads of the fourth and the fifth batch have been sent.
        if (++stores === 3) throw new Error('the database went away');
        committed.push(...ids);
      },
      discard: () => undefined,
      shardKey: (deviceId) => deviceId,
      shardsLost: async () => undefined,
    };
    const consumer = new ShardedConsumer(
      redis,
      new ShardLeases(leaseRedis, stream, 'solo', 5000),
      { stream, group: 'processor', shardCount: 4, batchSize: 10, blockMs: 100, rebalanceMs: 60_000 },
      host,
      pino({ level: 'silent' }),
    );
    const running = consumer.run();
    try {
      await waitFor(async () => committed.length >= written.length, { timeoutMs: 20_000, what: 'every entry committed' });
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await consumer.close();
      await running.catch(() => undefined);
    }
    expect(stores).toBeGreaterThan(3);
    expect(committed).toEqual(written);
  });
});
