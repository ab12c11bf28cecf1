import type RBush from 'rbush';
import type { GateKind } from '../course.ts';
import type { LocalProjection, Xy } from './local-projection.ts';

/** A bounding box in degrees (minX/maxX longitude, minY/maxY latitude), the shape rbush stores. */
export interface DegreeBox {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

/** A gate projected once into its own local plane; `line` is in metres of `projection`. */
export interface IndexedGate extends DegreeBox {
  readonly type: 'gate';
  readonly id: string;
  readonly stageId: string;
  readonly kind: GateKind;
  readonly directionDeg: number | null;
  readonly projection: LocalProjection;
  readonly line: readonly Xy[];
}

/** A zone projected once; `rings` are the outer ring then holes, each closed, in metres of `projection`. */
export interface IndexedZone extends DegreeBox {
  readonly type: 'zone';
  readonly id: string;
  readonly projection: LocalProjection;
  readonly rings: readonly (readonly Xy[])[];
}

/** A waypoint; its projection is centred on it, so its location is the plane's origin. Box includes the tolerance. */
export interface IndexedWaypoint extends DegreeBox {
  readonly type: 'waypoint';
  readonly id: string;
  readonly stageId: string;
  readonly toleranceMeters: number;
  readonly projection: LocalProjection;
}

export type IndexedGeofence = IndexedGate | IndexedZone | IndexedWaypoint;

/**
 * Everything the engine needs from a Course, projected once, with an R-tree over the boxes so the work per fix
 * depends on the geofences near the segment, not on how many there are. Holds copies, never the Course's objects.
 */
export interface GeofenceIndex {
  readonly tree: RBush<IndexedGeofence>;
  /** Zones by id, to close a zone the caller believes the device is in but that is nowhere near the segment. */
  readonly zones: ReadonlyMap<string, IndexedZone>;
  readonly size: number;
}
