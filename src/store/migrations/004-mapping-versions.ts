import type { Knex } from 'knex';

/**
 * The revisions of each device model's IO mapping, so that mapping versions have an order (see mappingLabel):
 * a new revision each time a model's mapping table CHANGES, whoever notices first (the processor at a setup
 * refresh, a backfill at its start). Going back to an earlier table is a change too and gets a new revision.
 * Revisions are global and only grow; `rows` keeps the table that was registered, for the record.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_mapping_revisions (
      revision      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      model         text        NOT NULL,
      hash          text        NOT NULL,
      rows          jsonb       NOT NULL,
      registered_at timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw('CREATE INDEX IF NOT EXISTS pitwall_mapping_revisions_model ON pitwall_mapping_revisions (model, revision)');
}

export async function down(): Promise<void> {
  throw new Error('the mapping revisions are never dropped by a migration');
}
