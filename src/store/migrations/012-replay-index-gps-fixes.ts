import type { Knex } from 'knex';
import { GPS_FIX_SQL } from '../../domain/gps-fix.ts';
import { createIndexConcurrently } from './concurrent-index.ts';

/**
 * Replay reads only the positions that carry a GPS fix (see hasGpsFix). The replay index of 005 is rebuilt with that
 * condition in its predicate, so the read stays an index-only scan (the condition is implied by the index, and
 * `satellites` need not be in it). Built under a new name and swapped, concurrently, so a processor storing
 * positions is not blocked meanwhile and replay always has an index to read.
 */
export const config = { transaction: false };

const OLD = 'positions_replay_read';
const NAME = 'positions_replay_fixes';

export async function up(knex: Knex): Promise<void> {
  await createIndexConcurrently(knex, NAME, `ON positions (device_id, ts) INCLUDE (latitude, longitude, speed) WHERE NOT faulty AND ${GPS_FIX_SQL}`);
  await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${OLD}`);
}

export async function down(): Promise<void> {
  throw new Error('the replay index is never dropped by a migration');
}
