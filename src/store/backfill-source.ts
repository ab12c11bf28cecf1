import type { Knex } from 'knex';

/**
 * What a backfill reads: devices and models from the Directus collections (read-only SQL, as loadRaceSetup), and
 * the raw attributes of positions in keyset pages. Nothing here writes.
 */

export interface DeviceModelRow {
  id: string;
  name: string;
}

export interface DeviceRow {
  imei: string;
  /** device_models id; null for a device nobody gave a model. */
  model: string | null;
}

/** A device model by id, or by its unique name; null when there is none. */
export async function findDeviceModel(db: Knex, idOrName: string): Promise<DeviceModelRow | null> {
  const row = await db('device_models').select(db.raw('id::text AS id'), 'name').whereRaw('id::text = ?', [idOrName]).orWhere('name', idOrName).first();
  return row ?? null;
}

export async function deviceModels(db: Knex, ids: readonly string[]): Promise<DeviceModelRow[]> {
  return db('device_models').select(db.raw('id::text AS id'), 'name').whereRaw('id::text = ANY(?::text[])', [[...ids]]);
}

export async function devicesOfModel(db: Knex, model: string): Promise<DeviceRow[]> {
  return db('devices').select('imei', db.raw('model::text AS model')).whereRaw('model::text = ?', [model]).orderBy('imei');
}

export async function devicesByImei(db: Knex, imeis: readonly string[]): Promise<DeviceRow[]> {
  return db('devices').select('imei', db.raw('model::text AS model')).whereRaw('imei = ANY(?::text[])', [[...imeis]]).orderBy('imei');
}

export interface TimeRange {
  /** Inclusive, ISO-8601. */
  from: string;
  /** Exclusive, ISO-8601. */
  to: string;
}

/** Positions of the devices in the range that are not faulty. */
export async function countPositions(db: Knex, devices: readonly string[], { from, to }: TimeRange): Promise<number> {
  if (devices.length === 0) return 0;
  const [row] = await db('positions')
    .whereRaw('device_id = ANY(?::text[])', [[...devices]])
    .andWhere('ts', '>=', from)
    .andWhere('ts', '<', to)
    .andWhere('faulty', false)
    .count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}

/** Where a page starts: the device (index into the sorted device list) and the ts after which it goes on. */
export interface PageCursor {
  device: number;
  /** timestamptz text of the last row done on that device; null to start at the range's beginning. */
  after: string | null;
}

/** A row of positions as Postgres prints it: [device_id, ts (timestamptz text), attributes (JSON text)]. */
export type RawAttributesRow = [deviceId: string, ts: string, attributes: string];

export interface RawAttributesPage {
  rows: RawAttributesRow[];
  /** Where the next page starts; null when the range is exhausted. */
  next: PageCursor | null;
}

// Values as Postgres prints them: timestamptz text goes back into COPY unchanged (to the microsecond, no Date on
// the way), and attributes are parsed once, by the caller, rather than by the driver.
const TEXT = { getTypeParser: () => (value: string) => value };

/**
 * Up to `limit` rows, device after device in the order of `devices` and by ts within a device, each device read
 * with a range scan of the UNIQUE (device_id, ts) index (one query per device touched, so the plan never sorts).
 */
export async function readRawAttributesPage(
  db: Knex,
  devices: readonly string[],
  range: TimeRange,
  cursor: PageCursor,
  limit: number,
): Promise<RawAttributesPage> {
  const rows: RawAttributesRow[] = [];
  let { device, after } = cursor;
  while (device < devices.length) {
    const wanted = limit - rows.length;
    const result = await db
      .raw(
        `SELECT device_id, ts, attributes FROM positions
          WHERE device_id = ? AND ts >= ?::timestamptz AND ts > ?::timestamptz AND ts < ?::timestamptz AND NOT faulty
          ORDER BY ts LIMIT ?`,
        [devices[device]!, range.from, after ?? '-infinity', range.to, wanted],
      )
      .options({ rowMode: 'array', types: TEXT });
    const got = result.rows as RawAttributesRow[];
    for (const row of got) rows.push(row);
    if (got.length === wanted) return { rows, next: { device, after: got[got.length - 1]![1] } };
    [device, after] = [device + 1, null];
  }
  return { rows, next: null };
}
