import type { Fix } from '../course.ts';
import type { GeofenceEvent } from './geofence-event.ts';
import type { GeofenceIndex, IndexedGeofence } from './geofence-index.ts';
import { gateCrossings } from './gate-crossings.ts';
import { segmentCandidates } from './segment-candidates.ts';
import type { TimedEvent } from './timed-event.ts';
import { waypointApproach } from './waypoint-approach.ts';
import { zoneTransitions } from './zone-transitions.ts';

// Events are ordered by their exact parameter t (so one zone's entries and exits keep their physical order even
// within one millisecond); only exact ties fall back to kind, then id, so the output never depends on the R-tree's
// order. A tie is mostly t = 0 or t = 1, where an exit is listed before an entry.
function tieBreak(event: GeofenceEvent): [rank: number, id: string] {
  switch (event.type) {
    case 'zone.exited': return [0, event.zoneId];
    case 'gate.crossed': return [1, event.gateId];
    case 'waypoint.passed': return [2, event.waypointId];
    case 'zone.entered': return [3, event.zoneId];
    default: {
      const unknown: never = event;
      throw new Error(`segmentEvents: unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

function eventsOf(geofence: IndexedGeofence, prev: Fix, cur: Fix, insideZones: ReadonlySet<string>): TimedEvent[] {
  switch (geofence.type) {
    case 'gate': return gateCrossings(geofence, prev, cur);
    case 'zone': return zoneTransitions(geofence, prev, cur, insideZones.has(geofence.id));
    case 'waypoint': return waypointApproach(geofence, prev, cur);
    default: {
      const unknown: never = geofence;
      throw new Error(`segmentEvents: unknown geofence ${JSON.stringify(unknown)}`);
    }
  }
}

function checkFix(fix: Fix): void {
  if (!Number.isSafeInteger(fix.ts) || !Number.isFinite(fix.lon) || !Number.isFinite(fix.lat) || !Number.isFinite(fix.speedKmh)) {
    throw new Error(`segmentEvents: a fix needs an integer ts and finite lon, lat and speedKmh, got ${JSON.stringify(fix)}`);
  }
}

/**
 * Everything that happened on the segment between two consecutive fixes of one device, sorted by time: gate
 * crossings, zone entries and exits, waypoint passages, each at its time interpolated along the segment (never the
 * later fix's time). Stateless: `insideZones` is the set of zone ids the device was in at prev, and applying the
 * returned zone events to it gives the set at cur. Zone ids the index does not know are ignored. Debouncing, stage
 * windows and ordering of splits are the caller's. Out-of-order or duplicate fixes (prev.ts >= cur.ts) are refused.
 */
export function segmentEvents(index: GeofenceIndex, prev: Fix, cur: Fix, insideZones: ReadonlySet<string>): GeofenceEvent[] {
  checkFix(prev);
  checkFix(cur);
  if (prev.ts >= cur.ts) throw new Error(`segmentEvents: prev.ts (${prev.ts}) must be earlier than cur.ts (${cur.ts})`);
  const candidates = segmentCandidates(index, prev, cur);
  // Most segments are nowhere near a geofence: nothing to test, nothing to close.
  if (candidates.length === 0 && insideZones.size === 0) return [];
  const timed = candidates.flatMap((geofence) => eventsOf(geofence, prev, cur, insideZones));
  // A zone the caller thinks the device is in but whose box does not even touch the segment: the device was not
  // in it at prev either (prev is in the segment's box), so close it at prev.ts to keep the caller's state true.
  const near = new Set(candidates.flatMap((geofence) => (geofence.type === 'zone' ? [geofence.id] : [])));
  for (const zoneId of insideZones) {
    if (index.zones.has(zoneId) && !near.has(zoneId)) timed.push({ t: 0, event: { type: 'zone.exited', zoneId, at: prev.ts } });
  }
  return timed
    .map(({ t, event }) => ({ t, event, key: tieBreak(event) }))
    .sort((a, b) => a.t - b.t || a.key[0] - b.key[0] || (a.key[1] < b.key[1] ? -1 : a.key[1] > b.key[1] ? 1 : 0))
    .map(({ event }) => event);
}
