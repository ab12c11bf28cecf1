import type { Knex } from 'knex';
import type { IoMappingRow } from '../../src/demo/fmb920-io.ts';

/**
 * The Directus collections that IO decoding reads (device_models, devices, io_mappings), reduced to the columns
 * Pitwall uses and typed as Directus creates them (CONTRACTS section 3): for tests and benchmarks of the telemetry
 * plane on a scratch database, without a Directus.
 */
export async function createSetupTables(db: Knex): Promise<void> {
  await db.raw('CREATE TABLE device_models (id uuid PRIMARY KEY, name text UNIQUE NOT NULL)');
  await db.raw('CREATE TABLE devices (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), imei text UNIQUE NOT NULL, name text, model uuid REFERENCES device_models)');
  await db.raw(`CREATE TABLE io_mappings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), model uuid REFERENCES device_models, io_id integer NOT NULL, attribute text NOT NULL,
    value_type text NOT NULL, byte_size integer NOT NULL, multiplier numeric(24, 12) NOT NULL DEFAULT 1, "offset" numeric(24, 12) NOT NULL DEFAULT 0,
    unit text, invalid_values json, UNIQUE (model, io_id))`);
}

/** Replaces a model's rows in io_mappings. */
export async function setIoMapping(db: Knex, model: string, rows: readonly IoMappingRow[]): Promise<void> {
  await db('io_mappings').where({ model }).delete();
  await db('io_mappings').insert(rows.map((r) => ({ ...r, model, invalid_values: r.invalid_values === null ? null : JSON.stringify(r.invalid_values) })));
}
