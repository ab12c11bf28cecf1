import type { Knex } from 'knex';
import type { Position } from '../domain/position.ts';
import { copyField, copyRows } from './copy-rows.ts';

const COLUMNS = 'device_id, ts, latitude, longitude, altitude, angle, speed, satellites, priority, attributes, codec';

function toLine(p: Position): string {
  return (
    `${copyField(p.deviceId)}\t${new Date(p.ts).toISOString()}\t${p.latitude}\t${p.longitude}\t${p.altitude}\t` +
    `${p.angle}\t${p.speed}\t${p.satellites}\t${p.priority}\t${copyField(JSON.stringify(p.attributes))}\t${copyField(p.codec)}\n`
  );
}

/**
 * Inserts positions idempotently on (device_id, ts): a redelivered entry or a tracker's resent packet, in this
 * batch or an earlier one, is a no-op. Returns how many rows were new. Attributes are stored as received.
 *
 * The rows are COPYed into a temporary table and moved with one INSERT ... ON CONFLICT DO NOTHING, all in one
 * transaction: COPY cannot skip conflicts itself, and this is several times faster than unnest() arrays.
 * `db` may be a transaction: the batch then joins it (as a savepoint) and is durable with it.
 */
export async function insertPositions(db: Knex, positions: readonly Position[]): Promise<number> {
  if (positions.length === 0) return 0;
  return db.transaction(async (trx) => {
    await trx.raw(`
      CREATE TEMPORARY TABLE positions_load (
        device_id text, ts timestamptz, latitude double precision, longitude double precision, altitude real,
        angle real, speed real, satellites smallint, priority smallint, attributes jsonb, codec text
      ) ON COMMIT DROP`);
    await copyRows(trx, `positions_load (${COLUMNS})`, positions, toLine);
    const result = await trx.raw(
      `INSERT INTO positions (${COLUMNS}) SELECT ${COLUMNS} FROM positions_load ON CONFLICT (device_id, ts) DO NOTHING`,
    );
    // Dropped now, not only at commit: a caller's transaction may store several batches.
    await trx.raw('DROP TABLE positions_load');
    return (result.rowCount as number | null) ?? 0;
  });
}
