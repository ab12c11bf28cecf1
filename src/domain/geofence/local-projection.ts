import type { LonLat } from '../course.ts';
import { factors } from './units.ts';

/** A point of a local plane: metres east (x) and north (y) of the projection's origin. */
export interface Xy {
  x: number;
  y: number;
}

/**
 * An equirectangular projection around one origin. It is affine in (lon, lat), so straight lines stay straight and
 * intersection parameters (t, u) do not depend on the chosen origin; only distances and angles do, and those are
 * exact to ~1e-4 relative within a few kilometres of the origin. Every geofence gets its own origin, so accuracy does
 * not degrade with the size of the course. Longitudes are not wrapped: the antimeridian is not supported.
 */
export interface LocalProjection {
  readonly origin: LonLat;
  readonly metersPerDegreeLon: number;
  readonly metersPerDegreeLat: number;
  project(lon: number, lat: number): Xy;
}

export interface LocalProjectionOptions {
  earthRadiusMeters?: number;
}

export function localProjection(origin: LonLat, options: LocalProjectionOptions = {}): LocalProjection {
  const { earthRadiusMeters = factors.earthRadiusMeters } = options;
  const [lon0, lat0] = origin;
  if (!Number.isFinite(lon0) || !Number.isFinite(lat0) || Math.abs(lat0) >= 90) {
    throw new Error(`localProjection: origin must be a finite [lon, lat] with |lat| < 90, got [${lon0}, ${lat0}]`);
  }
  if (!(earthRadiusMeters > 0)) {
    throw new Error(`localProjection: earthRadiusMeters must be positive, got ${earthRadiusMeters}`);
  }
  const metersPerDegreeLat = earthRadiusMeters * factors.radiansPerDegree;
  const metersPerDegreeLon = metersPerDegreeLat * Math.cos(lat0 * factors.radiansPerDegree);
  return {
    origin: [lon0, lat0],
    metersPerDegreeLon,
    metersPerDegreeLat,
    project: (lon, lat) => ({ x: (lon - lon0) * metersPerDegreeLon, y: (lat - lat0) * metersPerDegreeLat }),
  };
}
