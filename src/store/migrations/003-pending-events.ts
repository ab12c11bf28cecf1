import type { Knex } from 'knex';

/**
 * Race events written in the same transaction as the business rows they describe, published to `race_events`
 * (so Flows hear them) only after that transaction committed. A row left here by a crash is published later.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_pending_events (
      id         uuid        PRIMARY KEY,
      seq        bigserial   NOT NULL,
      item       jsonb       NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
}

export async function down(): Promise<void> {
  throw new Error('the pending events table is never dropped by a migration');
}
