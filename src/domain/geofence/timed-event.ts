import type { GeofenceEvent } from './geofence-event.ts';

/** An event with the exact segment parameter it happened at, so sorting does not depend on millisecond rounding. */
export interface TimedEvent {
  readonly t: number;
  readonly event: GeofenceEvent;
}
