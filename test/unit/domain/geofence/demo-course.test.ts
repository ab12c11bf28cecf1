import { describe, expect, it } from 'vitest';
import { roadLengthKm, stageCourses } from '../../../../src/demo/course.ts';
import { buildGeofenceIndex } from '../../../../src/domain/geofence/index.ts';
import { KMH, T0, demoStage, driveRoad, runTrack } from './helpers.ts';

const ss1 = stageCourses.find((stage) => stage.key === 'ss1')!;
const speedKmh = 100;
const timeAtKm = (km: number) => T0 + ((km * 1000) / (speedKmh * KMH.toMetersPerSecond)) * 1000;

describe('demo course SS1, driven along the road at 100 km/h with 1 Hz fixes', () => {
  const course = demoStage(ss1);
  const index = buildGeofenceIndex(course);
  const events = runTrack(index, driveRoad(ss1, speedKmh, T0)).map(({ event }) => event);

  it('crosses start, split and finish once each, in order, within 5 ms of the true times', () => {
    const crossings = events.flatMap((e) => (e.type === 'gate.crossed' ? [e] : []));
    expect(crossings.map((e) => [e.gateId, e.kind])).toEqual([['ss1-start', 'start_line'], ['ss1-split1', 'split_line'], ['ss1-finish', 'finish_line']]);
    const truths = [timeAtKm(ss1.startAtKm), timeAtKm(ss1.splitsAtKm[0]!), timeAtKm(roadLengthKm(ss1) - ss1.finishBeforeEndKm)];
    crossings.forEach((e, i) => expect(Math.abs(e.at - truths[i]!)).toBeLessThanOrEqual(5));
    expect(crossings.map((e) => e.at - T0)).toEqual([10_800, 198_000, Math.round(truths[2]! - T0)]);
    for (const e of crossings) expect(e.speedKmh).toBe(100);
  });

  it('enters and leaves the speed zone once, at 6.2 and 7.2 km', () => {
    const zoneEvents = events.filter((e) => e.type === 'zone.entered' || e.type === 'zone.exited');
    expect(zoneEvents).toEqual([
      { type: 'zone.entered', zoneId: 'ss1-speed', at: timeAtKm(6.2) },
      { type: 'zone.exited', zoneId: 'ss1-speed', at: timeAtKm(7.2) },
    ]);
  });

  it('passes both waypoints, the closest approach at the waypoint time', () => {
    for (const [id, km] of [['ss1-wp1', 3.2], ['ss1-wp2', 8.1]] as const) {
      const passes = events.flatMap((e) => (e.type === 'waypoint.passed' && e.waypointId === id ? [e] : []));
      const closest = passes.reduce((a, b) => (b.distanceMeters < a.distanceMeters ? b : a));
      expect(closest.distanceMeters).toBeLessThan(0.01);
      expect(Math.abs(closest.at - timeAtKm(km))).toBeLessThanOrEqual(5);
    }
  });

  it('lists everything in time order: start, WP1, split, zone, WP2, finish', () => {
    // A waypoint reports once per approaching segment inside its circle; the caller keeps one, so compare subjects.
    const subjects = events.map((e) => {
      switch (e.type) {
        case 'gate.crossed': return e.gateId;
        case 'waypoint.passed': return e.waypointId;
        case 'zone.entered': return `in ${e.zoneId}`;
        case 'zone.exited': return `out ${e.zoneId}`;
      }
    });
    expect(subjects.filter((s, i) => s !== subjects[i - 1])).toEqual(['ss1-start', 'ss1-wp1', 'ss1-split1', 'in ss1-speed', 'out ss1-speed', 'ss1-wp2', 'ss1-finish']);
    expect(events.map((e) => e.at)).toEqual([...events.map((e) => e.at)].sort((a, b) => a - b));
  });

  it('ignores every gate when the road is driven backwards, because the gates have a direction', () => {
    const backwards = driveRoad(ss1, speedKmh, T0).map((f, i, all) => ({ ...all[all.length - 1 - i]!, ts: f.ts }));
    const reversed = runTrack(index, backwards).map(({ event }) => event);
    expect(reversed.filter((e) => e.type === 'gate.crossed')).toEqual([]);
    expect(reversed.filter((e) => e.type === 'zone.entered')).toHaveLength(1);
  });
});
