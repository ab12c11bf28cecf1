import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Course, Fix, LonLat } from '../../../../src/domain/course.ts';
import { buildGeofenceIndex, segmentEvents, zonesContaining } from '../../../../src/domain/geofence/index.ts';
import { ERFOUD, course, gate, waypoint, zone } from './helpers.ts';

// Positions on a 1.1 m grid within ~1 km of Erfoud. fast-check's bias towards small and equal integers makes fixes
// land exactly on lines, vertices and each other, which is where half-open rules and ties are tested.
const GRID = 1e-5;
const cell = fc.integer({ min: -100, max: 100 });
const position = fc.tuple(cell, cell).map(([x, y]): LonLat => [ERFOUD[0] + x * GRID, ERFOUD[1] + y * GRID]);
/** A line with two distinct points: one of a single place is no gate (buildGeofenceIndex refuses it). */
const hasLength = (line: readonly LonLat[]): boolean => line.some(([lon, lat]) => lon !== line[0]![0] || lat !== line[0]![1]);
const T = 1_772_352_000_000;

const segment = fc
  .record({ a: position, b: position, ts: fc.integer({ min: T, max: T + 1_000_000 }), dt: fc.integer({ min: 1, max: 20_000 }), va: fc.double({ min: 0, max: 300, noNaN: true }), vb: fc.double({ min: 0, max: 300, noNaN: true }) })
  .map(({ a, b, ts, dt, va, vb }): [Fix, Fix] => [{ ts, lon: a[0], lat: a[1], speedKmh: va }, { ts: ts + dt, lon: b[0], lat: b[1], speedKmh: vb }]);

const box = fc.tuple(position, fc.integer({ min: 2, max: 60 }), fc.integer({ min: 2, max: 60 })).map(([[lon, lat], w, h]): LonLat[] => [
  [lon, lat], [lon + w * GRID, lat], [lon + w * GRID, lat + h * GRID], [lon, lat + h * GRID], [lon, lat],
]);
const triangle = fc.tuple(position, position, position).map(([a, b, c]): LonLat[] => [a, b, c, a]);
const polygon = fc.oneof(
  box.map((ring) => [ring]),
  triangle.map((ring) => [ring]),
  // A box with a hole in its middle third.
  fc.tuple(position, fc.integer({ min: 6, max: 60 })).map(([[lon, lat], s]): LonLat[][] => {
    const d = s * GRID;
    return [
      [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]],
      [[lon + d / 3, lat + d / 3], [lon + d / 3, lat + (2 * d) / 3], [lon + (2 * d) / 3, lat + (2 * d) / 3], [lon + (2 * d) / 3, lat + d / 3], [lon + d / 3, lat + d / 3]],
    ];
  }),
);

const randomCourse = fc
  .record({
    gates: fc.array(fc.record({ line: fc.array(position, { minLength: 2, maxLength: 4 }).filter(hasLength), direction: fc.option(fc.integer({ min: 0, max: 359 })) }), { maxLength: 4 }),
    zones: fc.array(polygon, { maxLength: 3 }),
    waypoints: fc.array(fc.tuple(position, fc.integer({ min: 0, max: 300 })), { maxLength: 3 }),
  })
  .map(({ gates, zones, waypoints }): Course => course({
    gates: gates.map(({ line, direction }, i) => gate(`g${i}`, line, { directionDeg: direction })),
    zones: zones.map((rings, i) => zone(`z${i}`, rings)),
    waypoints: waypoints.map(([location, tolerance], i) => waypoint(`w${i}`, location, tolerance)),
  }));

