import type { Fix } from '../course.ts';
import type { IndexedZone } from './geofence-index.ts';
import { interpolateFix } from './interpolate-fix.ts';
import type { Xy } from './local-projection.ts';
import { orientation } from './orientation.ts';
import { pointInZone } from './point-in-zone.ts';
import type { TimedEvent } from './timed-event.ts';

/** Boundary contacts closer than this fraction of the segment are one contact (a vertex hit by two edges). */
const SAME_CONTACT = 1e-9;

/**
 * Parameters strictly inside (0, 1) where the segment meets the zone's boundary. They only split the segment into
 * stretches whose inside-ness is then sampled, so an extra parameter is harmless and a missing one is what to avoid.
 */
function boundaryParams(p: Xy, q: Xy, rings: IndexedZone['rings']): number[] {
  const rx = q.x - p.x;
  const ry = q.y - p.y;
  const length2 = rx * rx + ry * ry;
  if (length2 === 0) return [];
  const params: number[] = [];
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const a = ring[i]!;
      const b = ring[i + 1]!;
      const sp = orientation(a, b, p);
      const sq = orientation(a, b, q);
      if (sp === 0 && sq === 0) {
        // Driving along an edge: inside-ness can only change where the shared stretch begins or ends.
        for (const v of [a, b]) params.push(((v.x - p.x) * rx + (v.y - p.y) * ry) / length2);
      } else if (sp !== 0 && sq !== 0 && sp > 0 !== sq > 0) {
        const oa = orientation(p, q, a);
        const ob = orientation(p, q, b);
        if (!((oa > 0 && ob > 0) || (oa < 0 && ob < 0))) params.push(sp / (sp - sq));
      }
    }
  }
  const sorted = params.filter((t) => t > SAME_CONTACT && t < 1 - SAME_CONTACT).sort((x, y) => x - y);
  return sorted.filter((t, i) => i === 0 || t - sorted[i - 1]! > SAME_CONTACT);
}

/**
 * Entries into and exits from one zone along prev→cur, in order. `wasInside` is the caller's state at prev; the
 * state at cur is computed (boundary counts as inside). Between consecutive boundary contacts the inside-ness is
 * sampled at the midpoint, and an event is emitted wherever it changes, so the events always lead from `wasInside`
 * to the state at cur: a segment cutting a corner gives entry then exit, one crossing a hole exit then entry. If the
 * caller's state disagrees with the geometry just after prev (a fix exactly on the boundary moving out, or a first
 * fix already inside), the correcting event is at t = 0, i.e. at prev.ts.
 */
export function zoneTransitions(zone: IndexedZone, prev: Fix, cur: Fix, wasInside: boolean): TimedEvent[] {
  const p = zone.projection.project(prev.lon, prev.lat);
  const q = zone.projection.project(cur.lon, cur.lat);
  const params = boundaryParams(p, q, zone.rings);
  const starts = [0, ...params];
  const ends = [...params, 1];
  const events: TimedEvent[] = [];
  let inside = wasInside;
  const change = (t: number, now: boolean): void => {
    if (now === inside) return;
    const { at } = interpolateFix(prev, cur, t);
    events.push({ t, event: now ? { type: 'zone.entered', zoneId: zone.id, at } : { type: 'zone.exited', zoneId: zone.id, at } });
    inside = now;
  };
  starts.forEach((start, i) => {
    const mid = (start + ends[i]!) / 2;
    change(start, pointInZone({ x: p.x + mid * (q.x - p.x), y: p.y + mid * (q.y - p.y) }, zone.rings));
  });
  change(1, pointInZone(q, zone.rings));
  return events;
}
