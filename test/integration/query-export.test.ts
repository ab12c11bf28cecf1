import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../src/domain/position.ts';
import { readExportEntry } from '../../src/exporter/export-row.ts';
import { ParquetBatch } from '../../src/exporter/parquet-batch.ts';
import { partName, partitionName } from '../../src/exporter/part-files.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { connectDb } from '../../src/store/db.ts';
import { toStreamEntries } from '../../src/stream/stream-entry.ts';
import { runCli } from '../support/cli.ts';
import { createScratchDatabase, dropScratchDatabase, pgUrl } from '../support/stack.ts';

const databaseName = `pitwall_query_export_${process.pid}`;
const EVENT = '00000000-0000-4000-8000-000000000001';
const SS1 = '00000000-0000-4000-8000-0000000000a1';
const SS2 = '00000000-0000-4000-8000-0000000000a2';
const CREWS = [
  { entry: '00000000-0000-4000-8000-000000000101', device: '00000000-0000-4000-8000-000000000201', imei: '350000000000101', raceNumber: 101, name: 'Laurent / Petit' },
  { entry: '00000000-0000-4000-8000-000000000102', device: '00000000-0000-4000-8000-000000000202', imei: '350000000000102', raceNumber: 102, name: 'Al-Rajhi / Gottschalk' },
];
const T0 = Date.parse('2026-03-14T08:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** The Directus tables query-export reads, reduced to the columns it uses (CONTRACTS section 3). */
async function createRaceTables(db: Knex): Promise<void> {
  await db.raw('CREATE TABLE events (id uuid PRIMARY KEY)');
  await db.raw('CREATE TABLE entries (id uuid PRIMARY KEY, event uuid REFERENCES events, race_number integer, name text)');
  await db.raw('CREATE TABLE devices (id uuid PRIMARY KEY, imei text UNIQUE NOT NULL)');
  await db.raw('CREATE TABLE entry_devices (id serial PRIMARY KEY, entry uuid REFERENCES entries, device uuid REFERENCES devices, valid_from timestamptz, valid_to timestamptz)');
  await db.raw('CREATE TABLE stages (id uuid PRIMARY KEY, event uuid REFERENCES events, name text, opens_at timestamptz, closes_at timestamptz)');
  await db.raw(`CREATE TABLE stage_results (id serial PRIMARY KEY, entry uuid REFERENCES entries, stage uuid REFERENCES stages, status text,
    started_at timestamptz, finished_at timestamptz)`);
}

describe('pitwall query-export', () => {
  let db: Knex;
  let dir: string;

  beforeAll(async () => {
    await createScratchDatabase(databaseName);
    db = connectDb(pgUrl(databaseName), { pool: 1, application: 'pitwall-query-export-test' });
    await createRaceTables(db);
    await db('events').insert({ id: EVENT });
    await db('entries').insert(CREWS.map((c) => ({ id: c.entry, event: EVENT, race_number: c.raceNumber, name: c.name })));
    await db('devices').insert(CREWS.map((c) => ({ id: c.device, imei: c.imei })));
    await db('entry_devices').insert(CREWS.map((c) => ({ entry: c.entry, device: c.device })));
    // Both stages open all day, as on a rally day: only the crews' runs say which fixes belong to which stage.
    await db('stages').insert([SS1, SS2].map((id, i) => ({ id, event: EVENT, name: `SS${i + 1}`, opens_at: at(0), closes_at: at(86_400) })));
    await db('stage_results').insert([
      { entry: CREWS[0]!.entry, stage: SS1, status: 'finished', started_at: at(100), finished_at: at(199) },
      { entry: CREWS[0]!.entry, stage: SS2, status: 'running', started_at: at(300), finished_at: null },
      { entry: CREWS[1]!.entry, stage: SS1, status: 'finished', started_at: at(150), finished_at: at(249) },
    ]);

    // A fix a second for 400 s from each tracker, its speed the second it was sent at: every count and maximum below
    // says which fixes were joined.
    dir = await mkdtemp(join(tmpdir(), 'pitwall-query-export-'));
    const batch = await ParquetBatch.open('zstd', 1);
    let sequence = 0;
    for (let second = 0; second < 400; second++) {
      for (const crew of CREWS) {
        const fix: Position = { deviceId: crew.imei, ts: T0 + second * 1000, latitude: 31.4, longitude: -4.2, altitude: 700, angle: 90, speed: second, satellites: 9, priority: 0, attributes: { '1': 1 }, codec: '8E' };
        const { id, fields } = toStreamEntries([[`${T0 + second * 1000}-${sequence++}`, toStreamFields(fix)]])[0]!;
        const read = readExportEntry(id, fields, () => null);
        if (!read.ok) throw new Error(read.reason);
        batch.add(read.entry, '2026-03-14');
      }
    }
    await mkdir(join(dir, partitionName('2026-03-14')));
    await batch.write('2026-03-14', join(dir, partitionName('2026-03-14'), partName({ first: `${T0}-0`, last: `${T0 + 399_000}-${sequence - 1}` })));
    batch.close();
  }, 60_000);

  afterAll(async () => {
    await db?.destroy();
    await dropScratchDatabase(databaseName);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const query = async (sql: string) => {
    const result = await runCli(['query-export', '--json', sql], { EXPORT_DIR: dir, DATABASE_URL: pgUrl(databaseName) });
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>[];
  };

  it('joins each crew\'s fixes to the stages it ran, by its runs, not by the stages\' shared window', async () => {
    const rows = await query(`
      SELECT r.stage, r.race_number, r.crew, r.status, max(p.speed) AS top_speed, min(p.speed) AS first_second, count(*) AS fixes
      FROM positions p
      JOIN crews c ON c.device_id = p.device_id
        AND p.ts >= coalesce(c.valid_from, p.ts) AND p.ts <= coalesce(c.valid_to, p.ts)
      JOIN stage_runs r ON r.entry = c.entry AND p.ts >= r.started_at AND p.ts <= coalesce(r.finished_at, p.ts)
      GROUP BY ALL ORDER BY r.stage, r.race_number`);
    expect(rows).toEqual([
      { stage: 'SS1', race_number: '101', crew: 'Laurent / Petit', status: 'finished', top_speed: 199, first_second: 100, fixes: 100 },
      { stage: 'SS1', race_number: '102', crew: 'Al-Rajhi / Gottschalk', status: 'finished', top_speed: 249, first_second: 150, fixes: 100 },
      // Still running: every fix from its start on.
      { stage: 'SS2', race_number: '101', crew: 'Laurent / Petit', status: 'running', top_speed: 399, first_second: 300, fixes: 100 },
    ]);
  });

  it('prints counts and times inside lists and structs as JSON', async () => {
    expect(await query(`SELECT [count(*)] AS counts, {n: count(*), first: min(ts)} AS summary, histogram(satellites) AS satellites FROM positions`)).toEqual([
      { counts: [CREWS.length * 400], summary: { n: CREWS.length * 400, first: at(0) }, satellites: [{ key: 9, value: CREWS.length * 400 }] },
    ]);
  });

  it('prints each statement of a script, an empty result by its columns, and refuses no SQL at all', async () => {
    const script = await runCli(['query-export', '--json', 'SELECT 1 AS one; SELECT 2 AS two'], { EXPORT_DIR: dir });
    expect(script.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([[{ one: 1 }], [{ two: 2 }]]);
    const none = await runCli(['query-export', "SELECT device_id, speed FROM positions WHERE device_id = 'nobody'"], { EXPORT_DIR: dir });
    expect(none.stdout.trim()).toBe('(no rows; columns: device_id, speed)');
    const blank = await runCli(['query-export', '  '], { EXPORT_DIR: dir });
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('usage: pitwall query-export');
  });

  it('keeps the crews and stages views as before, with the entry added last to crews', async () => {
    expect(await query('SELECT * FROM crews ORDER BY race_number')).toEqual(
      CREWS.map((c) => ({ device_id: c.imei, event: EVENT, race_number: String(c.raceNumber), crew: c.name, valid_from: null, valid_to: null, entry: c.entry })),
    );
    expect(await query('SELECT stage, opens_at, closes_at FROM stages ORDER BY stage')).toEqual([
      { stage: 'SS1', opens_at: at(0), closes_at: at(86_400) },
      { stage: 'SS2', opens_at: at(0), closes_at: at(86_400) },
    ]);
  });

  it('says crews, stages and stage runs need DATABASE_URL when it is not set', async () => {
    const result = await runCli(['query-export', 'SELECT count(*) FROM crews'], { EXPORT_DIR: dir });
    expect(result.code).toBe(1);
    // DuckDB alone said "Table with name crews does not exist! Did you mean "pg_views"?".
    expect(result.stderr).toMatch(/crews does not exist.*: crews, stages and stage_runs are read from Directus's database; set DATABASE_URL/);
  });

  it('says there are no exported files yet, and where it looked, when the export directory has none', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'pitwall-export-empty-'));
    try {
      const result = await runCli(['query-export', 'SELECT count(*) FROM positions'], { EXPORT_DIR: empty });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`no exported files in ${empty} yet`);
      const missing = await runCli(['query-export', 'SELECT count(*) FROM positions'], { EXPORT_DIR: join(empty, 'nowhere') });
      expect(missing.stderr).toContain(`EXPORT_DIR ${join(empty, 'nowhere')} does not exist`);
      // What needs no file still answers: the crews and stages before the first batch is written.
      const crews = await runCli(['query-export', '--json', 'SELECT count(*) AS n FROM crews'], { EXPORT_DIR: empty, DATABASE_URL: pgUrl(databaseName) });
      expect(crews.code, crews.stderr).toBe(0);
      expect(JSON.parse(crews.stdout)).toEqual([{ n: CREWS.length }]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
