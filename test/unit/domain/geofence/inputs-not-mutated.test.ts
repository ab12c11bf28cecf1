import { describe, expect, it } from 'vitest';
import { stageCourses } from '../../../../src/demo/course.ts';
import { buildGeofenceIndex, segmentEvents, zonesContaining } from '../../../../src/domain/geofence/index.ts';
import { T0, demoStage, driveRoad } from './helpers.ts';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

describe('inputs are not mutated', () => {
  const ss1 = stageCourses.find((stage) => stage.key === 'ss1')!;

  it('leaves the course, the fixes and the zone set as they were (and works on frozen inputs)', () => {
    const course = demoStage(ss1);
    const fixes = driveRoad(ss1, 100, T0);
    const courseBefore = structuredClone(course);
    const fixesBefore = structuredClone(fixes);
    deepFreeze(course);
    deepFreeze(fixes);
    const index = buildGeofenceIndex(course);
    const inside = new Set(zonesContaining(index, fixes[0]!));
    let events = 0;
    for (let i = 1; i < fixes.length; i++) {
      const before = [...inside];
      const out = segmentEvents(index, fixes[i - 1]!, fixes[i]!, inside);
      expect([...inside]).toEqual(before);
      events += out.length;
      for (const e of out) {
        if (e.type === 'zone.entered') inside.add(e.zoneId);
        if (e.type === 'zone.exited') inside.delete(e.zoneId);
      }
    }
    expect(events).toBeGreaterThan(5);
    expect(course).toEqual(courseBefore);
    expect(fixes).toEqual(fixesBefore);
  });

  it('keeps no reference to the course: changing it afterwards does not change the index', () => {
    const course = demoStage(ss1);
    const fixes = driveRoad(ss1, 100, T0);
    const index = buildGeofenceIndex(course);
    const before = segmentEvents(index, fixes[10]!, fixes[11]!, new Set());
    expect(before).toHaveLength(1);
    course.gates[0]!.id = 'renamed';
    course.gates[0]!.line[0]![0] += 1;
    course.gates.length = 0;
    expect(segmentEvents(index, fixes[10]!, fixes[11]!, new Set())).toEqual(before);
  });
});
