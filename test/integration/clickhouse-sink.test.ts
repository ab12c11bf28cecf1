import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClickHouseSink, type ClickHouseSinkOptions } from '../../src/exporter/clickhouse-sink.ts';
import type { ExportRow } from '../../src/exporter/export-row.ts';
import { startClickHouse, type ClickHouseServer } from '../support/clickhouse-server.ts';
import { waitFor } from '../support/wait-for.ts';

const database = 'pitwall_export';
const log = pino({ level: 'silent' });
let server: ClickHouseServer;
let reader: ClickHouseClient;
let sink: ClickHouseSink | undefined;
let tableNo = 0;
let table: string;

// 2026-03-31 23:59:59.123456 UTC: fractional milliseconds, one second before the next monthly partition.
const t0 = Date.UTC(2026, 2, 31, 23, 59, 59, 123) + 0.456;

function row(streamId: string, ts: number, overrides: Partial<ExportRow> = {}): ExportRow {
  return {
    streamId,
    deviceId: '356307042441013',
    ts,
    latitude: 45.123456789012,
    longitude: 6.987654321098,
    altitude: 1234.5,
    speed: 87.25,
    heading: 271.5,
    satellites: 12,
    priority: 1,
    codec: '8E',
    attributes: '{"1":1,"16":{"__bigint":"48123456"},"66":12345}',
    decoded: null,
    mappingVersion: null,
    ...overrides,
  };
}

/** `n` rows one second apart from `from`, the stream ids following on from `firstId`: they cross into April. */
const batch = (firstId: number, n: number, from = t0): ExportRow[] =>
  Array.from({ length: n }, (_, i) => row(`${1_774_900_000_000 + firstId + i}-0`, from + i * 1000));

const open = (overrides: Partial<ClickHouseSinkOptions> = {}) =>
  ClickHouseSink.open({ url: server.url, database, table, ...overrides }, log).then((opened) => (sink = opened));

async function select<T>(query: string): Promise<T[]> {
  return (await reader.query({ query, format: 'JSONEachRow' })).json<T>();
}

/** What a reader of the table sees: FINAL where only the merge folds retried rows (see Deduplication). */
async function visible(of: ClickHouseSink): Promise<{ rows: number; streams: number }> {
  const final = of.deduplication === 'final' ? ' FINAL' : '';
  const [counts] = await select<{ rows: string; streams: string }>(`SELECT count() AS rows, uniqExact(stream_id) AS streams FROM ${database}.${table}${final}`);
  return { rows: Number(counts!.rows), streams: Number(counts!.streams) };
}

/** An insert the client gave up on may still be running in the server: wait until none is. */
const insertsSettled = () =>
  waitFor(async () => (await select(`SELECT query_id FROM system.processes WHERE query LIKE 'INSERT INTO%${table}%'`)).length === 0, {
    what: 'inserts to finish in ClickHouse',
  });

beforeAll(async () => {
  server = await startClickHouse();
  reader = createClient({ url: server.url });
});

afterEach(async () => {
  await sink?.close();
  sink = undefined;
});

afterAll(async () => {
  await reader?.close();
  await server?.dispose();
});

