import type { Knex } from 'knex';
import { copyField, copyRows, SMALL_BATCH, type Statement } from './copy-rows.ts';
import { fixKey } from './positions.ts';

export interface DecodedAttributesRow {
  deviceId: string;
  /** Epoch milliseconds of the fix's GPS time. */
  ts: number;
  /** Named, scaled values, as JSON text: decoders write it directly (attributesJson), with no object between. */
  attributesJson: string;
  /** The mapping label (domain/io/mapping-label.ts): rows of a newer mapping are never replaced by an older one. */
  mappingVersion: string;
}

/** One row as a line of COPY text: device_id, ts, attributes, mapping_version. */
export function decodedCopyLine(row: DecodedAttributesRow): string {
  return `${copyField(row.deviceId)}\t${new Date(row.ts).toISOString()}\t${copyField(row.attributesJson)}\t${copyField(row.mappingVersion)}\n`;
}

/**
 * One row per (device, ts), the first one winning, as the positions table keeps a fix's first entry (ON CONFLICT DO
 * NOTHING): a tracker may send two records of one second with different IO (a periodic and an event record), and
 * the decoded attributes must be those of the stored position. (ON CONFLICT DO UPDATE also refuses to touch a row
 * twice.)
 */
function firstPerKey(rows: readonly DecodedAttributesRow[]): DecodedAttributesRow[] {
  const byKey = new Map<string, DecodedAttributesRow>();
  for (const row of rows) {
    const key = fixKey(row);
    if (!byKey.has(key)) byKey.set(key, row);
  }
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

/** (device_id, ts) order: every writer locks rows in this order, so a backfill and the processor cannot deadlock. */
const byDeviceAndTime = (a: DecodedAttributesRow, b: DecodedAttributesRow): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.ts - b.ts;

/**
 * The processor's write of decoded attributes (CONTRACTS section 2, derived data): a row already there for
 * (device_id, ts) is replaced, with a fresh decoded_at, only by a row of a NEWER mapping (a greater mapping_version
 * label): when the live processor and a backfill touch the same row, the newer mapping wins whoever writes last. A
 * row of the same mapping is kept: it was decoded from the stored position, and a second entry of that fix (same
 * device and time, other IO) must not replace it with its own.
 * Same paths as insertPositions: one statement for a small batch; COPY into a temporary table, then one upsert.
 * Returns how many rows were written (inserted or replaced). `db` may be a transaction, which the batch joins.
 */
export async function upsertDecodedAttributes(db: Knex, rows: readonly DecodedAttributesRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  if (rows.length <= SMALL_BATCH) {
    const { sql, bindings } = upsertDecodedAttributesStatement(rows);
    return ((await db.raw(sql, bindings)).rowCount as number | null) ?? 0;
  }
  return upsertLoaded(db, (trx) => copyRows(trx, LOAD_COLUMNS, firstPerKey(rows).sort(byDeviceAndTime), decodedCopyLine), '>');
}

/** The small-batch path of upsertDecodedAttributes as one statement from a JSON document (see insertPositions). */
export function upsertDecodedAttributesStatement(rows: readonly DecodedAttributesRow[]): Statement {
  const unique = firstPerKey(rows).sort(byDeviceAndTime);
  // Built as text: the attributes are JSON text already.
  const members = unique.map(
    (r) =>
      `{"device_id":${JSON.stringify(r.deviceId)},"ts":"${new Date(r.ts).toISOString()}",` +
      `"attributes":${r.attributesJson},"mapping_version":${JSON.stringify(r.mappingVersion)}}`,
  );
  const json = `[${members.join(',')}]`;
  return { sql: UPSERT_FROM('json_to_recordset(?::json) AS r(device_id text, ts timestamptz, attributes jsonb, mapping_version text)', '>'), bindings: [json] };
}

/**
 * The same upsert for rows already in COPY text: chunks of whole lines `device_id \t ts \t attributes JSON \t
 * mapping_version`, escaped with copyField, without two lines for the same (device_id, ts), in (device_id, ts)
 * order. This is the backfill's path: it builds the text straight from what it reads, with no row objects between,
 * and may hand a generator that decodes as COPY consumes.
 */
export async function upsertDecodedAttributesText(db: Knex, text: Iterable<string>): Promise<number> {
  // A backfill decodes again on purpose: a row of the same mapping is replaced too.
  return upsertLoaded(db, (trx) => copyRows(trx, LOAD_COLUMNS, text, (chunk) => chunk), '>=');
}

/** A stored fix's raw attributes, as JSON text. */
export interface StoredFixAttributes {
  deviceId: string;
  ts: number;
  attributes: string;
}

/**
 * Fixes of `devices` stored in the last `withinMs` (by `ingested_at`, the database's clock) that have no decoded
 * attributes, or have them from a mapping older than `label`: decoded while the mapping had already changed, before
 * the processor read it again. At most `limit`, in (device_id, ts) order.
 */
export async function fixesDecodedBefore(db: Knex, devices: readonly string[], label: string, withinMs: number, limit: number): Promise<StoredFixAttributes[]> {
  const { rows } = await db.raw(
    `SELECT p.device_id, p.ts, p.attributes::text AS attributes
     FROM positions p LEFT JOIN decoded_attributes d USING (device_id, ts)
     WHERE p.device_id = ANY(?::text[]) AND p.ingested_at >= now() - ? * interval '1 millisecond'
       AND (d.mapping_version IS NULL OR d.mapping_version COLLATE "C" < ? COLLATE "C")
     ORDER BY p.device_id, p.ts
     LIMIT ?`,
    [[...devices], Math.ceil(withinMs), label, limit],
  );
  return (rows as { device_id: string; ts: Date; attributes: string }[]).map((r) => ({ deviceId: r.device_id, ts: r.ts.getTime(), attributes: r.attributes }));
}

/** The columns of decodedCopyLine; decoded_at is the default, now(). */
export const DECODED_COLUMNS = 'device_id, ts, attributes, mapping_version';
const LOAD_COLUMNS = `decoded_attributes_load (${DECODED_COLUMNS})`;

/** Labels compare in byte order whatever the database's collation (see mappingLabel). */
const UPSERT_FROM = (source: string, replaces: '>' | '>=') => `
  INSERT INTO decoded_attributes (device_id, ts, attributes, mapping_version, decoded_at)
  SELECT device_id, ts, attributes, mapping_version, now() FROM ${source}
  ON CONFLICT (device_id, ts) DO UPDATE
    SET attributes = EXCLUDED.attributes, mapping_version = EXCLUDED.mapping_version, decoded_at = now()
    WHERE EXCLUDED.mapping_version COLLATE "C" ${replaces} decoded_attributes.mapping_version COLLATE "C"`;

async function upsertLoaded(db: Knex, load: (trx: Knex.Transaction) => Promise<number>, replaces: '>' | '>='): Promise<number> {
  return db.transaction(async (trx) => {
    await trx.raw(`
      CREATE TEMPORARY TABLE decoded_attributes_load (
        device_id text, ts timestamptz, attributes jsonb, mapping_version text
      ) ON COMMIT DROP`);
    await load(trx);
    const result = await trx.raw(UPSERT_FROM('decoded_attributes_load', replaces));
    // Dropped now, not only at commit: a caller's transaction may write several batches.
    await trx.raw('DROP TABLE decoded_attributes_load');
    return (result.rowCount as number | null) ?? 0;
  });
}
