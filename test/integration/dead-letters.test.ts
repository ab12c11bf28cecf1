import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { letteredKey, writeDeadLetters, type DeadLetter } from '../../src/stream/dead-letter.ts';
import { REDIS_URL } from '../support/stack.ts';

describe('writeDeadLetters', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(() => redis.disconnect());

  const letter = (id: string, reason = 'payload: not JSON'): DeadLetter => ({ id, category: 'malformed', reason, fields: { device_id: '356307042441013', payload: '{' } });
  const sources = async (stream: string) => (await redis.xrange(stream, '-', '+')).map(([, flat]) => flat[1]);

  it('letters an entry once when its batch is stored again (read again after a kill before its commit)', async () => {
    const stream = `test:dead-letter:${randomUUID()}`;
    try {
      await writeDeadLetters(redis, stream, [letter('1-1'), letter('1-2')]);
      await writeDeadLetters(redis, stream, [letter('1-1'), letter('1-2'), letter('1-3')]);
      expect(await sources(stream)).toEqual(['1-1', '1-2', '1-3']);
      // Each as it was first written, with its reason and original fields.
      const [[, first]] = (await redis.xrange(stream, '-', '+', 'COUNT', 1)) as [[string, string[]]];
      expect(first).toEqual(['source_id', '1-1', 'category', 'malformed', 'reason', 'payload: not JSON', 'original_device_id', '356307042441013', 'original_payload', '{']);
      // Remembered for a while, not for ever.
      const ttl = await redis.ttl(letteredKey(stream, '1-1'));
      expect(ttl).toBeGreaterThan(24 * 3600);
      expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);
    } finally {
      await redis.del(stream, ...['1-1', '1-2', '1-3'].map((id) => letteredKey(stream, id)));
    }
  });

  it('letters an entry a batch lists twice once', async () => {
    const stream = `test:dead-letter:${randomUUID()}`;
    try {
      await writeDeadLetters(redis, stream, [letter('2-1'), letter('2-1', 'database: refused')]);
      expect(await sources(stream)).toEqual(['2-1']);
    } finally {
      await redis.del(stream, letteredKey(stream, '2-1'));
    }
  });
});
