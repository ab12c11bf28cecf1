import type { Knex } from 'knex';

/**
 * The telemetry plane (CONTRACTS section 2): plain SQL owned by Pitwall, never by a Directus snapshot.
 * PostGIS is created here too because the Directus collections store geometry in it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE EXTENSION IF NOT EXISTS postgis');
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS positions (
      device_id   text             NOT NULL,
      ts          timestamptz      NOT NULL,
      latitude    double precision NOT NULL,
      longitude   double precision NOT NULL,
      altitude    real,
      angle       real,
      speed       real,
      satellites  smallint,
      priority    smallint,
      attributes  jsonb            NOT NULL DEFAULT '{}'::jsonb,
      codec       text,
      ingested_at timestamptz      NOT NULL DEFAULT now(),
      faulty      boolean          NOT NULL DEFAULT false,
      CONSTRAINT positions_device_id_ts_key UNIQUE (device_id, ts)
    )`);
  // Range scans over all devices (exports, replays by event window) read in time order; BRIN stays tiny.
  await knex.raw('CREATE INDEX IF NOT EXISTS positions_ts_brin ON positions USING brin (ts)');
  // The exporter and lag checks look at recent arrivals.
  await knex.raw('CREATE INDEX IF NOT EXISTS positions_ingested_at_brin ON positions USING brin (ingested_at)');
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS decoded_attributes (
      device_id       text        NOT NULL,
      ts              timestamptz NOT NULL,
      attributes      jsonb       NOT NULL,
      mapping_version text        NOT NULL,
      decoded_at      timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (device_id, ts)
    )`);
}

export async function down(): Promise<void> {
  throw new Error('telemetry tables are never dropped by a migration');
}
