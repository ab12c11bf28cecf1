import type { Knex } from 'knex';

/**
 * Creates an index concurrently, so a processor storing positions is not blocked while it builds. An interrupted
 * concurrent build leaves an invalid index behind, which IF NOT EXISTS would keep for good: that one is dropped first.
 */
export async function createIndexConcurrently(knex: Knex, name: string, definition: string): Promise<void> {
  const invalid = await knex.raw(
    `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid`,
    [name],
  );
  if (invalid.rows.length > 0) await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await knex.raw(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ${definition}`);
}
