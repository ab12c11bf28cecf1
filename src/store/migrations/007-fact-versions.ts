import type { Knex } from 'knex';

/**
 * A version per fact row (crossing, result, penalty, anomaly), raised by every transaction of the bundle that may
 * write the row. Race events name the version they announce, so each change of a fact is its own event. A row stays
 * when its fact is deleted: the fact created again is announced again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS pitwall_fact_versions (
      fact_id text   PRIMARY KEY,
      version bigint NOT NULL
    )`);
}

export async function down(): Promise<void> {
  throw new Error('the fact versions table is never dropped by a migration');
}
