import type { Knex } from 'knex';

/**
 * A pending race event stays in `pitwall_pending_events` until the Flow runs it was handed to have ended, under a
 * lease (`handed_until`) its publisher renews: an event whose publisher died before its Flow runs ended (the signed
 * webhook not yet holding a chain for it) is handed to the Flows again once the lease has run out. Null: not yet
 * published.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE pitwall_pending_events ADD COLUMN IF NOT EXISTS handed_until timestamptz');
}

export async function down(): Promise<void> {
  throw new Error('the pending events table is never changed back by a migration');
}
