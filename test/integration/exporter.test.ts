import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries } from '../../src/demo/demo-race.ts';
import type { Position } from '../../src/domain/position.ts';
import { readExportEntry } from '../../src/exporter/export-row.ts';
import { EXPORT_GROUP } from '../../src/exporter/exporter.ts';
import { ParquetBatch } from '../../src/exporter/parquet-batch.ts';
import { partName, partitionName, temporaryPartName } from '../../src/exporter/part-files.ts';
import { publishFixes, toStreamFields } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { groupInfo, unreadEntries } from '../../src/stream/consumer-group.ts';
import { toStreamEntries } from '../../src/stream/stream-entry.ts';
import { runCli, stopChild } from '../support/cli.ts';
import { startExporter as exporter } from '../support/exporter.ts';
import { PrivateRedis } from '../support/private-redis.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/** Every row of the export as DuckDB reads it back, partition column included. */
async function readBack(duck: DuckDBConnection, dir: string) {
  const reader = await duck.runAndReadAll(
    `SELECT stream_id, device_id, epoch_ms(ts) AS ts_ms, latitude, speed, satellites, priority, codec, attributes::VARCHAR AS attributes,
       decoded_attributes::VARCHAR AS decoded, mapping_version, date::VARCHAR AS date, typeof(ts) AS ts_type, typeof(latitude) AS lat_type
     FROM read_parquet('${join(dir, '**', '*.parquet')}', hive_partitioning = true)`,
  );
  return reader.getRowObjectsJS() as {
    stream_id: string;
    device_id: string;
    ts_ms: bigint;
    latitude: number;
    speed: number;
    satellites: number;
    priority: number;
    codec: string;
    attributes: string;
    decoded: string | null;
    mapping_version: string | null;
    date: string;
    ts_type: string;
    lat_type: string;
  }[];
}

function duplicatesAndMissing(rows: readonly { stream_id: string }[], expected: ReadonlySet<string>) {
  const seen = new Map<string, number>();
  for (const row of rows) seen.set(row.stream_id, (seen.get(row.stream_id) ?? 0) + 1);
  const duplicated = [...seen.values()].filter((n) => n > 1).length;
  const missing = [...expected].filter((id) => !seen.has(id)).length;
  const unexpected = [...seen.keys()].filter((id) => !expected.has(id)).length;
  return { duplicated, missing, unexpected };
}

