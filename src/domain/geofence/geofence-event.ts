import type { GateKind } from '../course.ts';

/**
 * What the geofence engine reports for one segment between two consecutive fixes of a device. Every time is
 * interpolated along the segment (never just the later fix's time), in epoch milliseconds.
 */
export type GeofenceEvent =
  | { type: 'gate.crossed'; gateId: string; stageId: string; kind: GateKind; at: number; speedKmh: number; bearingDeg: number }
  | { type: 'zone.entered'; zoneId: string; at: number }
  | { type: 'zone.exited'; zoneId: string; at: number }
  | { type: 'waypoint.passed'; waypointId: string; stageId: string; at: number; distanceMeters: number };
