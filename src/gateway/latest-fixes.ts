import type { Knex } from 'knex';
import { GPS_FIX_SQL } from '../domain/gps-fix.ts';
import type { PositionEntry } from '../domain/live/position-entry.ts';

/** What Postgres says of an event's trackers, for `merge`. */
export interface StoredFixes {
  /** Each tracker's newest stored fix that is not faulty. */
  fixes: Map<string, PositionEntry>;
  /** The GPS time of each tracker's newest fix from the stream, where an operator marked its stored copy faulty. */
  faulty: Map<string, number>;
}

/** A fix dated further ahead of the clock than this is a tracker's clock glitch, not where the car is now. */
const AHEAD_MS = 10_000;

/**
 * The newer of two fixes of a tracker by GPS time (`b` when neither is), except that one dated ahead of the clock (a
 * glitch minutes in the future) gives way to one that is not: it stayed the car's position in every snapshot until the
 * clock caught up.
 */
export function newerFix(a: PositionEntry, b: PositionEntry, now: number): PositionEntry {
  const aheadA = a.ts > now + AHEAD_MS;
  const aheadB = b.ts > now + AHEAD_MS;
  if (aheadA !== aheadB) return aheadA ? b : a;
  return a.ts > b.ts ? a : b;
}

/**
 * The newest fix of each tracker, for the snapshot a viewer gets on subscribe: the newest the stream brought (by GPS
 * time, so a late upload of old fixes does not move a car back), checked against the stored positions, whose
 * `faulty` flag operators set and which hold what came before this gateway started.
 */
export class LatestFixes {
  private readonly latest = new Map<string, PositionEntry>();
  private readonly storedByEvent = new Map<string, { expiresAt: number; fixes: Promise<StoredFixes> }>();

  constructor(
    private readonly db: Knex,
    /** How long one event's stored part is shared: a herd of subscribes at race start costs one query. */
    private readonly shareMs = 1000,
  ) {}

  /** A fix from the stream; kept when it is the device's newest (newerFix). */
  offer(entry: PositionEntry, now = Date.now()): void {
    const known = this.latest.get(entry.deviceId);
    if (!known || newerFix(entry, known, now) === entry) this.latest.set(entry.deviceId, entry);
  }

  /**
   * The newest non-faulty fix of each of `devices` that `belongs` (assigned to the event at its time). Call
   * `merge` after awaiting `stored`, with nothing awaited between: the memory part then matches the stream
   * position read at the same moment.
   */
  async stored(eventKey: string, devices: string[], now = Date.now()): Promise<StoredFixes> {
    const hit = this.storedByEvent.get(eventKey);
    if (hit && hit.expiresAt > now) return hit.fixes;
    const fixes = this.queryStored(devices);
    const entry = { expiresAt: now + this.shareMs, fixes };
    this.storedByEvent.set(eventKey, entry);
    fixes.catch(() => this.storedByEvent.get(eventKey) === entry && this.storedByEvent.delete(eventKey));
    return fixes;
  }

  merge(devices: string[], stored: StoredFixes, belongs: (fix: PositionEntry) => boolean, now = Date.now()): PositionEntry[] {
    const snapshot: PositionEntry[] = [];
    for (const device of devices) {
      const seen = this.latest.get(device);
      // A stream fix an operator marked faulty gives way to the newest good one stored: the car stays on the map.
      const live = seen && stored.faulty.get(device) !== seen.ts ? seen : undefined;
      const kept = stored.fixes.get(device);
      const newest = live && kept ? newerFix(live, kept, now) : (live ?? kept);
      if (newest && belongs(newest)) snapshot.push(newest);
    }
    return snapshot;
  }

  private async queryStored(devices: string[]): Promise<StoredFixes> {
    const fixes = new Map<string, PositionEntry>();
    const faulty = new Map<string, number>();
    if (devices.length === 0) return { fixes, faulty };
    // One index probe per device (newest first), instead of reading every fix of every device.
    const { rows } = (await this.db.raw(
      `SELECT p.device_id, p.ts, p.latitude, p.longitude, p.speed, p.angle, p.satellites
         FROM unnest(?::text[]) AS d(id)
         CROSS JOIN LATERAL (
           SELECT * FROM positions
            WHERE device_id = d.id AND NOT faulty AND ${GPS_FIX_SQL} AND ts <= now() + interval '${AHEAD_MS} milliseconds'
            ORDER BY ts DESC LIMIT 1
         ) p`,
      [devices],
    )) as { rows: { device_id: string; ts: Date; latitude: number; longitude: number; speed: number | null; angle: number | null; satellites: number | null }[] };
    for (const row of rows) {
      fixes.set(row.device_id, {
        deviceId: row.device_id,
        lat: row.latitude,
        lon: row.longitude,
        ts: new Date(row.ts).getTime(),
        ...(row.speed !== null ? { speed: row.speed } : {}),
        ...(row.angle !== null ? { course: row.angle } : {}),
        ...(row.satellites !== null ? { satellites: row.satellites } : {}),
      });
    }
    // A newer fix seen on the stream may since have been marked faulty by an operator.
    const newer = devices.map((d) => this.latest.get(d)).filter((f): f is PositionEntry => !!f && f.ts > (fixes.get(f.deviceId)?.ts ?? -Infinity));
    if (newer.length > 0) {
      const { rows: marked } = (await this.db.raw(
        `SELECT device_id, ts FROM positions WHERE faulty AND (device_id, ts) IN (SELECT * FROM unnest(?::text[], ?::timestamptz[]))`,
        [newer.map((f) => f.deviceId), newer.map((f) => new Date(f.ts).toISOString())],
      )) as { rows: { device_id: string; ts: Date }[] };
      for (const row of marked) faulty.set(row.device_id, new Date(row.ts).getTime());
    }
    return { fixes, faulty };
  }
}
