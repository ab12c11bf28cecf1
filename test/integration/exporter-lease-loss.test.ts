import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPORT_GROUP } from '../../src/exporter/exporter.ts';
import { publishFixes, toStreamFields } from '../../src/simulator/publish.ts';
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
   * KNOWN BUG, kept as `it.fails` until it is fixed (then drop `.fails`). An exporter paused longer than its lease (a
   * GC pause, SIGSTOP, a VM stalled) sends its next XREADGROUP before it learns the lease is gone: the entries it reads
   * land in its own pending list, and it drops them when it sees the lease lost. The new holder claimed the pending
   * entries once, when it took over, so these stay pending while it holds the lease; its batch meanwhile spans their
   * ids. When the deposed exporter takes over again, they fall inside that written batch, whose files exist, so they
   * are acknowledged and never written. Reproduced with SIGSTOP for 3.5 s (lease 2 s) on the holder of a steady
   * stream: 1 to 9 entries left pending on the deposed consumer each time, lost after the next takeover.
   * Here the deposed exporter's read is made directly, so that the test is deterministic.
   */
  it.fails('still gets every entry it read after losing the lease exported', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pitwall-export-lease-'));
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 4, stages: ['ss2'], seed: 9 }).slice(0, 205);
    // Batches rotate by age only, so that the holder's batch gathers entries on both sides of the deposed one's read.
    const env = { EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '3000' };
    const holder = await startExporter(stream, dir, 'export-b', env);
    children.push(holder);
    await publishFixes(redis, stream, fixes.slice(0, 100), { speed: 0 });
    await waitFor(async () => (await redis.get(`pitwall:{${stream}}:exporter`))?.startsWith('export-b:') && (await groupState()).lag === 0, {
      what: 'export-b to hold the lease and read the first entries',
    });

    // What the deposed export-a does on waking up: one read, entries added at that moment. MULTI keeps export-b's
    // blocked read from getting them first.
    const multi = redis.multi();
    for (const fix of fixes.slice(100, 105)) multi.xadd(stream, '*', ...toStreamFields(fix));
    multi.xreadgroup('GROUP', EXPORT_GROUP, 'export-a', 'COUNT', 5, 'STREAMS', stream, '>');
    const results = (await multi.exec())!;
    const orphans = results.slice(0, 5).map(([, id]) => id as string);
    expect(await pendingOf('export-a')).toBe(5);

    await publishFixes(redis, stream, fixes.slice(105), { speed: 0 });
    await waitFor(async () => (await groupState()).lag === 0 && (await pendingOf('export-b')) === 0, { timeoutMs: 30_000, what: "export-b's batch written" });

    // export-b dies, export-a takes over: every entry must now be written, and the group drained.
    await stopChild(holder, 'SIGKILL');
    children.push(await startExporter(stream, dir, 'export-a', env));
    await waitFor(async () => {
      const { lag, pending } = await groupState();
      return lag === 0 && pending === 0;
    }, { timeoutMs: 30_000, what: 'the export group drained' });

    const instance = await DuckDBInstance.create(':memory:');
    const duck = await instance.connect();
    try {
      const rows = (await duck.runAndReadAll(`SELECT stream_id FROM read_parquet('${join(dir, '**', '*.parquet')}')`)).getRowsJS().map((r) => r[0] as string);
      const ids = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map(([id]) => id);
      expect(ids).toHaveLength(205);
      const written = new Set(rows);
      expect({ missing: ids.filter((id) => !written.has(id)), duplicated: rows.length - written.size }).toEqual({ missing: [], duplicated: 0 });
    } finally {
      duck.closeSync();
      instance.closeSync();
    }
    expect(orphans).toHaveLength(5);
  }, 90_000);
});
