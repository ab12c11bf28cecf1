import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPORT_GROUP } from '../../src/exporter/exporter.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { stopChild } from '../support/cli.ts';
import { startExporter, type ExporterProcess } from '../support/exporter.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const redis = new Redis(REDIS_URL);
const stream = `test:telemetry:${randomUUID()}`;
const children: ExporterProcess[] = [];
let dir = '';

afterAll(async () => {
  await Promise.all(children.map((child) => stopChild(child, 'SIGKILL')));
  const keys = await redis.keys(`pitwall:{${stream}}*`);
  await redis.del(stream, ...keys);
  redis.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const groupState = async () => {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  const group = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g.name === EXPORT_GROUP);
  return { lag: Number(group?.lag ?? -1), pending: Number(group?.pending ?? -1) };
};
const pendingOf = async (consumer: string) => ((await redis.xpending(stream, EXPORT_GROUP, '-', '+', 1000, consumer)) as unknown[]).length;

describe('an exporter that lost its lease', () => {
  /**
   * An exporter paused longer than its lease (a GC pause, SIGSTOP, a VM stalled) wakes up still believing it holds
   * the lease. Its next read must not take entries into its own pending list: the new holder claimed the pending
   * entries when it took over, so those would sit there while the new holder's batches span their ids, and be
   * acknowledged unwritten at a later takeover (this lost 1 to 9 entries per pause before reads were made
   * conditional on the lease, in Redis). Here the holder is paused for real while a steady stream arrives, then the
   * other exporter is killed so that the paused one takes over again.
   */
  it('gets every entry exported once, whichever exporter was paused and took over again', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pitwall-export-lease-'));
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 4, stages: ['ss2'], seed: 9 }).slice(0, 1200);
    const env = { EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '700' };
    const a = await startExporter(stream, dir, 'export-a', env);
    const b = await startExporter(stream, dir, 'export-b', env);
    children.push(a, b);
    const holderName = async () => ((await redis.get(`pitwall:{${stream}}:exporter`)) ?? '').split(':')[0];
    await waitFor(async () => (await holderName()) !== '', { what: 'one exporter to hold the lease' });

    // A steady stream: 20 fixes every 100 ms, for about six seconds.
    const publishing = (async () => {
      for (let i = 0; i < fixes.length; i += 20) {
        const pipeline = redis.pipeline();
        for (const fix of fixes.slice(i, i + 20)) pipeline.xadd(stream, '*', ...toStreamFields(fix));
        await pipeline.exec();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pausedName = await holderName();
    const paused = pausedName === 'export-a' ? a : b;
    const other = paused === a ? b : a;
    paused.kill('SIGSTOP');
    await waitFor(async () => (await holderName()) !== pausedName, { timeoutMs: 10_000, what: 'the other exporter to take over' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    paused.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Whatever the woken exporter read is in its own pending list: it must either have been refused the read, or
    // get it exported when it takes over again.
    await stopChild(other, 'SIGKILL');
    await publishing;
    await waitFor(async () => (await holderName()) === pausedName, { timeoutMs: 10_000, what: 'the woken exporter to take over again' });
    await waitFor(async () => {
      const { lag, pending } = await groupState();
      return lag === 0 && pending === 0;
    }, { timeoutMs: 30_000, what: 'the export group drained' });
    expect(await pendingOf('export-a')).toBe(0);
    expect(await pendingOf('export-b')).toBe(0);

    const instance = await DuckDBInstance.create(':memory:');
    const duck = await instance.connect();
    try {
      const rows = (await duck.runAndReadAll(`SELECT stream_id FROM read_parquet('${join(dir, '**', '*.parquet')}')`)).getRowsJS().map((r) => r[0] as string);
      const ids = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map(([id]) => id);
      expect(ids).toHaveLength(fixes.length);
      const written = new Set(rows);
      expect({ missing: ids.filter((id) => !written.has(id)), duplicated: rows.length - written.size }).toEqual({ missing: [], duplicated: 0 });
    } finally {
      duck.closeSync();
      instance.closeSync();
    }
  }, 90_000);
});
