import type { Knex } from 'knex';

/**
 * The ordering number of the newest change applied to each fact (see `sequence` in fact-batch.ts): the endpoint
 * skips a change numbered lower, so an outbox row sent again after a partial failure, or redriven after it was
 * parked, never brings back an older value of a fact. Null until a numbered change is applied. Kept when the fact
 * is deleted, so an older upsert cannot bring back a fact retracted since.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE pitwall_fact_versions ADD COLUMN IF NOT EXISTS applied_sequence bigint');
}

export async function down(): Promise<void> {
  throw new Error('the fact versions table is never changed back by a migration');
}
