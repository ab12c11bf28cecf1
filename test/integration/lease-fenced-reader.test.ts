import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LEASE_NOT_HELD, LeaseFencedReader } from '../../src/stream/lease-fenced-reader.ts';
import { PrivateRedis } from '../support/private-redis.ts';
import { REDIS_URL } from '../support/stack.ts';

const redis = new Redis(REDIS_URL);
const stream = `test:fenced:${randomUUID()}`;
const lease = `pitwall:{${stream}}:lease`;
const group = 'fenced';
let reader: LeaseFencedReader;

const read = (consumer = 'me', from = '>') => reader.read({ group, consumer, count: 100, stream, from });
const pendingOf = async (consumer: string) => ((await redis.xpending(stream, group, '-', '+', 100, consumer)) as unknown[]).length;

beforeEach(async () => {
  await redis.del(stream, lease);
  for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'n', String(i));
  await redis.xgroup('CREATE', stream, group, '0');
  reader = new LeaseFencedReader(REDIS_URL, lease, 'me:1');
  await reader.connect();
});

afterEach(() => {
  reader.disconnect();
});

afterAll(async () => {
  await redis.del(stream, lease);
  redis.disconnect();
});

describe('a read fenced by a lease', () => {
  it('reads the group while the lease is the reader’s, and its own pending entries again from an id', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    const entries = await read();
    expect(entries).not.toBe(LEASE_NOT_HELD);
    expect((entries as [string, string[]][]).map(([, fields]) => fields)).toEqual([['n', '0'], ['n', '1'], ['n', '2']]);
    expect(await read()).toEqual([]);
    expect(await read('me', '0')).toHaveLength(3);
    expect(await pendingOf('me')).toBe(3);
  });

  it('hands back a pending entry whose content was trimmed from the stream as an id without fields', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    const [first] = (await read()) as [string, string[]][];
    await redis.xdel(stream, first![0]);
    const again = (await read('me', '0')) as [string, string[] | null][];
    expect(again.map(([id, fields]) => [id, fields?.length ?? null])).toEqual([[first![0], null], [again[1]![0], 2], [again[2]![0], 2]]);
  });

  it('reads nothing into its pending list while the lease is absent or another’s', async () => {
    expect(await read()).toBe(LEASE_NOT_HELD);
    await redis.set(lease, 'other:2', 'PX', 10_000);
    expect(await read()).toBe(LEASE_NOT_HELD);
    expect(await pendingOf('me')).toBe(0);
  });

  // After a read, the lease stays WATCHed for the next one: these change it in that gap.
  it('reads nothing when the lease is taken after its check and before its read', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    expect(await reader.read({ group, consumer: 'me', count: 1, stream, from: '>' })).toHaveLength(1);
    await redis.set(lease, 'other:2', 'PX', 10_000);
    expect(await read()).toBe(LEASE_NOT_HELD);
    expect(await pendingOf('me')).toBe(1);
    // The other entries are still there for the new holder.
    await redis.xgroup('CREATECONSUMER', stream, group, 'other');
    expect(((await redis.xreadgroup('GROUP', group, 'other', 'COUNT', 100, 'STREAMS', stream, '>')) as [string, unknown[]][])[0]![1]).toHaveLength(2);
  });

  it('checks again and reads once when its own renewal touched the lease in between', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    expect(await reader.read({ group, consumer: 'me', count: 1, stream, from: '>' })).toHaveLength(1);
    await redis.pexpire(lease, 20_000);
    expect(await read()).toHaveLength(2);
    expect(await pendingOf('me')).toBe(3);
  });

  it('reads nothing when the lease ran out in between', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    expect(await reader.read({ group, consumer: 'me', count: 1, stream, from: '>' })).toHaveLength(1);
    await redis.pexpire(lease, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await read()).toBe(LEASE_NOT_HELD);
    expect(await pendingOf('me')).toBe(1);
  });

  it('runs reads one at a time: two at once share the entries without reading one twice', async () => {
    await redis.set(lease, 'me:1', 'PX', 10_000);
    const [a, b] = await Promise.all([reader.read({ group, consumer: 'me', count: 2, stream, from: '>' }), reader.read({ group, consumer: 'me', count: 2, stream, from: '>' })]);
    expect([(a as unknown[]).length, (b as unknown[]).length]).toEqual([2, 1]);
  });

  /** The lease held, one entry in the group, on a Redis of the test's own (to restart), with a reader on it. */
  const withPrivateRedis = async (test: (privateRedis: PrivateRedis, own: Redis, fenced: LeaseFencedReader) => Promise<void>) => {
    const privateRedis = await PrivateRedis.start();
    const own = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
    own.on('error', () => undefined);
    const fenced = new LeaseFencedReader(privateRedis.url, lease, 'me:1');
    try {
      await fenced.connect();
      await own.xadd(stream, '*', 'n', '0');
      await own.xgroup('CREATE', stream, group, '0');
      await own.set(lease, 'me:1', 'PX', 60_000);
      await test(privateRedis, own, fenced);
    } finally {
      fenced.disconnect();
      own.disconnect();
      await privateRedis.remove();
    }
  };

  it('waits out a Redis outage and checks the lease again on the next connection', async () => {
    await withPrivateRedis(async (privateRedis, own, fenced) => {
      const restarted = privateRedis.restart(1000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Redis is down: the read waits for it instead of failing, and the restarted Redis has no lease.
      const during = fenced.read({ group, consumer: 'me', count: 100, stream, from: '>' });
      await restarted;
      expect(await during).toBe(LEASE_NOT_HELD);
      await own.xadd(stream, '*', 'n', '1');
      await own.xgroup('CREATE', stream, group, '0');
      await own.set(lease, 'me:1', 'PX', 60_000);
      expect(await fenced.read({ group, consumer: 'me', count: 100, stream, from: '>' })).toHaveLength(1);
    });
  }, 60_000);

  it('is not left waiting when Redis goes away while the read is in flight', async () => {
    await withPrivateRedis(async (privateRedis, _own, fenced) => {
      // Frozen, Redis leaves the read's commands unanswered on the open connection; then it dies and starts empty.
      privateRedis.freeze();
      const during = fenced.read({ group, consumer: 'me', count: 100, stream, from: '>' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await privateRedis.restart(200);
      const outcome = await Promise.race([during, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000))]);
      expect(outcome).toBe(LEASE_NOT_HELD);
    });
  }, 60_000);
});
