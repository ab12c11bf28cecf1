import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { shardOf } from '../../src/domain/sharding/shard-of.ts';
import { ShardLeases } from '../../src/stream/shard-leases.ts';
import { LeasesStale, ShardedConsumer, type ShardHost } from '../../src/stream/sharded-consumer.ts';
import type { StreamEntry } from '../../src/stream/stream-entry.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/** Stops this thread's event loop as SIGSTOP stops a process: no timer, no renewal runs meanwhile. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Steps this process's wall clock by `ms` (negative: back), as NTP may; vi.restoreAllMocks() puts it right. */
const stepWallClock = (ms: number) => {
  const wallClock = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => wallClock() + ms);
};

describe('the sharded consumer against a real Redis', () => {
  const redis = new Redis(REDIS_URL);
  const leaseRedis = new Redis(REDIS_URL);
  const streams: string[] = [];

  afterAll(async () => {
    for (const stream of streams) await redis.del(stream);
    await redis.quit();
    await leaseRedis.quit();
  });

  /** A new stream of `count` entries, of `trackers` trackers in turn; their ids in stream order. */
  const fill = async (count: number, trackers: number): Promise<{ stream: string; written: string[] }> => {
    const stream = `test:sharded:${randomUUID()}`;
    streams.push(stream);
    const written: string[] = [];
    for (let i = 0; i < count; i++) written.push((await redis.xadd(stream, '*', 'device_id', `tracker-${i % trackers}`, 'n', String(i)))!);
    return { stream, written };
  };

  /**
   * One instance holding every shard runs `host` over `stream` until every entry is committed, then a moment more;
   * with `leases`, under those (their lease time, not `leaseMs`).
   */
  const consumeAll = async (
    stream: string,
    host: ShardHost<string[]>,
    { committed, total, leaseMs, rebalanceMs, settleMs, leases }: { committed: () => number; total: number; leaseMs: number; rebalanceMs: number; settleMs: number; leases?: ShardLeases },
  ) => {
    const consumer = new ShardedConsumer(
      redis,
      leases ?? new ShardLeases(leaseRedis, stream, 'solo', leaseMs),
      { stream, group: 'processor', shardCount: 4, batchSize: 10, blockMs: 100, rebalanceMs },
      host,
      pino({ level: 'silent' }),
    );
    const running = consumer.run();
    try {
      await waitFor(async () => committed() >= total, { timeoutMs: 20_000, what: 'every entry committed' });
      await new Promise((resolve) => setTimeout(resolve, settleMs));
    } finally {
      await consumer.close();
      await running.catch(() => undefined);
    }
  };

  /**
   * A host that freezes this thread once, for `freezeMs`, before its first store, then awaits each batch's fence
   * before committing it: the batches committed, and the fences that refused. With `clockSetBackMs`, the wall clock
   * is set back by that much as the freeze ends, as NTP may step it.
   */
  const pausedOnce = (freezeMs: number, clockSetBackMs = 0) => {
    const committed: string[] = [];
    const refused: unknown[] = [];
    let frozen = false;
    const host: ShardHost<string[]> = {
      prepare: async (entries: StreamEntry[]) => entries.map((entry) => entry.id),
      store: async (ids, fence) => {
        if (!frozen) {
          frozen = true;
          freeze(freezeMs);
          if (clockSetBackMs > 0) stepWallClock(-clockSetBackMs);
        }
        try {
          await fence?.();
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
    return { host, committed, refused };
  };

  /** A host that stores each batch once its fence allows: the entry ids stored, in order. */
  const storing = () => {
    const committed: string[] = [];
    const host: ShardHost<string[]> = {
      prepare: async (entries: StreamEntry[]) => entries.map((entry) => entry.id),
      store: async (ids, fence) => {
        await fence?.();
        committed.push(...ids);
      },
      discard: () => undefined,
      shardKey: (deviceId) => deviceId,
      shardsLost: async () => undefined,
    };
    return { host, committed };
  };

  it('keeps an instance started with another shard count out: it takes no shard, says why, and the others keep theirs', async () => {
    const { stream, written } = await fill(40, 8);
    const { host, committed } = storing();
    const start = (name: string, shardCount: number) => {
      const consumer = new ShardedConsumer(redis, new ShardLeases(leaseRedis, stream, name, 3000), { stream, group: 'processor', shardCount, batchSize: 10, blockMs: 100, rebalanceMs: 200 }, host, pino({ level: 'silent' }));
      return { consumer, running: consumer.run() };
    };
    const first = start('four', 4);
    const second = start('eight', 8);
    try {
      await waitFor(async () => second.consumer.shardCountConflict === 4, { timeoutMs: 10_000, what: 'the second instance to see the count in use' });
      // Rebalancing rounds pass: the first keeps every shard (before, it handed half back to the second, which never took them).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect([first.consumer.owned.size, second.consumer.owned.size]).toEqual([4, 0]);
      await waitFor(async () => committed.length >= written.length, { timeoutMs: 20_000, what: 'every entry stored by the first' });
      expect([...committed].sort()).toEqual([...written].sort());
    } finally {
      for (const { consumer, running } of [second, first]) {
        await consumer.close();
        await running.catch(() => undefined);
      }
    }
  });

  it('reads fewer entries at a time when they are large, and as many as before once they are small again', async () => {
    const stream = `test:sharded:${randomUUID()}`;
    streams.push(stream);
    const big = 'x'.repeat(100_000);
    const written: string[] = [];
    for (const [count, payload] of [[50, 'small'], [60, big], [70, 'small']] as const) {
      for (let i = 0; i < count; i++) written.push((await redis.xadd(stream, '*', 'device_id', `tracker-${written.length % 4}`, 'payload', payload))!);
    }
    const { host, committed } = storing();
    const batches: number[] = [];
    const consumer = new ShardedConsumer(
      redis,
      new ShardLeases(leaseRedis, stream, 'solo', 3000),
      // 1.1 MB a read: ten of the entries of 100 kB and their fields.
      { stream, group: 'processor', shardCount: 4, batchSize: 50, blockMs: 100, rebalanceMs: 200, readBytes: 1_100_000 },
      { ...host, prepare: async (entries) => (batches.push(entries.length), host.prepare(entries)) },
      pino({ level: 'silent' }),
    );
    const running = consumer.run();
    try {
      await waitFor(async () => committed.length >= written.length, { timeoutMs: 20_000, what: 'every entry committed' });
    } finally {
      await consumer.close();
      await running.catch(() => undefined);
    }
    expect(committed).toEqual(written);
    // Before the large entries were seen, reads of 50; after a read that held them, 10; small again, the size they
    // are bounded by halves with each read, so the count doubles back: 10, 21 (1.1 MB over half an entry of 100 kB
    // and its fields), then the 39 left.
    expect(batches).toEqual([50, 50, 10, 10, 21, 39]);
  });

  it('says so when the stream was trimmed past entries it had not read yet, and not for entries it had read', async () => {
    const { stream, written } = await fill(20, 4);
    const { host, committed } = storing();
    const errors: string[] = [];
    const run = async (until: () => boolean) => {
      const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
      const consumer = new ShardedConsumer(redis, new ShardLeases(leaseRedis, stream, 'trimmed', 1500), { stream, group: 'processor', shardCount: 4, batchSize: 10, blockMs: 100, rebalanceMs: 200 }, host, log);
      const running = consumer.run();
      try {
        await waitFor(async () => until(), { timeoutMs: 20_000, what: 'the entries stored' });
        await new Promise((resolve) => setTimeout(resolve, 500));
        return consumer.trimmedUnread;
      } finally {
        await consumer.close();
        await running.catch(() => undefined);
      }
    };
    expect(await run(() => committed.length >= written.length)).toBe(0);
    // Entries it read, trimmed (retention): nothing lost.
    await redis.xtrim(stream, 'MAXLEN', 5);
    expect(await run(() => true)).toBe(0);
    // A burst while it is stopped, trimmed before it starts again: 30 of the 40 new entries are gone unread.
    for (let i = 0; i < 40; i++) await redis.xadd(stream, '*', 'device_id', `tracker-${i % 4}`, 'n', String(i));
    await redis.xtrim(stream, 'MAXLEN', 10);
    const stored = committed.length;
    expect(await run(() => committed.length >= stored + 10)).toBe(30);
    expect(errors.join('')).toContain('entries were deleted from the stream (XTRIM or MAXLEN) before they were processed');
  });

  it('raises no alarm of entries trimmed unread while a busy fleet writes and another instance\'s shard stands still', async () => {
    // A tester's sharded processors: one killed, its shards standing still until it came back, the others checking
    // the stream every few seconds while 120 fixes a second arrived. Entries added between two of the check's reads
    // once read as 69 entries deleted unread, with nothing lost. Here a fix arrives before each of the consumer's
    // reads of the stream's figures, as it may at that rate.
    const { stream, written } = await fill(20, 4);
    const ghostShard = shardOf('tracker-3', 4);
    const busy = ['tracker-0', 'tracker-1', 'tracker-2'].find((device) => shardOf(device, 4) !== ghostShard)!;
    expect(busy).toBeDefined();
    const ghost = new ShardLeases(leaseRedis, stream, 'ghost', 60_000);
    expect(await ghost.acquire(ghostShard)).toBe(true);
    expect(await ghost.commitAll([ghostShard], written[0]!)).toEqual([true]);
    const writer = new Redis(REDIS_URL);
    let sent = 0;
    const fleetWrites = new Proxy(redis, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (typeof value !== 'function') return value;
        if (name !== 'xinfo' && name !== 'xrangeBuffer') return value.bind(target);
        return async (...args: unknown[]) => {
          await writer.xadd(stream, '*', 'device_id', busy, 'n', String(sent++));
          return value.apply(target, args);
        };
      },
    });
    const { host, committed } = storing();
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const consumer = new ShardedConsumer(fleetWrites, new ShardLeases(leaseRedis, stream, 'busy', 60_000), { stream, group: 'processor', shardCount: 4, batchSize: 50, blockMs: 100, rebalanceMs: 200 }, host, log);
    const running = consumer.run();
    try {
      await new Promise((resolve) => setTimeout(resolve, 7_000)); // past two of the consumer's group syncs (every 3 s)
      expect(sent).toBeGreaterThan(0);
      expect(consumer.trimmedUnread).toBe(0);
      expect(errors.join('')).not.toContain('entries were deleted from the stream');
    } finally {
      await consumer.close();
      await running.catch(() => undefined);
      await writer.quit();
    }
    expect(committed).toContain(written.find((_, i) => `tracker-${i % 4}` === busy));
  });

  it('rolls back a batch whose store outlived its leases (a pause), then stores every entry once', async () => {
    const { stream, written } = await fill(30, 3);
    const { host, committed, refused } = pausedOnce(1500);
    await consumeAll(stream, host, { committed: () => committed.length, total: written.length, leaseMs: 900, rebalanceMs: 300, settleMs: 500 });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(LeasesStale);
    expect([...committed].sort()).toEqual([...written].sort());
  });

  it('rolls back a batch whose store outlived its leases though the wall clock was set back meanwhile', async () => {
    const { stream, written } = await fill(30, 3);
    const { host, committed, refused } = pausedOnce(1500, 5_000);
    try {
      await consumeAll(stream, host, { committed: () => committed.length, total: written.length, leaseMs: 900, rebalanceMs: 300, settleMs: 500 });
    } finally {
      vi.restoreAllMocks();
    }
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(LeasesStale);
    expect([...committed].sort()).toEqual([...written].sort());
  });

  it('asks Redis before committing when the wall clock stepped forward past the lease, as a Redis on the machine would see it', async () => {
    // Redis times leases out by the wall clock: a step forward lets a Redis on this machine drop them at once.
    const { stream, written } = await fill(30, 3);
    const leases = new ShardLeases(leaseRedis, stream, 'stepped', 5_000);
    const renewals = vi.spyOn(leases, 'renew');
    const { host, committed } = storing();
    const askedAtFence: number[] = [];
    let stepped = false;
    const store = host.store.bind(host);
    host.store = async (ids, fence) => {
      if (!stepped) {
        stepped = true;
        stepWallClock(10_000);
      }
      const before = renewals.mock.calls.length;
      await store(ids, fence);
      askedAtFence.push(renewals.mock.calls.length - before);
    };
    try {
      await consumeAll(stream, host, { committed: () => committed.length, total: written.length, leaseMs: 5_000, rebalanceMs: 300, settleMs: 0, leases });
    } finally {
      vi.restoreAllMocks();
    }
    // The first batch's fence renewed the leases (Redis here kept them: its clock did not move) before it committed.
    expect(askedAtFence[0]).toBe(1);
    expect([...committed].sort()).toEqual([...written].sort());
  });

  it('commits a batch whose leases were not renewed in time but are still held, asking Redis first (a process starved of CPU)', async () => {
    const { stream, written } = await fill(30, 3);
    // Past two thirds of the lease without a renewal, short of the lease: no one can have taken the shards.
    const { host, committed, refused } = pausedOnce(2000);
    await consumeAll(stream, host, { committed: () => committed.length, total: written.length, leaseMs: 2700, rebalanceMs: 300, settleMs: 300 });
    expect(refused).toEqual([]);
    expect([...committed].sort()).toEqual([...written].sort());
  });

  it('drops the read it sent ahead when a failed store rewinds it, and stores every entry once, in stream order', async () => {
    const { stream, written } = await fill(200, 5);
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
    await consumeAll(stream, host, { committed: () => committed.length, total: written.length, leaseMs: 5000, rebalanceMs: 60_000, settleMs: 300 });
    expect(stores).toBeGreaterThan(3);
    expect(committed).toEqual(written);
  });
});
