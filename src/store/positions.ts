import type { Knex } from 'knex';
import type { Position } from '../domain/position.ts';

/**
 * Inserts positions in one statement, idempotent on (device_id, ts): a redelivered entry or a tracker's resent
 * packet is a no-op. Returns how many rows were new.
 */
export async function insertPositions(db: Knex, positions: readonly Position[]): Promise<number> {
  if (positions.length === 0) return 0;
  const cols = {
    device: [] as string[],
    ts: [] as string[],
    lat: [] as number[],
    lon: [] as number[],
    alt: [] as number[],
    angle: [] as number[],
    speed: [] as number[],
    sats: [] as number[],
    prio: [] as number[],
    attrs: [] as string[],
    codec: [] as string[],
  };
  for (const p of positions) {
    cols.device.push(p.deviceId);
    cols.ts.push(new Date(p.ts).toISOString());
    cols.lat.push(p.latitude);
    cols.lon.push(p.longitude);
    cols.alt.push(p.altitude);
    cols.angle.push(p.angle);
    cols.speed.push(p.speed);
    cols.sats.push(p.satellites);
    cols.prio.push(p.priority);
    cols.attrs.push(JSON.stringify(p.attributes));
    cols.codec.push(p.codec);
  }
  const result = await db.raw(
    `INSERT INTO positions (device_id, ts, latitude, longitude, altitude, angle, speed, satellites, priority, attributes, codec)
     SELECT * FROM unnest(?::text[], ?::timestamptz[], ?::float8[], ?::float8[], ?::real[], ?::real[], ?::real[],
                          ?::smallint[], ?::smallint[], ?::jsonb[], ?::text[])
     ON CONFLICT (device_id, ts) DO NOTHING`,
    [cols.device, cols.ts, cols.lat, cols.lon, cols.alt, cols.angle, cols.speed, cols.sats, cols.prio, cols.attrs, cols.codec],
  );
  return result.rowCount ?? 0;
}
