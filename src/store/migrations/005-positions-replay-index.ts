import type { Knex } from 'knex';
import { createIndexConcurrently } from './concurrent-index.ts';

/**
 * Replay reads a range of many trackers' positions ordered by (device_id, ts), only the columns the racing pipeline
 * needs. Rows are stored in arrival order, about 1 kB each with their raw IO, so that read was a scan of the whole
 * range plus a sort of it before the first row came out. This covering index (about 75 bytes a row) serves it as an
 * index-only scan, already in order, and counts the range for progress as cheaply. Built concurrently, so a
 * processor storing positions is not blocked while it builds on a large table.
 */
export const config = { transaction: false };

const NAME = 'positions_replay_read';

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, NAME, 'ON positions (device_id, ts) INCLUDE (latitude, longitude, speed) WHERE NOT faulty');
}

export async function down(): Promise<void> {
  throw new Error('the replay index is never dropped by a migration');
}
