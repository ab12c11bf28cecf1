import type { Knex } from 'knex';

/**
 * The durable outbox: fact batches written in the same transaction as the positions they came from, delivered to
 * Directus in order when it is reachable. A batch that Directus rejects for good is kept with the reason.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_outbox (
      id           bigserial   PRIMARY KEY,
      created_at   timestamptz NOT NULL DEFAULT now(),
      source       text        NOT NULL,
      payload      jsonb       NOT NULL,
      attempts     integer     NOT NULL DEFAULT 0,
      last_error   text,
      failed_at    timestamptz
    )`);
  await knex.raw('CREATE INDEX IF NOT EXISTS pitwall_outbox_pending ON pitwall_outbox (id) WHERE failed_at IS NULL');
}

export async function down(): Promise<void> {
  throw new Error('the outbox is never dropped by a migration');
}
