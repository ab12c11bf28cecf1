/**
 * The race setup the pipeline needs, in plain data: what the business plane's stages, geofences and waypoints
 * say, with times as epoch milliseconds and coordinates as [longitude, latitude] (GeoJSON order).
 */
export type LonLat = [lon: number, lat: number];

export type GateKind = 'start_line' | 'split_line' | 'finish_line';

export interface Gate {
  id: string;
  stageId: string;
  kind: GateKind;
  name: string;
  /** The line, at least two points (a polyline is allowed). */
  line: LonLat[];
  /** When set, a crossing counts only if the travel bearing is within 90 degrees of it. */
  directionDeg: number | null;
  /** Order of split lines within their stage; null for start and finish. */
  sortOrder: number | null;
}

export interface Zone {
  id: string;
  /** The event whose course the zone belongs to: an event-wide zone (no stage) still belongs to one event. */
  eventId: string;
  /** Null for a zone that applies to the whole event. */
  stageId: string | null;
  kind: 'zone' | 'speed_zone';
  name: string;
  /** GeoJSON polygon rings: the outer ring first, then holes; each ring closed. */
  polygon: LonLat[][];
  speedLimitKmh: number | null;
}

export interface Waypoint {
  id: string;
  stageId: string;
  name: string;
  location: LonLat;
  toleranceMeters: number;
  sortOrder: number;
  penaltyMs: number;
}

export interface Stage {
  id: string;
  eventId: string;
  name: string;
  sortOrder: number;
  opensAt: number;
  closesAt: number;
}

export interface Course {
  stages: Stage[];
  gates: Gate[];
  zones: Zone[];
  waypoints: Waypoint[];
}

/** One GPS fix as the geofence engine sees it. */
export interface Fix {
  ts: number;
  lat: number;
  lon: number;
  speedKmh: number;
}
