import type { Knex } from 'knex';

/**
 * One row per signed-webhook retry chain under way (a race event to one integrator), so a chain that a stopped or
 * crashed Directus left unfinished is resumed by the next one instead of being lost with the process. `attempts`
 * counts the attempts recorded in `webhook_deliveries`; the row goes when the chain ends. A chain is worked on by
 * the process holding its lease; an expired lease means that process is gone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_webhook_chains (
      race_event  text        NOT NULL,
      target_key  text        NOT NULL,
      target      jsonb       NOT NULL,
      event       jsonb       NOT NULL,
      policy      jsonb       NOT NULL,
      attempts    integer     NOT NULL DEFAULT 0,
      lease_until timestamptz NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (race_event, target_key)
    )`);
  await knex.raw('CREATE INDEX IF NOT EXISTS pitwall_webhook_chains_lease ON pitwall_webhook_chains (lease_until)');
}

export async function down(): Promise<void> {
  throw new Error('the webhook chains table is never dropped by a migration');
}
