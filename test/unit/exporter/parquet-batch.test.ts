import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../../src/domain/position.ts';
import { readExportEntry, type ExportEntry } from '../../../src/exporter/export-row.ts';
import { ParquetBatch } from '../../../src/exporter/parquet-batch.ts';
import { fixDate } from '../../../src/exporter/part-files.ts';
import { fieldsOf, fix } from './fixtures.ts';

function entryOf(id: string, position: Position, decoded: { json: string; mappingVersion: string } | null = null): ExportEntry {
  const read = readExportEntry(id, fieldsOf(id, position), () => decoded);
  if (!read.ok) throw new Error(read.reason);
  return read.entry;
}

interface FileRow {
  stream_id: string;
  device_id: string;
  ts: string;
  ts_type: string;
  latitude: number;
  longitude: number;
  altitude: number;
  speed: number;
  heading: number;
  satellites: number;
  priority: number;
  codec: string;
  attributes: string;
  attributes_type: string;
  decoded_attributes: string | null;
  mapping_version: string | null;
}

describe('ParquetBatch', () => {
  let dir: string;
  let instance: DuckDBInstance;
  let duck: DuckDBConnection;
  const readFile = async (path: string): Promise<FileRow[]> =>
    (
      await duck.runAndReadAll(
        `SELECT stream_id, device_id, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') AS ts, typeof(ts) AS ts_type, latitude, longitude, altitude, speed, heading,
           satellites, priority, codec, attributes::VARCHAR AS attributes, typeof(attributes) AS attributes_type, decoded_attributes::VARCHAR AS decoded_attributes, mapping_version
         FROM read_parquet('${path}') ORDER BY stream_id`,
      )
    ).getRowObjectsJS() as unknown as FileRow[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pitwall-parquet-batch-'));
    instance = await DuckDBInstance.create(':memory:');
    duck = await instance.connect();
  });

  afterAll(async () => {
    duck.closeSync();
    instance.closeSync();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the typed columns read from each payload, the raw IO as received and the decoded IO as JSON', async () => {
    const batch = await ParquetBatch.open('zstd', 1);
    try {
      const decoded = { json: '{"ignition":true,"odometer_km":48123.456}', mappingVersion: 'r000000000003-0123456789abcdef' };
      batch.add(entryOf('1-0', fix, decoded), fixDate(fix.ts));
      batch.add(entryOf('2-0', { ...fix, ts: fix.ts + 1, attributes: {} }), fixDate(fix.ts));
      expect(batch.rows).toBe(2);
      expect(batch.partitionDates).toEqual(['2026-03-14']);
      const path = join(dir, 'typed.parquet');
      expect(await batch.write('2026-03-14', path)).toBe(2);
      const [first, second] = await readFile(path);
      expect(first).toEqual({
        stream_id: '1-0',
        device_id: fix.deviceId,
        ts: '2026-03-14T10:00:00.123000',
        ts_type: 'TIMESTAMP WITH TIME ZONE',
        latitude: 44.5596541,
        longitude: 6.0793126,
        altitude: 1245.5,
        speed: 87,
        heading: 271,
        satellites: 12,
        priority: 1,
        codec: '8E',
        attributes: expect.any(String),
        attributes_type: 'JSON',
        decoded_attributes: decoded.json,
        mapping_version: decoded.mappingVersion,
      });
      expect(JSON.parse(first!.attributes)).toEqual(fix.attributes);
      expect(second).toMatchObject({ stream_id: '2-0', attributes: '{}', decoded_attributes: null, mapping_version: null, ts: '2026-03-14T10:00:00.124000' });
    } finally {
      batch.close();
    }
  });

  it('keeps odd but real values as the tracker sent them', async () => {
    const batch = await ParquetBatch.open('snappy', 1);
    try {
      const odd: Position[] = [
        { ...fix, latitude: 0, longitude: 0, satellites: 0, speed: 0 },
        { ...fix, speed: 400, angle: 360 },
        { ...fix, ts: 0 },
        { ...fix, ts: Date.UTC(10_000, 0, 1) - 1, latitude: -90, longitude: 180 },
        { ...fix, altitude: -430.5, satellites: 32_767, priority: 255 as Position['priority'] },
        // Beyond a 4-byte float: kept as sent, not turned into NULL.
        { ...fix, altitude: 1e300, speed: 0.1, angle: 359.99 },
      ];
      odd.forEach((position, i) => batch.add(entryOf(`${i + 1}-0`, position), 'mixed'));
      const path = join(dir, 'odd.parquet');
      await batch.write('mixed', path);
      const rows = await readFile(path);
      expect(rows.map((r) => [r.latitude, r.longitude, r.speed, r.heading, r.altitude, r.satellites, r.priority])).toEqual(
        odd.map((p) => [p.latitude, p.longitude, p.speed, p.angle, p.altitude, p.satellites, p.priority]),
      );
      expect(rows.map((r) => r.ts)).toEqual(odd.map((p) => new Date(p.ts).toISOString().replace('Z', '000')));
    } finally {
      batch.close();
    }
  });

  it('writes every escape the entry check lets through: paired surrogates, an escaped backslash, NUL', async () => {
    const batch = await ParquetBatch.open('snappy', 1);
    try {
      const base = fieldsOf('1-0', fix);
      const texts = ['"note":"\\ud83d\\ude00 \\u00e9","attributes":{', '"note":"\\\\ud800","attributes":{', '"note":"a\\u0000b","attributes":{'];
      texts.forEach((text, i) => {
        const read = readExportEntry(`${i + 1}-0`, { ...base, payload: base.payload!.replace('"attributes":{', text) }, () => null);
        if (!read.ok) throw new Error(read.reason);
        batch.add(read.entry, 'escapes');
      });
      const path = join(dir, 'escapes.parquet');
      expect(await batch.write('escapes', path)).toBe(texts.length);
      expect((await readFile(path)).map((r) => r.latitude)).toEqual(texts.map(() => fix.latitude));
    } finally {
      batch.close();
    }
  });

  it('writes one date at a time, the same rows for ClickHouse, and starts empty after clear', async () => {
    const batch = await ParquetBatch.open('zstd', 1);
    try {
      const late = { ...fix, ts: Date.parse('2026-03-15T00:00:01Z') };
      batch.add(entryOf('1-0', fix), fixDate(fix.ts));
      batch.add(entryOf('2-0', late), fixDate(late.ts));
      batch.add(entryOf('3-0', fix), fixDate(fix.ts));
      expect(batch.partitionDates).toEqual(['2026-03-14', '2026-03-15']);
      await batch.write('2026-03-14', join(dir, 'a.parquet'));
      await batch.write('2026-03-15', join(dir, 'b.parquet'));
      expect((await readFile(join(dir, 'a.parquet'))).map((r) => r.stream_id)).toEqual(['1-0', '3-0']);
      expect((await readFile(join(dir, 'b.parquet'))).map((r) => r.stream_id)).toEqual(['2-0']);
      const rows = await batch.exportRows();
      expect(rows.map((r) => r.streamId).sort()).toEqual(['1-0', '2-0', '3-0']);
      expect(rows.find((r) => r.streamId === '2-0')).toEqual({
        streamId: '2-0',
        deviceId: fix.deviceId,
        ts: late.ts,
        latitude: fix.latitude,
        longitude: fix.longitude,
        altitude: fix.altitude,
        speed: fix.speed,
        heading: fix.angle,
        satellites: fix.satellites,
        priority: fix.priority,
        codec: '8E',
        attributes: expect.any(String),
        decoded: null,
        mappingVersion: null,
      });
      await batch.clear();
      expect([batch.rows, batch.bytes, batch.partitionDates]).toEqual([0, 0, []]);
      expect(await batch.exportRows()).toEqual([]);
      batch.add(entryOf('4-0', fix), fixDate(fix.ts));
      expect((await batch.exportRows()).map((r) => r.streamId)).toEqual(['4-0']);
    } finally {
      batch.close();
    }
  });

  it('writes to a path with a quote in it', async () => {
    const batch = await ParquetBatch.open('zstd', 1);
    try {
      batch.add(entryOf('1-0', fix), '2026-03-14');
      const path = join(dir, "crew's export.parquet");
      expect(await batch.write('2026-03-14', path)).toBe(1);
      expect((await duck.runAndReadAll(`SELECT count(*) FROM read_parquet('${path.replaceAll("'", "''")}')`)).getRowsJS()[0]![0]).toBe(1n);
    } finally {
      batch.close();
    }
  });
});
