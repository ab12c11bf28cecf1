/**
 * Unit conversions of the geofence engine in one table (STYLE 2). The Earth radius is turf's mean radius, so a
 * distance measured by the engine agrees with turf's `distance` to well under a millimetre at geofence scale.
 */
export const factors = {
  earthRadiusMeters: 6_371_008.8,
  radiansPerDegree: Math.PI / 180,
  degreesPerRadian: 180 / Math.PI,
} as const;
