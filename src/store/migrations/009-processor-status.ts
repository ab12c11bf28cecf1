import type { Knex } from 'knex';

/**
 * One row per processor instance, rewritten every few seconds with what its /healthz and counters say, so that the
 * race office sees the processor's health in Directus (the health panel, through `GET /pitwall/status`) without
 * reaching the processor's port. `updated_at` is the database's clock: a row that stops moving is a silent processor.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_processor_status (
      instance text PRIMARY KEY,
      started_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      healthy boolean NOT NULL,
      reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
      positions_stored_total bigint NOT NULL DEFAULT 0,
      positions_per_minute double precision,
      lag bigint,
      pending bigint,
      oldest_pending_seconds double precision,
      outbox_pending integer,
      outbox_parked integer,
      dead_letters_total bigint NOT NULL DEFAULT 0,
      dead_letters_per_minute double precision
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS pitwall_processor_status');
}
