import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { countEntriesAfter } from '../../src/stream/count-entries.ts';
import { REDIS_URL } from '../support/stack.ts';

describe('countEntriesAfter against a real Redis', () => {
  const redis = new Redis(REDIS_URL);
  const streams: string[] = [];

  afterAll(async () => {
    if (streams.length > 0) await redis.del(...streams);
    await redis.quit();
  });

  const fill = async (sizes: number[]): Promise<{ stream: string; ids: string[] }> => {
    const stream = `test:count:${randomUUID()}`;
    streams.push(stream);
    const ids: string[] = [];
    for (const size of sizes) ids.push((await redis.xadd(stream, '*', 'device_id', 'tracker-1', 'payload', 'x'.repeat(size)))!);
    return { stream, ids };
  };

  /** What Redis sent this client and the others meanwhile: the test's own commands are a few hundred bytes. */
  const sentDuring = async (work: () => Promise<unknown>): Promise<number> => {
    const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await redis.info('stats'))![1]);
    const before = await sent();
    await work();
    return (await sent()) - before;
  };

  it('counts the entries after an id, and says when it stopped at the limit', async () => {
    const { stream, ids } = await fill(Array.from({ length: 2500 }, () => 200));
    expect(await countEntriesAfter(redis, stream, ids[99]!, 10_000)).toEqual({ count: 2400, complete: true });
    expect(await countEntriesAfter(redis, stream, '0-0', 10_000)).toEqual({ count: 2500, complete: true });
    expect(await countEntriesAfter(redis, stream, ids.at(-1)!, 10_000)).toEqual({ count: 0, complete: true });
    expect(await countEntriesAfter(redis, stream, '0-0', 1000)).toEqual({ count: 1000, complete: false });
    expect(await countEntriesAfter(redis, stream, ids[1989]!, 10)).toEqual({ count: 10, complete: false });
  });

  it('stops after reading some megabytes of entries of a megabyte each, rather than moving them all', async () => {
    const { stream } = await fill(Array.from({ length: 60 }, () => 1_000_000));
    let counted: { count: number; complete: boolean } | undefined;
    const sent = await sentDuring(async () => (counted = await countEntriesAfter(redis, stream, '0-0', 10_000)));
    expect(counted!.complete).toBe(false);
    expect(counted!.count).toBeLessThan(60);
    // 16 MB read, at most one page of 4 MB past it; counting them all moved 60 MB.
    expect(sent).toBeLessThan(24_000_000);
    // A few of them are counted exactly, in pages of their size.
    const few = await fill([100, 100, 1_000_000, 1_000_000, 1_000_000, 100]);
    expect(await countEntriesAfter(redis, few.stream, '0-0', 10_000)).toEqual({ count: 6, complete: true });
  });
});