describe('properties', () => {
  it('every event lies between its two fixes, and events are sorted by at', () => {
    fc.assert(
      fc.property(randomCourse, segment, fc.func(fc.boolean()), (c, [prev, cur], wasIn) => {
        const inside = new Set(c.zones.map((z) => z.id).filter((id) => wasIn(id)));
        const events = segmentEvents(buildGeofenceIndex(c), prev, cur, inside);
        for (const e of events) {
          expect(e.at).toBeGreaterThanOrEqual(prev.ts);
          expect(e.at).toBeLessThanOrEqual(cur.ts);
          expect(Number.isInteger(e.at)).toBe(true);
        }
        expect(events.map((e) => e.at)).toEqual(events.map((e) => e.at).sort((a, b) => a - b));
      }),
      { numRuns: 500 },
    );
  });

  it('reversing a gate\'s point order does not change its crossings', () => {
    fc.assert(
      fc.property(position, position, fc.option(fc.integer({ min: 0, max: 359 })), segment, (a, b, directionDeg, [prev, cur]) => {
        fc.pre(hasLength([a, b]));
        const forward = buildGeofenceIndex(course({ gates: [gate('g', [a, b], { directionDeg })] }));
        const backward = buildGeofenceIndex(course({ gates: [gate('g', [b, a], { directionDeg })] }));
        expect(segmentEvents(backward, prev, cur, new Set())).toEqual(segmentEvents(forward, prev, cur, new Set()));
      }),
      { numRuns: 1000 },
    );
  });

  it('reversing a polyline gate keeps the same number of crossings, at the same times to the millisecond', () => {
    fc.assert(
      fc.property(fc.array(position, { minLength: 3, maxLength: 5 }), segment, (line, [prev, cur]) => {
        fc.pre(hasLength(line));
        const times = (l: LonLat[]) => segmentEvents(buildGeofenceIndex(course({ gates: [gate('g', l)] })), prev, cur, new Set()).map((e) => e.at);
        const forward = times(line);
        const backward = times([...line].reverse());
        expect(backward).toHaveLength(forward.length);
        backward.forEach((at, i) => expect(Math.abs(at - forward[i]!)).toBeLessThanOrEqual(1));
      }),
      { numRuns: 1000 },
    );
  });

  it('zone events lead from the caller\'s state at prev to the zones containing cur', () => {
    fc.assert(
      fc.property(randomCourse, segment, fc.func(fc.boolean()), (c, [prev, cur], wasIn) => {
        const index = buildGeofenceIndex(c);
        const inside = new Set(c.zones.map((z) => z.id).filter((id) => wasIn(id)));
        const state = new Set(inside);
        for (const e of segmentEvents(index, prev, cur, inside)) {
          if (e.type === 'zone.entered') {
            expect(state.has(e.zoneId)).toBe(false);
            state.add(e.zoneId);
          }
          if (e.type === 'zone.exited') {
            expect(state.has(e.zoneId)).toBe(true);
            state.delete(e.zoneId);
          }
        }
        expect([...state].sort()).toEqual(zonesContaining(index, cur));
      }),
      { numRuns: 1000 },
    );
  });

  it('a gate crossed by a track is counted once per crossing, however the track is cut into fixes', () => {
    // Splitting a straight segment with a fix on it must not add or lose crossings or zone changes (half-open rule).
    // Unbiased positions on a 1 micrometre grid here: the extra fix is on the segment only up to rounding, so it must
    // not be built exactly on a line or vertex, and segments and shapes must not be degenerate.
    const micro = fc.noBias(fc.integer({ min: -1e9, max: 1e9 }));
    const fine = fc.tuple(micro, micro).map(([x, y]): LonLat => [ERFOUD[0] + x * 1e-11, ERFOUD[1] + y * 1e-11]);
    const apart = (p: LonLat, q: LonLat) => Math.hypot(p[0] - q[0], p[1] - q[1]) > 1e-6;
    fc.assert(
      fc.property(fine, fine, fc.tuple(fine, fine, fine), fine, fine, fc.integer({ min: 1, max: 999 }), (g1, g2, [z1, z2, z3], a, b, split) => {
        fc.pre(apart(g1, g2) && apart(a, b) && apart(z1, z2) && apart(z2, z3) && apart(z3, z1));
        const index = buildGeofenceIndex(course({ gates: [gate('g', [g1, g2])], zones: [zone('z', [[z1, z2, z3, z1]])] }));
        const prev: Fix = { ts: T, lon: a[0], lat: a[1], speedKmh: 50 };
        const cur: Fix = { ts: T + 1000, lon: b[0], lat: b[1], speedKmh: 50 };
        const f = split / 1000;
        const mid: Fix = { ts: T + split, lon: a[0] + f * (b[0] - a[0]), lat: a[1] + f * (b[1] - a[1]), speedKmh: 50 };
        const inside = new Set(zonesContaining(index, prev));
        const whole = segmentEvents(index, prev, cur, inside);
        const halves = [...segmentEvents(index, prev, mid, inside), ...segmentEvents(index, mid, cur, new Set(zonesContaining(index, mid)))];
        // Per kind, so that a gate crossing and a zone change within the same millisecond may come in either order.
        for (const type of ['gate.crossed', 'zone.entered', 'zone.exited'] as const) {
          const wholeTimes = whole.filter((e) => e.type === type).map((e) => e.at);
          const halvesTimes = halves.filter((e) => e.type === type).map((e) => e.at);
          expect(halvesTimes).toHaveLength(wholeTimes.length);
          halvesTimes.forEach((at, i) => expect(Math.abs(at - wholeTimes[i]!)).toBeLessThanOrEqual(1));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
