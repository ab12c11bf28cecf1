/** The geofence engine's public API: build an index once per course, then ask it about one segment at a time. */
export { buildGeofenceIndex } from './build-geofence-index.ts';
export type { BuildGeofenceIndexOptions } from './build-geofence-index.ts';
export { segmentEvents } from './segment-events.ts';
export { segmentCandidates } from './segment-candidates.ts';
export { zonesContaining } from './zones-containing.ts';
export type { GeofenceEvent } from './geofence-event.ts';
export type { GeofenceIndex, IndexedGate, IndexedGeofence, IndexedWaypoint, IndexedZone, DegreeBox } from './geofence-index.ts';
export { localProjection } from './local-projection.ts';
export type { LocalProjection, LocalProjectionOptions, Xy } from './local-projection.ts';
export { intersectSegments } from './intersect-segments.ts';
export type { IntersectSegmentsOptions, SegmentIntersection } from './intersect-segments.ts';
export { travelBearing } from './travel-bearing.ts';
