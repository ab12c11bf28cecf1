import type { Knex } from 'knex';

/**
 * The transaction that last wrote each fact's content (not a rank moved by another result): a replay in apply mode
 * names the snapshot it read the stored facts and positions in, and the endpoint leaves alone every fact written
 * after it (by the live processor, or a person's correction re-timed), instead of overwriting or removing it with
 * what the replay computed from older data. Null until written after this migration: such facts count as old.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE pitwall_fact_versions ADD COLUMN IF NOT EXISTS written_by xid8');
}

export async function down(): Promise<void> {
  throw new Error('the fact versions table is never changed back by a migration');
}
