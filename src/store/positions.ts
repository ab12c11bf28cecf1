import type { Knex } from 'knex';
import type { Position } from '../domain/position.ts';
import { copyField, copyRows, SMALL_BATCH, type Statement } from './copy-rows.ts';

export const POSITION_COLUMNS = 'device_id, ts, latitude, longitude, altitude, angle, speed, satellites, priority, attributes, codec';
const TYPED_COLUMNS = `device_id text, ts timestamptz, latitude double precision, longitude double precision, altitude real,
  angle real, speed real, satellites smallint, priority smallint, attributes jsonb, codec text`;

/** The key of a fix and of the rows made from it: (device_id, ts), unique in positions and decoded_attributes. */
export const fixKey = (row: { deviceId: string; ts: number }): string => `${row.deviceId}\u0000${row.ts}`;

/**
 * One fix as a line of COPY text in POSITION_COLUMNS order. `attributesText`: its raw attributes as COPY text already,
 * when the caller has them so (see payloadAttributesText); otherwise they are serialised here.
 */
export function positionCopyLine(p: Position, attributesText?: string | null): string {
  const attributes = attributesText ?? copyField(JSON.stringify(p.attributes));
  return (
    `${copyField(p.deviceId)}\t${new Date(p.ts).toISOString()}\t${p.latitude}\t${p.longitude}\t${p.altitude}\t` +
    `${p.angle}\t${p.speed}\t${p.satellites}\t${p.priority}\t${attributes}\t${copyField(p.codec)}\n`
  );
}

/** The small-batch path of insertPositions as one statement, which storeLiveBatch also runs as part of its own. */
export function insertPositionsStatement(positions: readonly Position[]): Statement {
  const rows = positions.map((p) => ({
    device_id: p.deviceId, ts: new Date(p.ts).toISOString(), latitude: p.latitude, longitude: p.longitude, altitude: p.altitude,
    angle: p.angle, speed: p.speed, satellites: p.satellites, priority: p.priority, attributes: p.attributes, codec: p.codec,
  }));
  return {
    sql: `INSERT INTO positions (${POSITION_COLUMNS}) SELECT ${POSITION_COLUMNS} FROM json_to_recordset(?::json) AS r(${TYPED_COLUMNS})
      ON CONFLICT (device_id, ts) DO NOTHING`,
    bindings: [JSON.stringify(rows)],
  };
}

/**
 * Inserts positions idempotently on (device_id, ts): a redelivered entry or a tracker's resent packet, in this
 * batch or an earlier one, is a no-op. Returns how many rows were new. Attributes are stored as received.
 *
 * Large batches are COPYed into a temporary table and moved with one INSERT ... ON CONFLICT DO NOTHING, all in one
 * transaction: COPY cannot skip conflicts itself, and this is several times faster than unnest() arrays. Small
 * batches (a live race at a steady pace) go as one INSERT from a JSON document: one round trip instead of six,
 * and no temporary table for the catalog to create and drop each time.
 * `db` may be a transaction: the batch then joins it and is durable with it.
 */
export async function insertPositions(db: Knex, positions: readonly Position[]): Promise<number> {
  if (positions.length === 0) return 0;
  if (positions.length <= SMALL_BATCH) {
    const { sql, bindings } = insertPositionsStatement(positions);
    return ((await db.raw(sql, bindings)).rowCount as number | null) ?? 0;
  }
  return db.transaction(async (trx) => {
    await trx.raw(`CREATE TEMPORARY TABLE positions_load (${TYPED_COLUMNS}) ON COMMIT DROP`);
    await copyRows(trx, `positions_load (${POSITION_COLUMNS})`, positions, (p) => positionCopyLine(p));
    const result = await trx.raw(
      `INSERT INTO positions (${POSITION_COLUMNS}) SELECT ${POSITION_COLUMNS} FROM positions_load ON CONFLICT (device_id, ts) DO NOTHING`,
    );
    // Dropped now, not only at commit: a caller's transaction may store several batches.
    await trx.raw('DROP TABLE positions_load');
    return (result.rowCount as number | null) ?? 0;
  });
}
