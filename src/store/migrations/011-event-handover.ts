import type { Knex } from 'knex';

/**
 * A pending race event stays in `pitwall_pending_events` until the Flow runs it was handed to have ended, claimed by
 * its publisher under a lease (`handed_until`) it renews: an event whose publisher died before then (the signed
 * webhook perhaps not yet holding a chain for it) is created or handed to the Flows again once the lease has run
 * out. Null: held by nobody (a publication that could not create it gave it back, or an older version staged it).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE pitwall_pending_events ADD COLUMN IF NOT EXISTS handed_until timestamptz');
}

export async function down(): Promise<void> {
  throw new Error('the pending events table is never changed back by a migration');
}
