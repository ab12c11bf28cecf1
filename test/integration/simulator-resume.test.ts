import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { stopChild } from '../support/cli.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * `npm start` resumes a demo round stopped in the middle with `pitwall simulate --start <the round's start> --after
 * <the newest stored fix>`: the fixes of the minutes stopped arrive at once, as a fleet uploads what it buffered, and
 * none sent before is sent again.
 */
describe('pitwall simulate resuming a round', () => {
  const redis = new Redis(REDIS_URL);
  const stream = `test:simulate:${randomUUID()}`;

  afterAll(async () => {
    await redis.del(stream);
    await redis.quit();
  });

  it('sends the fixes after --after up to now at once, none before, then goes on in real time', async () => {
    const start = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const after = start + 60_000;
    const child = spawn(
      join(repoRoot, 'bin/pitwall'),
      ['simulate', '--entries', '2', '--stage', 'ss1', '--speed', '1', '--start', new Date(start).toISOString(), '--after', new Date(after).toISOString()],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL, REDIS_TELEMETRY_STREAM: stream }, stdio: 'ignore' },
    );
    const spawnedAt = Date.now();
    try {
      const race = simulateRace({ start, entries: 2, stages: ['ss1'] });
      const buffered = race.filter((fix) => fix.ts > after && fix.ts <= spawnedAt);
      expect(buffered.length).toBeGreaterThan(100);
      // The minute stopped: all there within seconds, not a minute later as paced from the first of them.
      await waitFor(async () => (await redis.xlen(stream)) >= buffered.length, { timeoutMs: 15_000, what: 'the buffered minute sent at once' });
      const times = (await redis.xrange(stream, '-', '+')).map(([, fields]) => Date.parse(fields[fields.indexOf('ts') + 1]!));
      expect(Math.min(...times)).toBe(buffered[0]!.ts);
      expect(times.slice(0, buffered.length)).toEqual(buffered.map((fix) => fix.ts));
      // Then in real time: a fix is never sent before its own time.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const sentAt = Date.now();
      const latest = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)).map(([, fields]) => Date.parse(fields[fields.indexOf('ts') + 1]!))[0]!;
      expect(latest).toBeLessThanOrEqual(sentAt);
      expect(latest).toBeGreaterThan(spawnedAt);
    } finally {
      await stopChild(child, 'SIGTERM');
    }
  });
});