describe('ClickHouseSink against a real ClickHouse server', () => {
  beforeAll(() => {
    table = `positions_${++tableNo}`;
  });

  it('creates the database and table with the export columns, and opening again leaves them as they are', async () => {
    const first = await open();
    await first.insert('batch-a', batch(0, 2));
    await first.close();
    const again = await open();

    const columns = await select<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}'`,
    );
    const tsType = again.features.dateTime64 ? "DateTime64(6, 'UTC')" : "DateTime('UTC')";
    expect(columns).toEqual([
      { name: 'stream_id', type: 'String' },
      { name: 'device_id', type: 'String' },
      { name: 'ts', type: tsType },
      { name: 'ts_us', type: 'Int64' },
      { name: 'latitude', type: 'Float64' },
      { name: 'longitude', type: 'Float64' },
      { name: 'altitude', type: 'Float64' },
      { name: 'speed', type: 'Float64' },
      { name: 'heading', type: 'Float64' },
      { name: 'satellites', type: 'UInt16' },
      { name: 'priority', type: 'UInt8' },
      { name: 'codec', type: 'String' },
      { name: 'attributes', type: 'String' },
      { name: 'decoded', type: 'Nullable(String)' },
      { name: 'mapping_version', type: 'Nullable(String)' },
    ]);
    const [engine] = await select<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = '${database}' AND name = '${table}'`);
    expect(engine!.engine).toBe('ReplacingMergeTree');
    expect((await visible(again)).rows).toBe(2);
    expect(again.deduplication).toBe(again.features.insertTokens ? 'token' : 'final');
    console.info(`ClickHouse ${again.features.version}: deduplication '${again.deduplication}', DateTime64 ${again.features.dateTime64}`);
  });

  it('refuses database and table names that are not plain identifiers, before sending any SQL', async () => {
    await expect(open({ table: 'positions; DROP TABLE x' })).rejects.toThrow(/table name "positions; DROP TABLE x" must be letters, digits and underscores/);
    await expect(open({ database: '`x`' })).rejects.toThrow(/database name/);
  });
});

describe('a batch stored by ClickHouseSink', () => {
  beforeAll(() => {
    table = `positions_${++tableNo}`;
  });

  it('reads back with its typed values: microsecond time, doubles, null and present decoded values', async () => {
    const stored = await open();
    const decoded = '{"ignition":true,"external_voltage":12.345}';
    await stored.insert('batch-typed', [row('1-0', t0), row('2-0', t0 + 1000, { decoded, mappingVersion: 'fmc650@3', satellites: 255, priority: 2 })]);

    const rows = await select<Record<string, unknown>>(`SELECT * FROM ${database}.${table} ORDER BY stream_id`);
    const ts = stored.features.dateTime64 ? ['2026-03-31 23:59:59.123456', '2026-04-01 00:00:00.123456'] : ['2026-03-31 23:59:59', '2026-04-01 00:00:00'];
    expect(rows.map((r) => ({ ...r, ts_us: Number(r.ts_us) }))).toEqual([
      {
        stream_id: '1-0',
        device_id: '356307042441013',
        ts: ts[0],
        ts_us: 1_775_001_599_123_456,
        latitude: 45.123456789012,
        longitude: 6.987654321098,
        altitude: 1234.5,
        speed: 87.25,
        heading: 271.5,
        satellites: 12,
        priority: 1,
        codec: '8E',
        attributes: '{"1":1,"16":{"__bigint":"48123456"},"66":12345}',
        decoded: null,
        mapping_version: null,
      },
      expect.objectContaining({ stream_id: '2-0', ts: ts[1], ts_us: 1_775_001_600_123_456, decoded, mapping_version: 'fmc650@3', satellites: 255, priority: 2 }),
    ]);
    // The month partition follows ts, so the second row sits in April.
    const partitions = await select<{ partition: string }>(
      `SELECT DISTINCT partition FROM system.parts WHERE database = '${database}' AND table = '${table}' AND active ORDER BY partition`,
    );
    expect(partitions.map((p) => p.partition)).toEqual(['202603', '202604']);
  });
});

describe('exactly once', () => {
  beforeEach(() => {
    table = `positions_${++tableNo}`;
  });

  it('a batch retried under the same id is seen once; a distinct batch is stored beside it', async () => {
    const stored = await open();
    await stored.insert('batch-1', batch(0, 500));
    await stored.insert('batch-1', batch(0, 500));
    expect(await visible(stored)).toEqual({ rows: 500, streams: 500 });

    await stored.insert('batch-2', batch(500, 300, t0 + 500_000));
    expect(await visible(stored)).toEqual({ rows: 800, streams: 800 });

    // Without tokens the copies are on disk until a merge folds them; a forced merge shows the key is right.
    await reader.command({ query: `OPTIMIZE TABLE ${database}.${table} FINAL` });
    const [plain] = await select<{ rows: string }>(`SELECT count() AS rows FROM ${database}.${table}`);
    expect(Number(plain!.rows)).toBe(800);
  });

  it('an insert into a crashed server throws, and its retry once the server is back stores the batch once', async () => {
    const stored = await open({ requestTimeoutMs: 5000 });
    await stored.insert('batch-1', batch(0, 200));

    await server.kill();
    try {
      await expect(stored.insert('batch-2', batch(200, 200, t0 + 200_000))).rejects.toThrow();
    } finally {
      await server.start();
    }
    await stored.insert('batch-2', batch(200, 200, t0 + 200_000));
    expect(await visible(stored)).toEqual({ rows: 400, streams: 400 });
  });

  it('an insert that times out against a frozen server may land late; with its retry each row is still seen once', async () => {
    const stored = await open({ requestTimeoutMs: 1000 });
    const rows = batch(0, 5000);

    server.pause();
    try {
      await expect(stored.insert('batch-1', rows)).rejects.toThrow();
    } finally {
      server.resume();
    }
    await stored.insert('batch-1', rows);
    await insertsSettled();
    expect(await visible(stored)).toEqual({ rows: 5000, streams: 5000 });
  });
});
