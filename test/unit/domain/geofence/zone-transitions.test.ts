import { describe, expect, it } from 'vitest';
import { buildGeofenceIndex, segmentEvents, zonesContaining } from '../../../../src/domain/geofence/index.ts';
import type { LonLat } from '../../../../src/domain/course.ts';
import { T0, course, fix, runTrack, square, zone } from './helpers.ts';

// All zones sit on the equator, where the plane is degrees times a constant, so every boundary parameter below is a
// ratio of the coordinates written in the test.
const along = (lons: number[], lat = 0) => lons.map((lon, i) => fix(T0 + i * 1000, [lon, lat]));

describe('zone.entered / zone.exited', () => {
  it('interpolates entry and exit at the boundary of a square', () => {
    const index = buildGeofenceIndex(course({ zones: [zone('z', [square([0, 0], 0.001)])] }));
    const fixes = along([-0.0022, -0.0017, -0.0012, -0.0007, -0.0002, 0.0003, 0.0008, 0.0013, 0.0018]);
    expect(runTrack(index, fixes).map(({ event }) => event)).toEqual([
      { type: 'zone.entered', zoneId: 'z', at: T0 + 2400 }, // -0.001 is 0.4 of the way from -0.0012 to -0.0007
      { type: 'zone.exited', zoneId: 'z', at: T0 + 6400 },
    ]);
  });

  it('treats a hole as outside: exit into it and re-entry out of it are interpolated too', () => {
    const holed = zone('z', [square([0, 0], 0.002), square([0, 0], 0.0005).reverse()]);
    const index = buildGeofenceIndex(course({ zones: [holed] }));
    const fixes = along([-0.0024, -0.0014, -0.0004, 0.0006, 0.0016, 0.0026]);
    expect(runTrack(index, fixes).map(({ event }) => event)).toEqual([
      { type: 'zone.entered', zoneId: 'z', at: T0 + 400 },
      { type: 'zone.exited', zoneId: 'z', at: T0 + 1900 },
      { type: 'zone.entered', zoneId: 'z', at: T0 + 2900 },
      { type: 'zone.exited', zoneId: 'z', at: T0 + 4400 },
    ]);
    expect(zonesContaining(index, { lon: 0, lat: 0 })).toEqual([]);
    expect(zonesContaining(index, { lon: 0.001, lat: 0 })).toEqual(['z']);
    // One segment from the ring, across the hole, back to the ring: both fixes inside, exit then entry.
    expect(segmentEvents(index, fix(T0, [-0.0008, 0]), fix(T0 + 1000, [0.0012, 0]), new Set(['z']))).toEqual([
      { type: 'zone.exited', zoneId: 'z', at: T0 + 150 },
      { type: 'zone.entered', zoneId: 'z', at: T0 + 650 },
    ]);
  });

  it('reports entry then exit when a segment with both fixes outside cuts a corner', () => {
    const index = buildGeofenceIndex(course({ zones: [zone('z', [[[0, 0], [0.001, 0], [0.001, 0.001], [0, 0.001], [0, 0]]])] }));
    // The line lat = lon + 0.0008 enters through lon = 0 (t = 0.4) and leaves through lat = 0.001 (t = 0.6).
    expect(segmentEvents(index, fix(T0, [-0.0004, 0.0004]), fix(T0 + 1000, [0.0006, 0.0014]), new Set())).toEqual([
      { type: 'zone.entered', zoneId: 'z', at: T0 + 400 },
      { type: 'zone.exited', zoneId: 'z', at: T0 + 600 },
    ]);
  });

  it('reports exit then re-entry when a segment with both fixes inside a concave zone cuts across its notch', () => {
    const ell: LonLat[] = [[0, 0], [0.002, 0], [0.002, 0.001], [0.001, 0.001], [0.001, 0.002], [0, 0.002], [0, 0]];
    const index = buildGeofenceIndex(course({ zones: [zone('L', [ell])] }));
    // lon + lat = 0.0026 leaves the upper arm at lon 0.001 (t = 0.2) and re-enters the right arm at lat 0.001 (t = 0.8).
    expect(segmentEvents(index, fix(T0, [0.0008, 0.0018]), fix(T0 + 1000, [0.0018, 0.0008]), new Set(['L']))).toEqual([
      { type: 'zone.exited', zoneId: 'L', at: T0 + 200 },
      { type: 'zone.entered', zoneId: 'L', at: T0 + 800 },
    ]);
  });

  it('counts a fix exactly on the boundary as inside, once', () => {
    const index = buildGeofenceIndex(course({ zones: [zone('z', [square([0, 0], 0.001)])] }));
    const onBoundary = fix(T0 + 1000, [-0.001, 0]);
    expect(segmentEvents(index, fix(T0, [-0.0015, 0]), onBoundary, new Set())).toEqual([{ type: 'zone.entered', zoneId: 'z', at: T0 + 1000 }]);
    expect(segmentEvents(index, onBoundary, fix(T0 + 2000, [-0.0005, 0]), new Set(['z']))).toEqual([]);
    // Touching the boundary and turning back: the exit is at the touching fix's time.
    expect(segmentEvents(index, onBoundary, fix(T0 + 2000, [-0.0015, 0]), new Set(['z']))).toEqual([{ type: 'zone.exited', zoneId: 'z', at: T0 + 1000 }]);
  });

  it('orders simultaneous events of adjacent zones and keeps each zone consistent', () => {
    const west = zone('west', [[[-0.001, -0.001], [0, -0.001], [0, 0.001], [-0.001, 0.001], [-0.001, -0.001]]]);
    const east = zone('east', [[[0, -0.001], [0.001, -0.001], [0.001, 0.001], [0, 0.001], [0, -0.001]]]);
    const index = buildGeofenceIndex(course({ zones: [west, east] }));
    const events = segmentEvents(index, fix(T0, [-0.0005, 0]), fix(T0 + 1000, [0.0005, 0]), new Set(['west']));
    expect(new Set(events)).toEqual(new Set([{ type: 'zone.exited', zoneId: 'west', at: T0 + 500 }, { type: 'zone.entered', zoneId: 'east', at: T0 + 500 }]));
  });

  it('brings a stale or empty caller state in line with the geometry at prev.ts', () => {
    const index = buildGeofenceIndex(course({ zones: [zone('z', [square([0, 0], 0.001)])] }));
    // Far away from the zone, but the caller believes the device is in it (and in a zone the course does not have).
    expect(segmentEvents(index, fix(T0, [1, 1]), fix(T0 + 1000, [1.0001, 1]), new Set(['z', 'gone']))).toEqual([
      { type: 'zone.exited', zoneId: 'z', at: T0 },
    ]);
    // A device whose state is empty although it is already deep inside.
    expect(segmentEvents(index, fix(T0, [0, 0]), fix(T0 + 1000, [0.0001, 0]), new Set())).toEqual([{ type: 'zone.entered', zoneId: 'z', at: T0 }]);
    // zonesContaining gives the state to start from, and then there is nothing to correct.
    const start = new Set(zonesContaining(index, fix(T0, [0, 0])));
    expect(segmentEvents(index, fix(T0, [0, 0]), fix(T0 + 1000, [0.0001, 0]), start)).toEqual([]);
  });

  it('agrees with turf on inside-ness, boundary and holes included', async () => {
    const { booleanPointInPolygon, polygon } = await import('@turf/turf');
    const rings = [square([-4.2, 31.42], 0.01), square([-4.2, 31.42], 0.003).reverse()];
    const index = buildGeofenceIndex(course({ zones: [zone('z', rings)] }));
    const probes: LonLat[] = [[-4.2, 31.42], [-4.205, 31.42], [-4.2, 31.4285], [-4.21, 31.42], [-4.2, 31.417], [-4.189, 31.42], [-4.2101, 31.42]];
    for (const [lon, lat] of probes) {
      expect(zonesContaining(index, { lon, lat }).includes('z'), `${lon},${lat}`).toBe(booleanPointInPolygon([lon, lat], polygon(rings)));
    }
  });
});
