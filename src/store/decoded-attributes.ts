import type { Knex } from 'knex';
import { copyField, copyRows } from './copy-rows.ts';

export interface DecodedAttributesRow {
  deviceId: string;
  /** Epoch milliseconds of the fix's GPS time. */
  ts: number;
  /** Named, scaled values. */
  attributes: Record<string, unknown>;
  mappingVersion: string;
}

function toLine(row: DecodedAttributesRow): string {
  return `${copyField(row.deviceId)}\t${new Date(row.ts).toISOString()}\t${copyField(JSON.stringify(row.attributes))}\t${copyField(row.mappingVersion)}\n`;
}

/** One row per (device, ts), the last one winning: ON CONFLICT DO UPDATE refuses to touch a row twice. */
function lastPerKey(rows: readonly DecodedAttributesRow[]): DecodedAttributesRow[] {
  const byKey = new Map<string, DecodedAttributesRow>();
  for (const row of rows) {
    const key = `${row.deviceId}\u0000${row.ts}`;
    byKey.delete(key);
    byKey.set(key, row);
  }
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

/**
 * Writes decoded attributes (CONTRACTS section 2, derived data): a row already there for (device_id, ts) is
 * replaced, with a fresh decoded_at. Same fast path as positions: COPY into a temporary table, then one upsert.
 * Returns how many rows were written (inserted or replaced). `db` may be a transaction, which the batch joins.
 */
export async function upsertDecodedAttributes(db: Knex, rows: readonly DecodedAttributesRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const unique = lastPerKey(rows);
  return db.transaction(async (trx) => {
    await trx.raw(`
      CREATE TEMPORARY TABLE decoded_attributes_load (
        device_id text, ts timestamptz, attributes jsonb, mapping_version text
      ) ON COMMIT DROP`);
    await copyRows(trx, 'decoded_attributes_load (device_id, ts, attributes, mapping_version)', unique, toLine);
    const result = await trx.raw(`
      INSERT INTO decoded_attributes (device_id, ts, attributes, mapping_version, decoded_at)
      SELECT device_id, ts, attributes, mapping_version, now() FROM decoded_attributes_load
      ON CONFLICT (device_id, ts) DO UPDATE
        SET attributes = EXCLUDED.attributes, mapping_version = EXCLUDED.mapping_version, decoded_at = now()`);
    // Dropped now, not only at commit: a caller's transaction may write several batches.
    await trx.raw('DROP TABLE decoded_attributes_load');
    return (result.rowCount as number | null) ?? 0;
  });
}
