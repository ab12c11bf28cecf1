import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { connectDb } from '../store/db.ts';

const USAGE = `usage: pitwall query-export [--json] "<SQL>"

Runs DuckDB SQL over the analytics export in EXPORT_DIR (default data/export). Views:
  positions  every exported row: stream_id, device_id, ts, latitude, longitude, altitude, speed, heading,
             satellites, priority, codec, attributes (JSON), decoded_attributes (JSON), mapping_version, date
  crews      device_id, event, race_number, crew, valid_from, valid_to, entry
  stages     event, stage, opens_at, closes_at
  stage_runs entry, event, stage, race_number, crew, status, started_at, finished_at (null while running): when each
             crew was on each stage, by its timing
  (crews, stages and stage_runs come from Directus, when DATABASE_URL is set)`;

const queryEnv = z.object({
  EXPORT_DIR: z.string().min(1).default('data/export'),
  DATABASE_URL: vars.databaseUrl.optional(),
});

/** `pitwall query-export`: the export queried with DuckDB, joined with who drove which tracker in which stage. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, allowPositionals: true });
  if (values.help || positionals.length !== 1 || positionals[0]!.trim() === '') {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig(queryEnv);
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  let exported = false;
  try {
    const files = join(config.EXPORT_DIR, '**', '*.parquet').replaceAll("'", "''");
    // Made only over files that exist: a view over none fails as it is made, and `crews` or `SELECT 1` with it.
    exported = Number((await duck.runAndReadAll(`SELECT count(*) FROM glob('${files}')`)).getRows()[0]![0]) > 0;
    if (exported) await duck.run(`CREATE VIEW positions AS SELECT * FROM read_parquet('${files}', hive_partitioning = true)`);
    if (config.DATABASE_URL) await loadRaceTables(duck, config.DATABASE_URL);
    // Each statement of a script, each result printed: DuckDB alone would answer the last one only.
    const statements = await duck.extractStatements(positionals[0]!);
    for (let i = 0; i < statements.count; i++) {
      const reader = await (await statements.prepare(i)).runAndReadAll();
      const rows = reader.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, printable(v)])));
      if (values.json) console.log(JSON.stringify(rows));
      else if (rows.length === 0 && reader.columnNames().length > 0) console.log(`(no rows; columns: ${reader.columnNames().join(', ')})`);
      else if (rows.length > 0) console.table(rows);
    }
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    // Without files there is no positions view, and DuckDB's "does not exist" would not say why.
    if (!exported && /positions does not exist|No files found/.test(message)) {
      const where = existsSync(config.EXPORT_DIR) ? `no exported files in ${config.EXPORT_DIR} yet` : `EXPORT_DIR ${config.EXPORT_DIR} does not exist`;
      console.error(`pitwall query-export: ${where}: is \`pitwall exporter\` running with this EXPORT_DIR? It writes a batch's files once the batch is EXPORT_FILE_ROWS rows or EXPORT_FILE_MAX_AGE_MS old (a minute by default).`);
    } else if (!config.DATABASE_URL && /Table with name (crews|stages|stage_runs) does not exist/.test(message)) {
      // Those tables come from Directus's database: DuckDB's "Did you mean pg_views?" would not say so.
      console.error(`pitwall query-export: ${message.split('\n')[0]}: crews, stages and stage_runs are read from Directus's database; set DATABASE_URL (the processor's database role will do)`);
    } else console.error(`pitwall query-export: ${message}`);
    return 1;
  } finally {
    duck.closeSync();
    instance.closeSync();
  }
}

/**
 * Copies who carried which tracker (entry_devices), the stage windows and each crew's run of each stage (its stage
 * result's start and finish) from the Directus database into DuckDB. A stage's window says when it is open to every
 * crew, and stages of one day may share it; which fixes a crew drove on which stage is told by its run.
 */
async function loadRaceTables(duck: DuckDBConnection, databaseUrl: string): Promise<void> {
  const db = connectDb(databaseUrl, { pool: 1, application: 'pitwall-query-export' });
  try {
    const crews = await db('entry_devices as ed')
      .join('entries as e', 'e.id', 'ed.entry')
      .join('devices as d', 'd.id', 'ed.device')
      .select('d.imei as device_id', db.raw('e.event::text AS event'), 'e.race_number', 'e.name as crew', 'ed.valid_from', 'ed.valid_to', db.raw('e.id::text AS entry'));
    const stages = await db('stages').select(db.raw('event::text AS event'), 'name as stage', 'opens_at', 'closes_at');
    const runs = await db('stage_results as r')
      .join('entries as e', 'e.id', 'r.entry')
      .join('stages as s', 's.id', 'r.stage')
      .select(db.raw('r.entry::text AS entry'), db.raw('e.event::text AS event'), 's.name as stage', 'e.race_number', 'e.name as crew', 'r.status', 'r.started_at', 'r.finished_at');
    await duck.run('CREATE TABLE crews (device_id VARCHAR, event VARCHAR, race_number VARCHAR, crew VARCHAR, valid_from TIMESTAMPTZ, valid_to TIMESTAMPTZ, entry VARCHAR)');
    await duck.run('CREATE TABLE stages (event VARCHAR, stage VARCHAR, opens_at TIMESTAMPTZ, closes_at TIMESTAMPTZ)');
    await duck.run('CREATE TABLE stage_runs (entry VARCHAR, event VARCHAR, stage VARCHAR, race_number VARCHAR, crew VARCHAR, status VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)');
    await insertRows(duck, 'crews', crews.map((c) => [c.device_id, c.event, String(c.race_number), c.crew, iso(c.valid_from), iso(c.valid_to), c.entry]));
    await insertRows(duck, 'stages', stages.map((s) => [s.event, s.stage, iso(s.opens_at), iso(s.closes_at)]));
    await insertRows(duck, 'stage_runs', runs.map((r) => [r.entry, r.event, r.stage, String(r.race_number), r.crew, r.status, iso(r.started_at), iso(r.finished_at)]));
  } finally {
    await db.destroy();
  }
}

/**
 * Counts come back as bigint, times as Date: as numbers and ISO text they print and serialise plainly, also inside
 * lists and structs (`[count(*)]`, `histogram(satellites)`).
 */
function printable(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(printable);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printable(v)]));
  return value;
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

async function insertRows(duck: DuckDBConnection, table: string, rows: (string | null)[][]): Promise<void> {
  const appender = await duck.createAppender(table);
  for (const row of rows) {
    // Every column goes in as text; DuckDB casts it to the column's type (timestamps from ISO text).
    for (const value of row) {
      if (value === null) appender.appendNull();
      else appender.appendVarchar(value);
    }
    appender.endRow();
  }
  appender.closeSync();
}
