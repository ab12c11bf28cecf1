import type { Knex } from 'knex';
import { GPS_FIX_SQL } from '../domain/gps-fix.ts';
import type { PositionEntry } from '../domain/live/position-entry.ts';

/** The stored span a stage is played back over: from its first start to its last finish, with a margin. */
export interface PlaybackSpan {
  from: number;
  to: number;
  devices: string[];
}

const MARGIN_MS = 30_000;
/** A demo plays back a stage, not a week: longer spans are cut, so 50x never means hours of positions. */
export const MAX_SPAN_MS = 6 * 3600_000;

export class PlaybackError extends Error {
  override name = 'PlaybackError';
}

/**
 * Where a stage's cars were: its crossings bound the span (the stage's opening hours are often a whole day); a stage
 * nobody crossed yet falls back to its opening hours.
 */
export async function playbackSpan(db: Knex, eventId: string, stageId: string): Promise<PlaybackSpan> {
  const stage = (await db('stages').where({ id: stageId }).first('event', 'opens_at', 'closes_at')) as { event: string; opens_at: Date | null; closes_at: Date | null } | undefined;
  if (!stage || String(stage.event) !== eventId) throw new PlaybackError('stage: no such stage in this event');
  const crossed = (await db('entry_crossings as c')
    .join('entries as e', 'e.id', 'c.entry')
    .where({ 'c.stage': stageId, 'e.event': eventId })
    .first(db.raw('min(c.crossed_at) AS first'), db.raw('max(c.crossed_at) AS last'))) as { first: Date | null; last: Date | null };
  const from = crossed.first ? new Date(crossed.first).getTime() - MARGIN_MS : stage.opens_at ? new Date(stage.opens_at).getTime() : null;
  const to = crossed.last ? new Date(crossed.last).getTime() + MARGIN_MS : stage.closes_at ? new Date(stage.closes_at).getTime() : null;
  if (from === null || to === null || to <= from) throw new PlaybackError('stage: nothing stored to play back (no crossings and no opening hours)');
  const devices = (await db('entry_devices as ed')
    .join('entries as e', 'e.id', 'ed.entry')
    .join('devices as d', 'd.id', 'ed.device')
    .where('e.event', eventId)
    .distinct('d.imei')
    .pluck('d.imei')) as string[];
  return { from, to: Math.min(to, from + MAX_SPAN_MS), devices };
}

/** The stored fixes of the span, in GPS time order, a page at a time (never the whole stage in memory). */
export async function* storedFixes(db: Knex, span: PlaybackSpan, pageSize = 2000): AsyncGenerator<PositionEntry[]> {
  let after = { ts: new Date(span.from - 1), device: '' };
  for (;;) {
    const rows = (await db('positions')
      .whereIn('device_id', span.devices)
      .where('faulty', false)
      .whereRaw(GPS_FIX_SQL)
      .where('ts', '<=', new Date(span.to))
      .whereRaw('(ts, device_id) > (?, ?)', [after.ts, after.device])
      .orderBy([{ column: 'ts' }, { column: 'device_id' }])
      .limit(pageSize)
      .select('device_id', 'ts', 'latitude', 'longitude', 'speed', 'angle', 'satellites')) as { device_id: string; ts: Date; latitude: number; longitude: number; speed: number; angle: number; satellites: number }[];
    if (rows.length === 0) return;
    yield rows.map((row) => ({ deviceId: row.device_id, lat: row.latitude, lon: row.longitude, ts: new Date(row.ts).getTime(), speed: row.speed, course: row.angle, satellites: row.satellites }));
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1]!;
    after = { ts: last.ts, device: last.device_id };
  }
}

/**
 * The pages' fixes that `belongs` takes: a played-back event shows only the fixes its trackers made while they were
 * assigned to its entries, as live does. The span's trackers are those ever assigned to the event; one moved to a
 * car of another event on the same ground would show that car in this event's playback.
 */
export async function* fixesOf(pages: AsyncIterable<PositionEntry[]>, belongs: (fix: PositionEntry) => boolean): AsyncGenerator<PositionEntry[]> {
  for await (const page of pages) yield page.filter(belongs);
}

/**
 * Plays fixes back on the clock, `speed` times as fast: each fix goes out when the played-back time reaches it. Stops
 * when `stopped()` says so (no viewer left, or the gateway drains).
 */
export async function playBack(
  fixes: AsyncIterable<PositionEntry[]>,
  from: number,
  speed: number,
  emit: (fix: PositionEntry, n: number) => void,
  stopped: () => boolean,
  tickMs = 50,
): Promise<number> {
  const startedAt = Date.now();
  let n = 0;
  for await (const page of fixes) {
    for (const fix of page) {
      for (;;) {
        if (stopped()) return n;
        const playedTo = from + (Date.now() - startedAt) * speed;
        if (fix.ts <= playedTo) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(tickMs, Math.ceil((fix.ts - playedTo) / speed))));
      }
      emit(fix, ++n);
    }
  }
  return n;
}
