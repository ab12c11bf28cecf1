import { describe, expect, it } from 'vitest';
import { buildGeofenceIndex, segmentEvents } from '../../../../src/domain/geofence/index.ts';
import type { LonLat } from '../../../../src/domain/course.ts';
import { course, fix, gate } from './helpers.ts';

// A north-south line on the equator at lon 0.00025; the eastbound segment crosses it at t = 0.25, the westbound at 0.75.
const line: LonLat[] = [[0.00025, -0.0005], [0.00025, 0.0005]];
const eastbound = [fix(1000, [0, 0]), fix(2000, [0.001, 0])] as const;
const westbound = [fix(1000, [0.001, 0]), fix(2000, [0, 0])] as const;

function crossings(directionDeg: number | null, [prev, cur]: readonly [ReturnType<typeof fix>, ReturnType<typeof fix>]) {
  const index = buildGeofenceIndex(course({ gates: [gate('g', line, { directionDeg })] }));
  return segmentEvents(index, prev, cur, new Set()).map((e) => (e.type === 'gate.crossed' ? [e.at, e.bearingDeg] : e.type));
}

describe('gate.crossed: direction', () => {
  it('counts a crossing whose bearing is within 90 degrees of the gate direction and ignores the opposite one', () => {
    expect(crossings(90, eastbound)).toEqual([[1250, 90]]);
    expect(crossings(90, westbound)).toEqual([]);
    expect(crossings(270, westbound)).toEqual([[1750, 270]]);
    expect(crossings(270, eastbound)).toEqual([]);
  });

  it('counts both directions when the gate has no direction', () => {
    expect(crossings(null, eastbound)).toEqual([[1250, 90]]);
    expect(crossings(null, westbound)).toEqual([[1750, 270]]);
  });

  it('uses the smallest angle, across north, and counts exactly 90 degrees as within', () => {
    expect(crossings(170, eastbound)).toEqual([[1250, 90]]); // 80 degrees off
    expect(crossings(181, eastbound)).toEqual([]); // 91 degrees off
    expect(crossings(0, eastbound)).toEqual([[1250, 90]]); // exactly 90
    expect(crossings(-10, eastbound)).toEqual([]); // 100 degrees off; a negative direction is read modulo 360
    expect(crossings(405, eastbound)).toEqual([[1250, 90]]); // 45 degrees off
  });

  it('compares across north: a gate facing 350 accepts a car heading 10 and one facing 190 does not', () => {
    const across: LonLat[] = [[-0.0005, 0.00025], [0.0005, 0.00025]];
    const heading10 = [fix(1000, [0, 0]), fix(2000, [0.001 * Math.tan((10 * Math.PI) / 180), 0.001])] as const;
    const at = (directionDeg: number) =>
      segmentEvents(buildGeofenceIndex(course({ gates: [gate('g', across, { directionDeg })] })), ...heading10, new Set());
    const [event] = at(350);
    expect(event).toMatchObject({ type: 'gate.crossed', at: 1250 });
    expect(event?.type === 'gate.crossed' && event.bearingDeg).toBeCloseTo(10, 9);
    expect(at(190)).toEqual([]);
  });
});
