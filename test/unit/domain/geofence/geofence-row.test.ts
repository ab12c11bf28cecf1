import { describe, expect, it } from 'vitest';
import { geofenceRowProblems } from '../../../../src/domain/geofence/geofence-row.ts';

const line = (coordinates: unknown) => ({ type: 'LineString', coordinates });
const polygon = (coordinates: unknown) => ({ type: 'Polygon', coordinates });
const ring = [[-4.2, 31.4], [-4.1, 31.5], [-4.1, 31.4], [-4.2, 31.4]];

describe('geofenceRowProblems', () => {
  it('finds nothing wrong with the rows the timing uses', () => {
    expect(geofenceRowProblems({ kind: 'start_line', stage: 's1', geometry: line([[-4.2, 31.4], [-4.21, 31.41]]), direction_deg: 90 })).toEqual([]);
    expect(geofenceRowProblems({ kind: 'split_line', stage: 's1', geometry: line([[-4.2, 31.4], [-4.21, 31.41], [-4.22, 31.4]]), direction_deg: null })).toEqual([]);
    expect(geofenceRowProblems({ kind: 'zone', stage: null, geometry: polygon([ring]) })).toEqual([]);
    expect(geofenceRowProblems({ kind: 'speed_zone', stage: 's1', geometry: polygon([ring]), speed_limit_kmh: 50 })).toEqual([]);
    // No limit: a speed zone that times nothing, which the contract allows.
    expect(geofenceRowProblems({ kind: 'speed_zone', stage: 's1', geometry: polygon([ring]), speed_limit_kmh: null })).toEqual([]);
    // GeoJSON as text, as some clients send it.
    expect(geofenceRowProblems({ kind: 'finish_line', stage: 's1', geometry: JSON.stringify(line([[-4.2, 31.4], [-4.21, 31.41]])) })).toEqual([]);
  });

  it('names the field and what the engine needs, as the processor would find it', () => {
    expect(geofenceRowProblems({ kind: 'split_line', stage: 's1', geometry: line([[-4.2, 31.4]]) })).toEqual([{ field: 'geometry', message: 'a split_line needs at least 2 points, got 1' }]);
    expect(geofenceRowProblems({ kind: 'start_line', stage: null, geometry: { type: 'Point', coordinates: [-4.2, 31.4] } })).toEqual([
      { field: 'stage', message: 'a start_line belongs to a stage' },
      { field: 'geometry', message: 'a start_line needs a LineString, not a Point' },
    ]);
    expect(geofenceRowProblems({ kind: 'finish_line', stage: 's1', geometry: line([['a', 1], [2, 3]]) })).toEqual([{ field: 'geometry', message: 'a finish_line needs a LineString, not a LineString whose positions are not [longitude, latitude]' }]);
    // Extra numbers in a position (PostGIS answered them with a 500), and a line of one place twice over.
    expect(geofenceRowProblems({ kind: 'split_line', stage: 's1', geometry: line([[-4.1, 31.41, 5, 6, 7], [-4.1, 31.4]]) })).toEqual([{ field: 'geometry', message: 'a split_line needs a LineString, not a LineString whose positions are not [longitude, latitude]' }]);
    expect(geofenceRowProblems({ kind: 'split_line', stage: 's1', geometry: line([[-4.1, 31.4], [-4.1, 31.4]]) })).toEqual([{ field: 'geometry', message: 'a split_line has no length: all its points are at one place' }]);
    expect(geofenceRowProblems({ kind: 'zone', geometry: polygon([[[-4.2, 31.4], [-4.1, 95], [-4.1, 31.4], [-4.2, 31.4]]]) })).toEqual([{ field: 'geometry', message: 'a zone has an invalid position [-4.1, 95]' }]);
    expect(geofenceRowProblems({ kind: 'zone', geometry: polygon([ring.slice(0, 3).concat([[-4.3, 31.3]])]) })).toEqual([{ field: 'geometry', message: 'a zone ring 0 is not closed' }]);
    expect(geofenceRowProblems({ kind: 'zone', geometry: polygon([[[179, 1], [-179, 1], [-179, 2], [179, 1]]]) })).toEqual([{ field: 'geometry', message: 'a zone crosses the antimeridian, which is not supported' }]);
    expect(geofenceRowProblems({ kind: 'zone', geometry: line([[1, 1], [2, 2]]) })).toEqual([{ field: 'geometry', message: 'a zone needs a Polygon, not a LineString' }]);
    expect(geofenceRowProblems({ kind: 'zone', geometry: null })).toEqual([{ field: 'geometry', message: 'a zone needs a Polygon, not nothing' }]);
    for (const limit of [-50, 0, 'fast', Number.NaN]) {
      expect(geofenceRowProblems({ kind: 'speed_zone', geometry: polygon([ring]), speed_limit_kmh: limit })).toEqual([{ field: 'speed_limit_kmh', message: `expected km/h above 0, not ${JSON.stringify(limit)}` }]);
    }
    expect(geofenceRowProblems({ kind: 'start_line', stage: 's1', geometry: line([[1, 1], [2, 2]]), direction_deg: 'north' })).toEqual([{ field: 'direction_deg', message: 'expected degrees from 0 up to 360 (not included), or nothing, not "north"' }]);
    for (const bearing of [720, 360, -90]) {
      expect(geofenceRowProblems({ kind: 'start_line', stage: 's1', geometry: line([[1, 1], [2, 2]]), direction_deg: bearing }).map((p) => p.field)).toEqual(['direction_deg']);
    }
    expect(geofenceRowProblems({ kind: 'start_line', stage: 's1', geometry: line([[1, 1], [2, 2]]), direction_deg: 359.5 })).toEqual([]);
    expect(geofenceRowProblems({ kind: 'waypoint', geometry: { type: 'Point', coordinates: [1, 1] } })).toEqual([{ field: 'kind', message: 'expected one of start_line, finish_line, split_line, zone, speed_zone, not "waypoint"' }]);
  });
});
