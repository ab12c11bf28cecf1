import { describe, expect, it } from 'vitest';
import { stageCourses } from '../../../../src/demo/course.ts';
import type { Course, Gate, LonLat } from '../../../../src/domain/course.ts';
import { buildGeofenceIndex, segmentCandidates } from '../../../../src/domain/geofence/index.ts';
import { T0, demoStage, driveRoad, gate, runTrack, square, waypoint, zone } from './helpers.ts';

const ss1 = stageCourses.find((stage) => stage.key === 'ss1')!;

/** 1,000 gates on a 40 x 25 grid 50 km east of the stage (lon -3.75...), each 100 m wide. */
function farGates(): Gate[] {
  return Array.from({ length: 1000 }, (_, i) => {
    const lon = -3.75 + (i % 40) * 0.01;
    const lat = 31.3 + Math.floor(i / 40) * 0.01;
    const line: LonLat[] = [[lon, lat], [lon + 0.001, lat + 0.0005]];
    return gate(`far-${i}`, line, { stageId: 'elsewhere' });
  });
}

describe('the R-tree', () => {
  const plain = demoStage(ss1);
  const crowded: Course = {
    ...plain,
    gates: [...farGates(), ...plain.gates],
    zones: [zone('far-zone', [square([-3.5, 31.5], 0.05)]), ...plain.zones],
    waypoints: [waypoint('far-wp', [-3.6, 31.6], 500), ...plain.waypoints],
  };
  const fixes = driveRoad(ss1, 100, T0);

  it('gives identical events with 1,000 far-away gates added', () => {
    const index = buildGeofenceIndex(crowded);
    expect(index.size).toBe(plain.gates.length + plain.zones.length + plain.waypoints.length + 1002);
    expect(runTrack(index, fixes)).toEqual(runTrack(buildGeofenceIndex(plain), fixes));
  });

  it('tests only the geofences near each segment', () => {
    const index = buildGeofenceIndex(crowded);
    let worst = 0;
    let total = 0;
    for (let i = 1; i < fixes.length; i++) {
      const candidates = segmentCandidates(index, fixes[i - 1]!, fixes[i]!);
      expect(candidates.every((c) => !c.id.startsWith('far'))).toBe(true);
      worst = Math.max(worst, candidates.length);
      total += candidates.length;
    }
    // Near the speed zone a segment can touch the zone's box and a waypoint's circle box at once; never more.
    expect(worst).toBeLessThanOrEqual(2);
    // The corridor box spans ~1 km (37 segments), each waypoint box 180 m (7-8 segments), each gate box ~120 m.
    expect(total).toBeLessThan(80);
  });

  it('finds a far gate when the segment is where it is', () => {
    const index = buildGeofenceIndex(crowded);
    const prev = { ts: T0, lon: -3.75 + 0.0005, lat: 31.3 - 0.001, speedKmh: 80 };
    const cur = { ts: T0 + 1000, lon: -3.75 + 0.0005, lat: 31.3 + 0.001, speedKmh: 80 };
    expect(segmentCandidates(index, prev, cur).map((c) => c.id)).toEqual(['far-0']);
    expect(runTrack(index, [prev, cur]).map(({ event }) => event)).toMatchObject([{ type: 'gate.crossed', gateId: 'far-0', at: T0 + 625 }]);
  });
});
