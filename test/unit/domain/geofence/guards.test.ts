import { describe, expect, it } from 'vitest';
import { buildGeofenceIndex, segmentEvents } from '../../../../src/domain/geofence/index.ts';
import { course, fix, gate, square, waypoint, zone } from './helpers.ts';

describe('guard clauses', () => {
  it('refuses geometry it would misread', () => {
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[0, 0]])] }))).toThrow('buildGeofenceIndex: gate "g" needs at least 2 points, got 1');
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[0, 0], [0, 95]])] }))).toThrow('buildGeofenceIndex: gate "g" has an invalid position [0, 95]');
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[0, 1], [0, 1], [0, 1]])] }))).toThrow('buildGeofenceIndex: gate "g" has no length: all its points are at one place');
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[179.9, 0], [-179.9, 0]])] }))).toThrow('buildGeofenceIndex: gate "g" crosses the antimeridian, which is not supported');
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[0, 0], [0, 1]], { directionDeg: Number.NaN })] }))).toThrow('buildGeofenceIndex: gate "g" has a non-finite directionDeg NaN');
    expect(() => buildGeofenceIndex(course({ gates: [gate('g', [[0, 0], [0, 1]]), gate('g', [[1, 0], [1, 1]])] }))).toThrow('buildGeofenceIndex: duplicate gate id "g"');
    expect(() => buildGeofenceIndex(course({ zones: [zone('z', [])] }))).toThrow('buildGeofenceIndex: zone "z" has no outer ring');
    expect(() => buildGeofenceIndex(course({ zones: [zone('z', [square([0, 0], 1).slice(0, 4)])] }))).toThrow('buildGeofenceIndex: zone "z" ring 0 is not closed');
    expect(() => buildGeofenceIndex(course({ zones: [zone('z', [[[0, 0], [1, 0], [0, 0]]])] }))).toThrow('buildGeofenceIndex: zone "z" ring 0 needs at least 4 positions, got 3');
    expect(() => buildGeofenceIndex(course({ waypoints: [waypoint('w', [0, 0], -1)] }))).toThrow('buildGeofenceIndex: waypoint "w" needs a finite toleranceMeters >= 0, got -1');
    expect(() => buildGeofenceIndex(course(), { nodeSize: 2 })).toThrow('buildGeofenceIndex: nodeSize must be an integer >= 4, got 2');
  });

  it('refuses out-of-order, duplicate and malformed fixes', () => {
    const index = buildGeofenceIndex(course());
    expect(() => segmentEvents(index, fix(2000, [0, 0]), fix(2000, [0, 0.001]), new Set())).toThrow('segmentEvents: prev.ts (2000) must be earlier than cur.ts (2000)');
    expect(() => segmentEvents(index, fix(3000, [0, 0]), fix(2000, [0, 0.001]), new Set())).toThrow('segmentEvents: prev.ts (3000) must be earlier than cur.ts (2000)');
    expect(() => segmentEvents(index, fix(1000.5, [0, 0]), fix(2000, [0, 0.001]), new Set())).toThrow(
      'segmentEvents: a fix needs an integer ts and finite lon, lat and speedKmh, got {"ts":1000.5,"lon":0,"lat":0,"speedKmh":100}',
    );
    expect(() => segmentEvents(index, fix(1000, [0, 0]), fix(2000, [Number.NaN, 0]), new Set())).toThrow('segmentEvents: a fix needs an integer ts');
  });

  it('accepts an empty course and a zero tolerance', () => {
    expect(segmentEvents(buildGeofenceIndex(course()), fix(1000, [0, 0]), fix(2000, [0, 0.001]), new Set())).toEqual([]);
    const exact = buildGeofenceIndex(course({ waypoints: [waypoint('w', [0, 0.0005], 0)] }));
    expect(segmentEvents(exact, fix(1000, [0, 0]), fix(2000, [0, 0.001]), new Set())).toEqual([
      { type: 'waypoint.passed', waypointId: 'w', stageId: 'ss1', at: 1500, distanceMeters: 0 },
    ]);
  });
});