describe('pitwall exporter', () => {
  let redis: Redis;
  let duck: DuckDBConnection;
  let duckInstance: DuckDBInstance;
  const children: ChildProcess[] = [];
  const streams: string[] = [];
  const dirs: string[] = [];

  const newStream = () => {
    const stream = `test:telemetry:${randomUUID()}`;
    streams.push(stream);
    return stream;
  };
  const newDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pitwall-export-'));
    dirs.push(dir);
    return dir;
  };
  const groupState = async (stream: string) => {
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    const group = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g.name === EXPORT_GROUP);
    return { lag: Number(group?.lag ?? -1), pending: Number(group?.pending ?? -1) };
  };
  const drained = (stream: string) =>
    waitFor(async () => {
      const { lag, pending } = await groupState(stream);
      return lag === 0 && pending === 0;
    }, { timeoutMs: 60_000, what: 'the export group to read and acknowledge every entry' });

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    duckInstance = await DuckDBInstance.create(':memory:');
    duck = await duckInstance.connect();
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c, 'SIGKILL')));
    for (const stream of streams.splice(0)) {
      const keys = await redis.keys(`pitwall:{${stream}}*`);
      await redis.del(stream, ...keys);
    }
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    redis.disconnect();
    duck.closeSync();
    duckInstance.closeSync();
  });

  /** A Redis of the test's own, to restart or roll back, with a client that rides out its restarts. */
  const withPrivateRedis = async (test: (privateRedis: PrivateRedis, own: Redis) => Promise<void>) => {
    const privateRedis = await PrivateRedis.start();
    const own = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
    own.on('error', () => undefined);
    try {
      await test(privateRedis, own);
    } finally {
      own.disconnect();
      await privateRedis.remove();
    }
  };

  /** Stops the exporter as `npm stop` does; then every fix must be in the files once, and nothing else. */
  const stopAndExpectEachFixOnce = async (child: ChildProcess, dir: string, fixes: readonly { deviceId: string; ts: number }[]) => {
    await stopChild(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
    const rows = await readBack(duck, dir);
    expect(rows).toHaveLength(fixes.length);
    expect(new Set(rows.map((r) => `${r.device_id} ${r.ts_ms}`))).toEqual(new Set(fixes.map((f) => `${f.deviceId} ${f.ts}`)));
  };

  it('writes every entry exactly once through SIGKILLs at random moments and a standby taking over', async () => {
    const stream = newStream();
    const dir = await newDir();
    const race = simulateRace({ start: Date.parse('2026-03-14T23:57:00Z'), entries: 12, stages: ['ss2'], seed: 11 });
    // Two fix dates (the race runs past midnight UTC), a tracker resend (same fix, a second entry), and entries a
    // tracker fleet really sends now and then: one that is not JSON, one without a GPS time.
    const fixes: Position[] = [...race.slice(0, 2500), race[100]!, ...race.slice(2500, 5000)];
    expect(fixes.length).toBeGreaterThan(3000);
    const malformedAt = new Set([700, fixes.length - 300]);
    const expectedIds = new Set<string>();
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i += 50) {
        const pipeline = redis.pipeline();
        for (let k = i; k < Math.min(to, i + 50); k++) {
          if (malformedAt.has(k)) pipeline.xadd(stream, '*', 'ts', 'x', 'device_id', fixes[k]!.deviceId, 'codec', '8', 'payload', k === 700 ? '{"device_id":' : JSON.stringify({ device_id: fixes[k]!.deviceId }));
          else pipeline.xadd(stream, '*', ...toStreamFields(fixes[k]!));
        }
        for (const [error, id] of (await pipeline.exec())!) {
          expect(error).toBeNull();
          expectedIds.add(id as string);
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    };

    const running = new Map([
      ['export-a', await exporter(stream, dir, 'export-a')],
      ['export-b', await exporter(stream, dir, 'export-b')],
    ]);
    children.push(...running.values());
    const publishing = publish(0, fixes.length);
    // Kill whichever holds the lease, at random moments, and start it again: the other takes over meanwhile.
    for (let round = 0; round < 8; round++) {
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 600));
      const holder = (await redis.get(`pitwall:{${stream}}:exporter`)) ?? 'export-a';
      const name = holder.startsWith('export-b:') ? 'export-b' : 'export-a';
      await stopChild(running.get(name)!, 'SIGKILL');
      const again = await exporter(stream, dir, name);
      running.set(name, again);
      children.push(again);
    }
    await publishing;
    await drained(stream);

    const malformedIds = new Set<string>();
    for (const { id, fields } of toStreamEntries((await redis.xrange(stream, '-', '+')) as [string, string[]][])) {
      if (!readExportEntry(id, fields, () => null).ok) malformedIds.add(id);
    }
    expect(malformedIds.size).toBe(2);
    const valid = new Set([...expectedIds].filter((id) => !malformedIds.has(id)));
    const rows = await readBack(duck, dir);
    expect(duplicatesAndMissing(rows, valid)).toEqual({ duplicated: 0, missing: 0, unexpected: 0 });
    expect(rows).toHaveLength(fixes.length - 2);

    // Typed columns, Hive partitions by fix date, and the demo trackers' IO decoded by their FMB920 mapping.
    expect(new Set(rows.map((r) => r.ts_type))).toEqual(new Set(['TIMESTAMP WITH TIME ZONE']));
    expect(new Set(rows.map((r) => r.lat_type))).toEqual(new Set(['DOUBLE']));
    expect(new Set(rows.map((r) => r.date))).toEqual(new Set(['2026-03-14', '2026-03-15']));
    for (const row of rows) expect(row.date).toBe(new Date(Number(row.ts_ms)).toISOString().slice(0, 10));
    const byId = new Map(rows.map((r) => [r.stream_id, r]));
    const sample = [...valid][1234]!;
    const [, flat] = ((await redis.xrange(stream, sample, sample)) as [string, string[]][])[0]!;
    const payload = JSON.parse(flat[flat.indexOf('payload') + 1]!);
    expect(byId.get(sample)).toMatchObject({ device_id: payload.device_id, ts_ms: BigInt(Date.parse(payload.timestamp)), latitude: payload.latitude, satellites: payload.satellites });
    expect(JSON.parse(byId.get(sample)!.attributes)).toEqual(payload.attributes);
    const demoImeis = new Set(demoEntries.map((e) => e.imei));
    const decoded = rows.filter((r) => demoImeis.has(r.device_id) && r.decoded !== null);
    expect(decoded.length).toBe(rows.filter((r) => demoImeis.has(r.device_id)).length);
    expect(decoded[0]!.mapping_version).toMatch(/^r\d{12}-[0-9a-f]{16}$/);
    expect(Object.keys(JSON.parse(decoded[0]!.decoded!)).length).toBeGreaterThan(0);
    expect(await readdir(join(dir, partitionName('2026-03-14')))).not.toContainEqual(expect.stringMatching(/\.tmp$/));

    // `pitwall query-export`: the files joined with who carried each tracker, from Directus's tables.
    const query = await runCli(
      ['query-export', '--json', 'SELECT c.race_number, max(p.speed) AS top_speed, count(*) AS fixes FROM positions p JOIN crews c USING (device_id) GROUP BY ALL ORDER BY race_number'],
      { EXPORT_DIR: dir, DATABASE_URL: inject('stack').processorDatabaseUrl },
    );
    expect(query.code, query.stderr).toBe(0);
    const byEntry = new Map<string, { speeds: number[] }>();
    for (const row of rows) {
      const entry = demoEntries.find((e) => e.imei === row.device_id);
      if (!entry) continue;
      const seen = byEntry.get(String(entry.raceNumber)) ?? { speeds: [] };
      seen.speeds.push(row.speed);
      byEntry.set(String(entry.raceNumber), seen);
    }
    expect(JSON.parse(query.stdout)).toEqual(
      [...byEntry].sort(([a], [b]) => (a < b ? -1 : 1)).map(([raceNumber, { speeds }]) => ({ race_number: raceNumber, top_speed: Math.max(...speeds), fixes: speeds.length })),
    );
  }, 150_000);

  it('after a crash between two files of one batch, writes only the missing file and removes the half-written one', async () => {
    const stream = newStream();
    const dir = await newDir();
    const fixes = simulateRace({ start: Date.parse('2026-03-14T23:58:00Z'), entries: 2, stages: ['ss2'], seed: 3 }).slice(0, 400);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    // The crashed exporter: it read every entry, wrote the first date's part, and was writing the second one.
    await redis.xgroup('CREATE', stream, EXPORT_GROUP, '0', 'MKSTREAM');
    const read = (await redis.xreadgroup('GROUP', EXPORT_GROUP, 'crashed', 'COUNT', 1000, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const entries = toStreamEntries(read[0]![1]);
    const range = { first: entries[0]!.id, last: entries.at(-1)!.id };
    const batch = await ParquetBatch.open('zstd', 1);
    const dates = new Set<string>();
    for (const entry of entries) {
      const read = readExportEntry(entry.id, entry.fields, () => null);
      if (!read.ok) throw new Error(read.reason);
      const date = new Date(read.entry.ts).toISOString().slice(0, 10);
      dates.add(date);
      batch.add(read.entry, date);
    }
    expect([...dates].sort()).toEqual(['2026-03-14', '2026-03-15']);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, partitionName('2026-03-14')), { recursive: true });
    await mkdir(join(dir, partitionName('2026-03-15')), { recursive: true });
    const firstPart = join(dir, partitionName('2026-03-14'), partName(range));
    await batch.write('2026-03-14', firstPart);
    await writeFile(join(dir, partitionName('2026-03-15'), temporaryPartName(range)), 'half a file');
    batch.close();
    const before = await stat(firstPart);

    children.push(await exporter(stream, dir, 'export-a'));
    await drained(stream);
    const rows = await readBack(duck, dir);
    expect(duplicatesAndMissing(rows, new Set(entries.map((e) => e.id)))).toEqual({ duplicated: 0, missing: 0, unexpected: 0 });
    expect((await stat(firstPart)).mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(join(dir, partitionName('2026-03-15')))).toEqual([partName(range)]);
  }, 90_000);

  it('writes what it has on SIGTERM, and rotates a quiet stream by time', async () => {
    const stream = newStream();
    const dir = await newDir();
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 5 }).slice(0, 50);
    const child = await exporter(stream, dir, 'export-a', { EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '60000' });
    children.push(child);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    await waitFor(async () => (await groupState(stream)).pending === 50, { what: 'the entries read and held for the batch' });
    expect(await readBack(duck, dir).catch(() => [])).toHaveLength(0);
    // The gauges are read at the scrape, without /healthz having been asked.
    const metrics = await fetch(`${child.metricsUrl}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(/^pitwall_export_pending_entries 50$/m);
    expect(metrics).toMatch(/^pitwall_export_stream_lag_entries 0$/m);
    await stopChild(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
    expect(await readBack(duck, dir)).toHaveLength(50);
    expect((await groupState(stream)).pending).toBe(0);

    const quiet = await exporter(stream, dir, 'export-a', { EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '500' });
    children.push(quiet);
    await publishFixes(redis, stream, fixes.slice(0, 5).map((f) => ({ ...f, ts: f.ts + 3_600_000 })), { speed: 0 });
    await waitFor(async () => (await readBack(duck, dir)).length === 55, { what: 'the five new rows written by the age rotation' });
  }, 60_000);

  it('says at once on /healthz that a part file cannot be written, and writes it once the path is free', async () => {
    const stream = newStream();
    const dir = await newDir();
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 7 }).slice(0, 20);
    // A file where the day's partition directory goes: as a disk that refuses the part would, every write fails.
    const blocker = join(dir, partitionName('2026-03-14'));
    await writeFile(blocker, 'not a directory');
    const child = await exporter(stream, dir, 'export-a', { EXPORT_FILE_ROWS: '10' });
    children.push(child);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    const health = () => fetch(`${child.metricsUrl}/healthz`).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
    const failing = await waitFor(async () => {
      const answer = await health();
      return answer.status === 503 ? answer : undefined;
    }, { what: '/healthz to report the failing write' });
    expect(failing.body).toMatchObject({ ok: false, reasons: ['export-files-failing'], errors: { files: expect.stringContaining('EEXIST') } });
    expect(await fetch(`${child.metricsUrl}/metrics`).then((response) => response.text())).toMatch(/^pitwall_export_file_errors_total [1-9]\d*$/m);
    expect((await groupState(stream)).pending).toBeGreaterThan(0);

    await rm(blocker);
    await waitFor(async () => (await readBack(duck, dir).catch(() => [])).length === 20, { what: 'the batches written once the path is free' });
    expect(await health()).toMatchObject({ status: 200, body: { ok: true, reasons: [] } });
    await stopAndExpectEachFixOnce(child, dir, fixes);
  }, 60_000);

  it('counts its lag itself: a group whose read counter Redis brought back stale reads as caught up once it is', async () => {
    const stream = newStream();
    const dir = await newDir();
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 6 }).slice(0, 60);
    const child = await exporter(stream, dir, 'export-a', { EXPORT_FILE_ROWS: '10' });
    children.push(child);
    await publishFixes(redis, stream, fixes.slice(0, 40), { speed: 0 });
    await waitFor(async () => (await readBack(duck, dir).catch(() => [])).length === 40, { what: 'the first entries written' });
    // As a Redis restarted from its append-only file left it: the group where it was, its entries-read counter behind.
    const [group] = ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]])));
    await redis.call('XGROUP', 'SETID', stream, EXPORT_GROUP, String(group!['last-delivered-id']), 'ENTRIESREAD', 5);
    await publishFixes(redis, stream, fixes.slice(40), { speed: 0 });
    await waitFor(async () => (await readBack(duck, dir).catch(() => [])).length === 60, { what: 'the rest written' });
    expect((await groupState(stream)).lag).toBeGreaterThan(0); // Redis's own figure, still wrong
    const metrics = await fetch(`${child.metricsUrl}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(/^pitwall_export_stream_lag_entries 0$/m);
    expect(await fetch(`${child.metricsUrl}/healthz`).then((response) => response.json())).toMatchObject({ ok: true, lag: 0 });
    // Behind, it says by how much: counted up to the limit, then Redis's figure where that is larger.
    const ids = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map(([id]) => id);
    const at = (lastDeliveredId: string, lag: number | null) => ({ lastDeliveredId, lag, pending: 0, consumers: 1 });
    expect(await unreadEntries(redis, stream, at(ids[52]!, 5))).toBe(7);
    expect(await unreadEntries(redis, stream, at(ids[52]!, 5), 7)).toBe(7);
    expect(await unreadEntries(redis, stream, at(ids[52]!, 5), 6)).toBe(6);
    expect(await unreadEntries(redis, stream, at('0-0', 250), 50)).toBe(250);
  }, 90_000);

  it('keeps the entries in hand when Redis restarts without its data, and writes them once with what follows', async () => {
    // Read and held for a batch, they are in no stream and no pending list after the restart: only in the exporter.
    await withPrivateRedis(async (privateRedis, own) => {
      const stream = `test:telemetry:${randomUUID()}`;
      const dir = await newDir();
      const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 6 }).slice(0, 70);
      const child = await exporter(stream, dir, 'export-a', { REDIS_URL: privateRedis.url, EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '60000' });
      children.push(child);
      await publishFixes(own, stream, fixes.slice(0, 50), { speed: 0 });
      const pending = async () => Number(((await own.xpending(stream, EXPORT_GROUP)) as unknown[])[0]);
      await waitFor(async () => (await pending()) === 50, { what: 'the entries read and held for the batch' });
      await privateRedis.restart(500);
      await publishFixes(own, stream, fixes.slice(50), { speed: 0 });
      await waitFor(async () => (await pending().catch(() => 0)) === 20, { timeoutMs: 30_000, what: 'the entries after the restart read' });
      await stopAndExpectEachFixOnce(child, dir, fixes);
    });
  }, 90_000);

  it('writes nothing twice when Redis goes back to an older snapshot and delivers written entries again', async () => {
    await withPrivateRedis(async (privateRedis, own) => {
      const stream = `test:telemetry:${randomUUID()}`;
      const dir = await newDir();
      const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 8 }).slice(0, 40);
      // The snapshot holds the first 30 entries and no export group yet.
      await publishFixes(own, stream, fixes.slice(0, 30), { speed: 0 });
      await own.save();
      const child = await exporter(stream, dir, 'export-a', { REDIS_URL: privateRedis.url, EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '300' });
      children.push(child);
      await waitFor(async () => (await readBack(duck, dir).catch(() => [])).length === 30, { what: 'the first 30 entries written' });
      await waitFor(async () => Number(((await own.xpending(stream, EXPORT_GROUP)) as unknown[])[0]) === 0, { what: 'the first 30 entries acknowledged' });
      // Back to the snapshot: the 30 entries are in the stream again, and the group made anew delivers them again.
      await privateRedis.restart(200, { fromSnapshot: true });
      await publishFixes(own, stream, fixes.slice(30), { speed: 0 });
      await waitFor(async () => {
        const group = await groupInfo(own, stream, EXPORT_GROUP).catch(() => null);
        return group !== null && group.lag === 0 && group.pending === 0;
      }, { timeoutMs: 30_000, what: 'every entry of the restored stream read and acknowledged' });
      await stopAndExpectEachFixOnce(child, dir, fixes);
    });
  }, 90_000);

  it('gathers nothing twice when Redis goes back to an older state that still holds its lease, mid-batch', async () => {
    // A Redis whose append-only file lost its last second comes back with the lease (renewed all along) and with the
    // group before its last reads: it delivers again entries the batch being gathered holds, none of them written yet.
    await withPrivateRedis(async (privateRedis, own) => {
      const stream = `test:telemetry:${randomUUID()}`;
      const dir = await newDir();
      const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 9 }).slice(0, 40);
      const child = await exporter(stream, dir, 'export-a', { REDIS_URL: privateRedis.url, EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '60000', EXPORT_LEASE_MS: '10000' });
      children.push(child);
      await waitFor(async () => (await own.exists(`pitwall:{${stream}}:exporter`)) === 1 && (await groupInfo(own, stream, EXPORT_GROUP)) !== null, { what: 'the lease taken and the group made' });
      // The state Redis goes back to: the lease held, 30 entries in the stream, none of them delivered yet.
      child.kill('SIGSTOP');
      try {
        await publishFixes(own, stream, fixes.slice(0, 30), { speed: 0 });
        await own.save();
      } finally {
        child.kill('SIGCONT');
      }
      const pending = async () => Number(((await own.xpending(stream, EXPORT_GROUP)) as unknown[])[0]);
      await waitFor(async () => (await pending()) === 30, { what: 'the 30 entries read into the batch being gathered' });
      await privateRedis.restart(200, { fromSnapshot: true });
      await waitFor(async () => {
        const group = await groupInfo(own, stream, EXPORT_GROUP).catch(() => null);
        return group !== null && group.lag === 0 && group.pending === 30;
      }, { timeoutMs: 30_000, what: 'the 30 entries delivered again' });
      await publishFixes(own, stream, fixes.slice(30), { speed: 0 });
      await waitFor(async () => (await pending().catch(() => 0)) === 40, { timeoutMs: 30_000, what: 'the entries after the restart read' });
      const metrics = await (await fetch(`${child.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/^pitwall_export_redelivered_entries_total 30$/m);
      await stopAndExpectEachFixOnce(child, dir, fixes);
    });
  }, 90_000);

  it('carries on when the stream is deleted under it: the entries in hand and the new ones are written once', async () => {
    const stream = newStream();
    const dir = await newDir();
    const fixes = simulateRace({ start: Date.parse('2026-03-14T10:00:00Z'), entries: 2, stages: ['ss2'], seed: 7 }).slice(0, 40);
    const child = await exporter(stream, dir, 'export-a', { EXPORT_FILE_ROWS: '100000', EXPORT_FILE_MAX_AGE_MS: '60000' });
    children.push(child);
    await publishFixes(redis, stream, fixes.slice(0, 25), { speed: 0 });
    await waitFor(async () => (await groupState(stream)).pending === 25, { what: 'the entries read and held for the batch' });
    // An operator deletes the stream; the tracker fleet goes on writing, which makes it again without the group.
    await redis.del(stream);
    await publishFixes(redis, stream, fixes.slice(25), { speed: 0 });
    await waitFor(async () => (await groupState(stream)).pending === 15, { timeoutMs: 30_000, what: 'the group made again and the new entries read' });
    await stopAndExpectEachFixOnce(child, dir, fixes);
  }, 60_000);
});
